"""Figure of the calibration check: the reliability diagram (also drawn per subgroup).
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
    finite_points,
    format_number,
    series_colour,
    series_style,
)


def reliability_figure(curves: Mapping[str, Mapping], title: str = "Calibration (reliability diagram)") -> Figure:
    """Reliability diagram: smoothed calibration curve and binned observed rates per dataset,
    the ideal diagonal, and a histogram of predicted risks underneath.

    ``curves`` maps dataset name → ``{"smooth": {"predicted": [...], "observed": [...]},
    "bins": [{"predicted", "observed", "ci": [lo, hi], "n"}], "histogram": {"edges": [...],
    "counts": [...]}, "slope": float | None, "intercept": float | None}``.
    """
    with matplotlib.rc_context(RC):
        legend_rows = len(curves) + 1
        side, left, right, top, hist_h = 3.4, 0.7, 0.25, 0.4, 0.7
        bottom = 0.6 + 0.19 * legend_rows + 0.1
        width, height = left + side + right, bottom + hist_h + 0.15 + side + top
        fig = _MplFigure(figsize=(width, height))
        ax = fig.add_axes((left / width, (bottom + hist_h + 0.15) / height, side / width, side / height))
        hx = fig.add_axes((left / width, bottom / height, side / width, hist_h / height), sharex=ax)
        ax.plot([0, 1], [0, 1], color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9, label="ideal calibration")
        described = []
        for i, (name, c) in enumerate(curves.items()):
            smooth = c.get("smooth") or {}
            px, py = finite_points(smooth.get("predicted"), smooth.get("observed"))
            label = f"{name} (slope {format_number(c.get('slope'), 2)}, intercept {format_number(c.get('intercept'), 2)})"
            if px:
                ax.plot(px, py, color=series_colour(i), linestyle=series_style(i), linewidth=1.8, label=label)
            spline = c.get("spline") or {}
            if spline.get("predicted"):
                ax.fill_between(spline["predicted"], spline["low"], spline["high"], color=series_colour(i), alpha=0.15, linewidth=0)
            bins = c.get("bins") or []
            if bins:
                bx = [b["predicted"] for b in bins]
                by = [b["observed"] for b in bins]
                if all(b.get("ci") for b in bins):
                    err = [[max(0.0, b["observed"] - b["ci"][0]) for b in bins], [max(0.0, b["ci"][1] - b["observed"]) for b in bins]]
                    ax.errorbar(bx, by, yerr=err, fmt="o", markersize=3.5, color=series_colour(i), elinewidth=0.8, capsize=2)
                else:  # points without intervals (survival risk groups: Kaplan–Meier risk by the horizon)
                    ax.plot(bx, by, "o", markersize=3.5, color=series_colour(i))
            hist = c.get("histogram") or {}
            edges, counts = hist.get("edges") or [], hist.get("counts") or []
            if counts:
                total = float(sum(counts)) or 1.0
                hx.stairs([k / total for k in counts], edges, color=series_colour(i), linestyle=series_style(i), linewidth=1.2)
            described.append(label)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_ylabel("Observed proportion")
        ax.set_title(title)
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.tick_params(labelbottom=False)
        hx.set_xlabel("Predicted risk")
        hx.set_ylabel("Share", fontsize=8)
        hx.set_yticks([])
        for a in (ax, hx):
            for spine in ("top", "right"):
                a.spines[spine].set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(left / width, 0.0), frameon=False)
        svg = figure_to_svg(fig)
    alt = (
        f"Reliability diagram for {dataset_count(len(curves))}: observed proportion against predicted risk, "
        f"a lowess-smoothed calibration curve, a shaded confidence band from a spline logistic recalibration, "
        f"and binned observed rates with Wilson intervals per dataset "
        f"({'; '.join(described) or 'none'}); a dashed diagonal marks ideal calibration; a histogram of "
        "predicted risks is drawn underneath."
    )
    return Figure(svg=svg, alt=alt, title="Reliability diagram")
