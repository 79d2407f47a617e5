"""Figure of the utility check: decision curves (net benefit against the threshold probability).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
from matplotlib.figure import Figure as _MplFigure

from ..figure import Figure
from .style import (
    RC,
    REFERENCE_GREY,
    REFERENCE_STYLE,
    dataset_count,
    figure_to_svg,
    series_colour,
    series_style,
)


def decision_curve_figure(curves: Mapping[str, Mapping]) -> Figure:
    """Decision curves: net benefit of the model (with its CI band) and of treating everyone, per
    dataset, and treat-none at 0, against the threshold probability.

    ``curves`` maps dataset name → ``{"thresholds": [...], "model": [estimate...], "treat_all": [estimate...]}``.
    """
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(5.2, 3.9 + 0.19 * (2 * len(curves) + 1)))
        ax = fig.add_axes((0.13, 0.12 + 0.04 * (2 * len(curves) + 1), 0.82, 0.72))
        ax.axhline(0.0, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9, label="treat no one")
        lows = []
        described = []
        for i, (name, c) in enumerate(curves.items()):
            t = list(c.get("thresholds") or [])
            model = [m.get("value") for m in c.get("model", [])]
            everyone = [m.get("value") for m in c.get("treat_all", [])]
            band = [m.get("ci") or [None, None] for m in c.get("model", [])]
            ax.plot(t, model, color=series_colour(i), linestyle=series_style(i), linewidth=1.8, label=f"{name}: model")
            ax.plot(t, everyone, color=series_colour(i), linestyle=(0, (1, 1.5)), linewidth=1.0, label=f"{name}: treat everyone")
            lo = [b[0] if b[0] is not None else float("nan") for b in band]
            hi = [b[1] if b[1] is not None else float("nan") for b in band]
            ax.fill_between(t, lo, hi, color=series_colour(i), alpha=0.15, linewidth=0)
            lows += [v for v in model if v is not None]
            described.append(name)
        top = max([0.05] + lows) * 1.1
        ax.set_ylim(-0.05 * top - 0.01, top)
        ax.set_xlim(0, 1)
        ax.set_xlabel("Threshold probability")
        ax.set_ylabel("Net benefit")
        ax.set_title("Decision curves")
        ax.grid(True, color="#dddddd", linewidth=0.6)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.1, 0.0), frameon=False)
        svg = figure_to_svg(fig)
    alt = (
        f"Decision curves for {dataset_count(len(curves))} ({', '.join(described) or 'none'}): net benefit against "
        "threshold probability for the model (solid, with a shaded confidence band), for treating everyone "
        "(dotted) and for treating no one (dashed grey line at 0)."
    )
    return Figure(svg=svg, alt=alt, title="Decision curves")
