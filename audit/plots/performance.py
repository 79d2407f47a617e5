"""Figures of the performance check: ROC and precision–recall curves, one line per dataset.
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
    finite_or_none,
    finite_points,
    format_number,
    series_colour,
    series_style,
)


def roc_figure(curves: Mapping[str, Mapping]) -> Figure:
    """ROC curves, one line per dataset, with the chance diagonal and AUROC in the legend.

    ``curves`` maps dataset name → ``{"fpr": [...], "tpr": [...], "auroc": float | None}``.
    """
    with matplotlib.rc_context(RC):
        fig, ax = _square_axes(len(curves))
        ax.plot([0, 1], [0, 1], color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9,
                label="chance (AUROC 0.5)")
        described = []
        for i, (name, curve) in enumerate(curves.items()):
            auroc = format_number(curve.get("auroc"))
            fpr, tpr = finite_points(curve.get("fpr"), curve.get("tpr"))
            if fpr:
                ax.plot(fpr, tpr, color=series_colour(i), linestyle=series_style(i), linewidth=1.8,
                        label=f"{name} (AUROC {auroc})", drawstyle="default")
                described.append(f"{name} (AUROC {auroc})")
            else:
                described.append(f"{name} (no curve available, AUROC {auroc})")
        ax.set_xlabel("False positive rate (1 − specificity)")
        ax.set_ylabel("True positive rate (sensitivity)")
        ax.set_title("ROC curve")
        _legend(ax)
        svg = figure_to_svg(fig)
    alt = (
        f"Receiver operating characteristic (ROC) curves, true positive rate against false "
        f"positive rate, for {dataset_count(len(curves))}: {'; '.join(described) or 'none'}. "
        "A dashed grey diagonal marks chance performance (AUROC 0.5)."
    )
    return Figure(svg=svg, alt=alt, title="ROC curve")


def pr_figure(curves: Mapping[str, Mapping]) -> Figure:
    """Precision–recall curves, one line per dataset, with each dataset's prevalence dashed.

    ``curves`` maps dataset name → ``{"recall": [...], "precision": [...], "auprc": float,
    "prevalence": float}``. The prevalence line is the precision of a model with no skill.
    """
    with matplotlib.rc_context(RC):
        fig, ax = _square_axes(len(curves))
        described = []
        for i, (name, curve) in enumerate(curves.items()):
            auprc = format_number(curve.get("auprc"))
            prevalence = finite_or_none(curve.get("prevalence"))
            recall, precision = finite_points(curve.get("recall"), curve.get("precision"))
            label = f"{name} (AUPRC {auprc}, prevalence {format_number(prevalence)})"
            if recall:
                ax.plot(recall, precision, color=series_colour(i), linestyle=series_style(i), linewidth=1.8,
                        label=label)
                described.append(f"{name} (AUPRC {auprc}, prevalence {format_number(prevalence)})")
            else:
                described.append(
                    f"{name} (no curve available, AUPRC {auprc}, prevalence {format_number(prevalence)})"
                )
            if prevalence is not None:
                ax.axhline(prevalence, color=series_colour(i), linestyle=REFERENCE_STYLE, linewidth=0.9,
                           alpha=0.9)
        ax.set_xlabel("Recall (sensitivity)")
        ax.set_ylabel("Precision (positive predictive value)")
        ax.set_title("Precision–recall curve")
        _legend(ax)
        svg = figure_to_svg(fig)
    alt = (
        f"Precision–recall curves, precision against recall, for {dataset_count(len(curves))}: "
        f"{'; '.join(described) or 'none'}. A thin dashed horizontal line in each dataset's "
        "colour marks its prevalence, the precision of a model with no skill."
    )
    return Figure(svg=svg, alt=alt, title="Precision–recall curve")


def _square_axes(n_lines: int) -> tuple[_MplFigure, object]:
    """A figure with square 0..1 axes and room below for a legend of ``n_lines`` + 1 rows.

    The layout is fixed in inches (no layout engine), and the saved figure is trimmed to its
    contents, so long dataset names widen the image instead of being cut off.
    """
    legend_rows = n_lines + 1
    side, left, right, top = 3.4, 0.7, 0.25, 0.4
    bottom = 0.6 + 0.19 * legend_rows + 0.1
    width, height = left + side + right, bottom + side + top
    fig = _MplFigure(figsize=(width, height))
    ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig, ax


def _legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=1,
                  frameon=False, handlelength=3.2)
