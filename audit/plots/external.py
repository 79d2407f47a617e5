"""Figures of the external-validation check: gaps, shift per feature, predicted-risk distributions.

Same conventions as :mod:`audit.plots.style` (deterministic SVG, Okabe–Ito colours plus line styles or
marker shapes so greyscale prints stay readable, alt text that states the numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure as _MplFigure

from ..figure import Figure
from ..labels import SHORT_METRIC_LABELS
from .style import (
    RC,
    REFERENCE_GREY,
    REFERENCE_STYLE,
    confidence_words,
    figure_to_svg,
    finite_or_none,
    format_number,
    series_colour,
    series_style,
)

#: Differences on the probability scale and on the logit scale get their own panels.
CALIBRATION_METRICS = ("calibration_intercept", "calibration_slope")
_MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def gap_figure(gaps: Mapping[str, Mapping[str, Mapping]], confidence: float = 0.95) -> Figure:
    """Forest plot of external − internal differences with CIs, one marker per external dataset.

    ``gaps`` maps dataset → metric → ``{"difference": estimate, ...}`` (the check's ``gaps``).
    """
    names = list(gaps)
    metrics: list[str] = []
    for g in gaps.values():
        metrics += [m for m in g if m not in metrics]
    panels = [p for p in ([m for m in metrics if m not in CALIBRATION_METRICS], [m for m in metrics if m in CALIBRATION_METRICS]) if p]
    described = []
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(7.2, 0.5 + 0.32 * len(metrics) * max(1, len(names)) ** 0.5 + 0.6 * len(panels)))
        axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=[len(p) for p in panels])[:, 0]
        step = 0.6 / max(1, len(names))
        for ax, panel in zip(axes, panels):
            ax.axvline(0, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9)
            for i, name in enumerate(names):
                offset = (i - (len(names) - 1) / 2) * step
                for row, metric in enumerate(panel):
                    d = (gaps[name].get(metric) or {}).get("difference") or {}
                    value, ci = finite_or_none(d.get("value")), d.get("ci")
                    if value is None:
                        continue
                    y = row + offset
                    if ci and finite_or_none(ci[0]) is not None and finite_or_none(ci[1]) is not None:
                        ax.plot([ci[0], ci[1]], [y, y], color=series_colour(i), linestyle=series_style(i), linewidth=1.6)
                        described.append(f"{name} {SHORT_METRIC_LABELS.get(metric, metric)} {value:+.3f} ({ci[0]:+.3f} to {ci[1]:+.3f})")
                    ax.plot([value], [y], marker=_MARKERS[i % len(_MARKERS)], color=series_colour(i), markersize=5,
                            linestyle="none", label=name if row == 0 else None)
            ax.set_yticks(range(len(panel)), [SHORT_METRIC_LABELS.get(m, m) for m in panel])
            ax.set_ylim(len(panel) - 0.5, -0.5)
            ax.grid(axis="x", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
        axes[-1].set_xlabel(f"Difference, external − internal ({confidence_words(confidence)} CI)")
        axes[0].set_title("How the external datasets differ from the internal test set")
        if len(names) > 1:
            axes[0].legend(loc="best", frameon=False)
        fig.tight_layout()
        svg = figure_to_svg(fig)
    alt = ("Forest plot of the difference external minus internal for each metric, with confidence intervals; "
           "a dashed line marks no difference. " + "; ".join(described) + ".")
    return Figure(svg=svg, alt=alt, title="External − internal differences")


def shift_figure(shift: Mapping[str, Mapping], top: int = 10) -> Figure:
    """Per-feature shift for each external dataset: the domain classifier's permutation importance
    (± SD) beside each feature's population stability index, top features first.

    ``shift`` maps dataset → ``{"covariate_shift": [...], "domain_classifier": {...}}``.
    """
    names = list(shift)
    described = []
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(7.2, 0.9 + 0.24 * top * len(names)))
        axes = fig.subplots(len(names), 2, squeeze=False, sharey="row")
        for r, name in enumerate(names):
            entry = shift[name]
            importance = {f["feature"]: f for f in (entry.get("domain_classifier") or {}).get("top_features") or []}
            psi = {c["feature"]: c.get("psi") for c in entry.get("covariate_shift") or []}
            order = list(importance) or sorted(psi, key=lambda f: -(finite_or_none(psi[f]) or 0))
            order = order[:top]
            y = np.arange(len(order))
            imp = [finite_or_none(importance.get(f, {}).get("importance")) or 0.0 for f in order]
            sd = [finite_or_none(importance.get(f, {}).get("sd")) or 0.0 for f in order]
            ps = [finite_or_none(psi.get(f)) or 0.0 for f in order]
            a, b = axes[r]
            a.barh(y, imp, xerr=sd, color=series_colour(0), height=0.6, error_kw={"linewidth": 0.8})
            b.barh(y, ps, color=series_colour(1), height=0.6, hatch="//", edgecolor="white", linewidth=0)
            b.axvline(0.25, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9)
            a.set_yticks(y, [str(f) for f in order])
            a.set_ylim(len(order) - 0.5, -0.5)
            a.set_title(f"{name}: domain classifier importance", fontsize=9)
            b.set_title(f"{name}: population stability index", fontsize=9)
            for ax in (a, b):
                ax.grid(axis="x", color="#dddddd", linewidth=0.6)
                ax.set_axisbelow(True)
            described.append(f"{name}: " + ", ".join(f"{f} (importance {format_number(i, 3)}, PSI {format_number(p, 2)})" for f, i, p in zip(order[:5], imp, ps)))
        axes[-1][0].set_xlabel("Drop in domain AUROC when shuffled")
        axes[-1][1].set_xlabel("PSI (dashed: 0.25, a major shift)")
        fig.tight_layout()
        svg = figure_to_svg(fig)
    alt = ("Bar charts of the features that separate each external dataset from the internal test set: permutation importance "
           "in a classifier that tells them apart, and each feature's population stability index. " + "; ".join(described) + ".")
    return Figure(svg=svg, alt=alt, title="Which features shifted")


def risk_distribution_figure(predictions: Mapping[str, Sequence[float]], bins: int = 20) -> Figure:
    """Predicted-risk distributions overlaid: one step histogram (share of patients) per dataset."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    described = []
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(6.0, 3.2))
        ax = fig.subplots()
        for i, (name, p) in enumerate(predictions.items()):
            p = np.asarray(p, dtype=float)
            share = np.histogram(p, edges)[0] / max(p.size, 1)
            ax.stairs(share, edges, color=series_colour(i), linestyle=series_style(i), linewidth=1.8, label=f"{name} (n = {p.size:,})")
            described.append(f"{name}: mean {p.mean():.2f}, median {np.median(p):.2f}")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Predicted probability of the outcome")
        ax.set_ylabel("Share of patients")
        ax.set_title("Predicted-risk distributions")
        ax.legend(loc="best", frameon=False)
        fig.tight_layout()
        svg = figure_to_svg(fig)
    alt = "Overlaid histograms of predicted risk per dataset: " + "; ".join(described) + "."
    return Figure(svg=svg, alt=alt, title="Predicted-risk distributions")
