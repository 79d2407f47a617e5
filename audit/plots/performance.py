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


def confusion_figure(matrices: Mapping[str, Mapping]) -> Figure:
    """Row-normalised confusion matrices (true class × decided class), one panel per dataset, each cell
    annotated with its share of the row and its count.

    ``matrices`` maps dataset name → ``{"labels": [...], "counts": [[...]], "row_normalised": [[...]]}``.
    """
    import numpy as np

    names = list(matrices)
    k = len(next(iter(matrices.values()))["labels"]) if names else 0
    side = min(max(2.6, 0.42 * k + 1.0), 6.0)
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(side * max(len(names), 1) + 0.4, side + 0.7))
        axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
        described = []
        for ax, name in zip(axes, names):
            m = matrices[name]
            labels = [str(label) for label in m["labels"]]
            shares = np.array([[np.nan if v is None else v for v in row] for row in m["row_normalised"]], dtype=float)
            counts = np.asarray(m["counts"])
            ax.imshow(np.nan_to_num(shares, nan=0.0), cmap="Blues", vmin=0.0, vmax=1.0)
            if k <= 12:
                for i in range(k):
                    for j in range(k):
                        share = shares[i, j]
                        text = "–" if not np.isfinite(share) else f"{share:.2f}\n{counts[i, j]}"
                        ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                                color="white" if np.isfinite(share) and share > 0.6 else "#222222")
            ax.set_xticks(range(k), labels, fontsize=7, rotation=90 if k > 6 else 0)
            ax.set_yticks(range(k), labels, fontsize=7)
            ax.set_xlabel("Decided class (most probable)")
            ax.set_ylabel("True class")
            ax.set_title(name)
            diagonal = [f"{labels[i]} {format_number(shares[i, i], 2)}" for i in range(k) if np.isfinite(shares[i, i])]
            described.append(f"{name}: share of each true class decided correctly: {', '.join(diagonal) or 'none'}")
        fig.subplots_adjust(left=0.12, right=0.98, bottom=0.2, top=0.9, wspace=0.35)
        svg = figure_to_svg(fig)
    alt = ("Confusion matrices, rows the true class and columns the decided (most probable) class, each cell the share "
           f"of its row with the count below it, for {dataset_count(len(names))}. " + "; ".join(described) + ".")
    return Figure(svg=svg, alt=alt, title="Confusion matrix")


def case_distribution_figure(values: Mapping[str, Mapping[str, list]], metric: str, label: str) -> Figure:
    """Box plots of a per-case metric, one panel per structure, one box per dataset, the cases as points.

    ``values`` maps structure → dataset → the counted cases' values (missed and false-positive structures included
    at their policy values, cases with the structure in neither mask left out).
    """
    structures = list(values)
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(2.2 + 2.4 * len(structures), 3.4))
        axes = fig.subplots(1, len(structures), squeeze=False)[0]
        described = []
        for ax, s in zip(axes, structures):
            names = list(values[s])
            data = [[v for v in values[s][n] if v is not None] for n in names]
            ax.boxplot([d if d else [float("nan")] for d in data], showfliers=False, widths=0.5)
            for i, d in enumerate(data):
                jitter = [(i + 1) + 0.18 * (((k * 7919) % 17) / 16 - 0.5) for k in range(len(d))]
                ax.scatter(jitter, d, s=8, color=series_colour(i), alpha=0.6, linewidths=0)
                if d:
                    d_sorted = sorted(d)
                    described.append(f"{s}, {names[i]}: median {format_number(d_sorted[len(d) // 2])} over {len(d)} cases")
            ax.set_xticks(range(1, len(names) + 1), names)
            ax.set_title(s)
            ax.set_ylabel(label)
        svg = figure_to_svg(fig)
    alt = f"Box plots of {label} per case, by structure and dataset: {'; '.join(described) or 'no cases'}."
    return Figure(svg=svg, alt=alt, title=f"{label} per case")
