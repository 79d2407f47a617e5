"""Figures for the report: matplotlib → deterministic, self-contained SVG strings.

Plots are drawn with matplotlib's object-oriented API (``matplotlib.figure.Figure`` rendered
by the non-interactive SVG canvas), never through ``pyplot``: no GUI backend is touched, no
global figure registry keeps figures alive, and drawing works headless and in threads.

Every SVG is byte-identical across runs: the id hash salt is fixed, the date and creator
metadata are dropped, and text is drawn as glyph paths (no fonts, no external references).

Colours are the Okabe–Ito colour-blind-safe palette and each dataset also gets its own line
style, so a greyscale print still tells the lines apart.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure as _MplFigure

from audit.checks.base import Figure

__all__ = ["OKABE_ITO", "LINE_STYLES", "figure_to_svg", "roc_figure", "pr_figure"]

#: Okabe & Ito (2008), "Color Universal Design", without yellow (too pale on white paper).
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
)

#: One per dataset, so lines differ in greyscale too. Plain dashes ("--") are kept for the
#: reference lines (chance diagonal, prevalence) so they never look like a dataset's curve.
LINE_STYLES: tuple[object, ...] = (
    "solid",
    (0, (6, 1.5, 1.5, 1.5)),  # dash-dot
    (0, (1, 1.2)),  # dotted
    (0, (8, 1.5, 1.5, 1.5, 1.5, 1.5)),  # dash-dot-dot
    (0, (3, 1)),  # densely dashed
    (0, (10, 2)),  # long dash
    (0, (1, 2.5)),  # loosely dotted
)

_REFERENCE_STYLE = (0, (4, 3))
_REFERENCE_GREY = "#777777"

_RC = {
    "svg.hashsalt": "trustaudit",  # deterministic clip-path / glyph ids
    "svg.fonttype": "path",  # glyphs as paths: no font needed where the SVG is shown
    "font.family": "DejaVu Sans",  # ships with matplotlib, so output is the same everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "path.simplify": True,
}

_SVG_METADATA = {"Date": None, "Creator": None}
_DOCTYPE = re.compile(r"<!DOCTYPE[^>]*>\s*")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


def figure_to_svg(fig: _MplFigure) -> str:
    """Render a matplotlib figure to a deterministic SVG string and release its contents."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata=_SVG_METADATA, bbox_inches="tight",
                    pad_inches=0.08)
    fig.clear()
    return _strip_external_identifiers(buffer.getvalue())


def _strip_external_identifiers(svg: str) -> str:
    """Drop the DOCTYPE (which names an external DTD) and the RDF metadata block.

    What remains refers to nothing outside the file: only XML namespace names, which are
    identifiers that are never fetched, and ``#id`` references to the file's own defs.
    """
    svg = _DOCTYPE.sub("", svg, count=1)
    return _METADATA.sub("", svg, count=1)


def roc_figure(curves: Mapping[str, Mapping]) -> Figure:
    """ROC curves, one line per dataset, with the chance diagonal and AUROC in the legend.

    ``curves`` maps dataset name → ``{"fpr": [...], "tpr": [...], "auroc": float | None}``.
    """
    with matplotlib.rc_context(_RC):
        fig, ax = _square_axes(len(curves))
        ax.plot([0, 1], [0, 1], color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=0.9,
                label="chance (AUROC 0.5)")
        described = []
        for i, (name, curve) in enumerate(curves.items()):
            auroc = _fmt(curve.get("auroc"))
            fpr, tpr = _xy(curve.get("fpr"), curve.get("tpr"))
            if fpr:
                ax.plot(fpr, tpr, color=_colour(i), linestyle=_style(i), linewidth=1.8,
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
        f"positive rate, for {_count(len(curves))}: {'; '.join(described) or 'none'}. "
        "A dashed grey diagonal marks chance performance (AUROC 0.5)."
    )
    return Figure(svg=svg, alt=alt, title="ROC curve")


def pr_figure(curves: Mapping[str, Mapping]) -> Figure:
    """Precision–recall curves, one line per dataset, with each dataset's prevalence dashed.

    ``curves`` maps dataset name → ``{"recall": [...], "precision": [...], "auprc": float,
    "prevalence": float}``. The prevalence line is the precision of a model with no skill.
    """
    with matplotlib.rc_context(_RC):
        fig, ax = _square_axes(len(curves))
        described = []
        for i, (name, curve) in enumerate(curves.items()):
            auprc = _fmt(curve.get("auprc"))
            prevalence = _finite(curve.get("prevalence"))
            recall, precision = _xy(curve.get("recall"), curve.get("precision"))
            label = f"{name} (AUPRC {auprc}, prevalence {_fmt(prevalence)})"
            if recall:
                ax.plot(recall, precision, color=_colour(i), linestyle=_style(i), linewidth=1.8,
                        label=label)
                described.append(f"{name} (AUPRC {auprc}, prevalence {_fmt(prevalence)})")
            else:
                described.append(
                    f"{name} (no curve available, AUPRC {auprc}, prevalence {_fmt(prevalence)})"
                )
            if prevalence is not None:
                ax.axhline(prevalence, color=_colour(i), linestyle=_REFERENCE_STYLE, linewidth=0.9,
                           alpha=0.9)
        ax.set_xlabel("Recall (sensitivity)")
        ax.set_ylabel("Precision (positive predictive value)")
        ax.set_title("Precision–recall curve")
        _legend(ax)
        svg = figure_to_svg(fig)
    alt = (
        f"Precision–recall curves, precision against recall, for {_count(len(curves))}: "
        f"{'; '.join(described) or 'none'}. A thin dashed horizontal line in each dataset's "
        "colour marks its prevalence, the precision of a model with no skill."
    )
    return Figure(svg=svg, alt=alt, title="Precision–recall curve")


# ----------------------------------------------------------------------------- helpers


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


def _xy(x: Sequence[float] | None, y: Sequence[float] | None) -> tuple[list[float], list[float]]:
    """Paired finite points; empty when the curve is missing or undefined."""
    if not x or not y or len(x) != len(y):
        return [], []
    points = [(float(a), float(b)) for a, b in zip(x, y)
              if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    return [p[0] for p in points], [p[1] for p in points]


def _finite(x: object) -> float | None:
    try:
        value = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _fmt(x: object, digits: int = 3) -> str:
    value = _finite(x)
    return "n/a" if value is None else f"{value:.{digits}f}"


def _colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def _style(i: int) -> object:
    return LINE_STYLES[i % len(LINE_STYLES)]


def _count(n: int) -> str:
    return "1 dataset" if n == 1 else f"{n} datasets"
