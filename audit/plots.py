"""Figures for the report: matplotlib → deterministic, self-contained SVG strings.

Plots are drawn with matplotlib's object-oriented API (``matplotlib.figure.Figure`` rendered
by the non-interactive SVG canvas), never through ``pyplot``: no GUI backend is touched, no
global figure registry keeps figures alive, and drawing works headless and in threads.

Every SVG is byte-identical across runs: the id hash salt is fixed, the date and creator
metadata are dropped, and nothing outside the file is referenced. Labels stay ``<text>`` (searchable
and selectable, in the browser and in the PDF) in DejaVu Sans, the font their widths are measured
with, falling back to fonts as wide or narrower (Verdana, Arial) and finally to any sans-serif.

Colours are the Okabe–Ito colour-blind-safe palette and each dataset also gets its own line
style, so a greyscale print still tells the lines apart. In the subgroup forest plot, groups
without enough evidence to be judged are hollow grey markers on dotted lines, so they read
differently in greyscale too.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure as _MplFigure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.textpath import TextToPath

from audit.figure import Figure
from audit.labels import SHORT_METRIC_LABELS, perturbation_label

__all__ = [
    "OKABE_ITO",
    "LINE_STYLES",
    "FOREST_METRIC_LABELS",
    "figure_to_svg",
    "roc_figure",
    "pr_figure",
    "forest_figure",
    "coverage_figure",
]

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
    "svg.fonttype": "none",  # text stays text: searchable, selectable, and quicker to lay out in a PDF than glyph paths
    "font.family": "DejaVu Sans",  # ships with matplotlib, so output is the same everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "path.simplify": True,
}

_SVG_METADATA = {"Date": None, "Creator": None}
_DOCTYPE = re.compile(r"<!DOCTYPE[^>]*>\s*")
#: DejaVu Sans is what label widths are measured with; where it is not installed, the fallbacks
#: are as wide (Verdana) or narrower (Arial, Helvetica), so no label outgrows its space. They are
#: added to the written SVG, not to font.family: matplotlib would look each one up here, warn for
#: every one not installed, and expand sans-serif into its own list.
_FONT_FAMILY = "font-family: 'DejaVu Sans'"
_FONT_STACK = "font-family: 'DejaVu Sans', 'Bitstream Vera Sans', Verdana, Arial, Helvetica, sans-serif"
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


#: Longest text drawn in a figure: a longer label (a group name, a dataset name) is cut to this many
#: characters with an ellipsis; tables and results.json keep the full text.
MAX_LABEL = 60


def short_label(text: str, limit: int = MAX_LABEL) -> str:
    """``text`` cut to ``limit`` characters, the last an ellipsis, when longer."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shorten_texts(fig: _MplFigure) -> None:
    """Cut every text of ``fig`` longer than ``MAX_LABEL`` (laying out a 400,000-character label took 17 s)."""
    from matplotlib.text import Text

    for artist in fig.findobj(Text):
        text = artist.get_text()
        if len(text) > MAX_LABEL:
            artist.set_text(short_label(text))


def figure_to_svg(fig: _MplFigure) -> str:
    """Render a matplotlib figure to a deterministic SVG string and release its contents."""
    _shorten_texts(fig)
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
    return _METADATA.sub("", svg, count=1).replace(_FONT_FAMILY, _FONT_STACK)


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


#: Panel titles of the forest plot: short, but never a bare abbreviation a clinician must guess.
FOREST_METRIC_LABELS: dict[str, str] = SHORT_METRIC_LABELS

_FOREST_INK = "#222222"  # judged groups: dark CI line, filled marker
_FOREST_POINT = OKABE_ITO[0]
_FOREST_REF_POINT = OKABE_ITO[1]  # the partition's reference group: a filled square
_FOREST_GREY = "#8c8c8c"  # insufficient evidence: hollow grey marker, dotted grey line
_FOREST_BAND = "#f2f2f2"
_FOREST_COLUMNS = 5
_FOREST_ROW = 0.2  # inches per row of labels
_FOREST_PANEL = 1.4  # panel width, inches
_FOREST_GAP = 0.26
_INSUFFICIENT = "insufficient evidence"


def forest_figure(
    partitions: Sequence[Mapping],
    metrics: Sequence[str],
    dataset: str,
    reference_value: Mapping[str, object] | None = None,
    *,
    confidence: float | None = 0.95,
) -> Figure:
    """Forest plot of subgroup estimates: one panel per metric, groups as rows.

    ``partitions`` are the fairness check's partitions for one dataset (each with ``name``,
    ``reference`` and ``groups``; each group with ``label``, ``status``, ``reason``, ``n`` and
    ``metrics.<metric>`` as ``{"value", "ci", ...}``). Groups are listed under a bold header
    per partition; a dot marks the estimate and a horizontal line its confidence interval;
    the partition's reference group is a square and labelled "(ref.)". Groups with status
    "insufficient evidence" are hollow grey on a dotted line (not judged); an estimate that is
    null is not drawn and its row reads "n/a" in that panel.

    ``reference_value`` maps metric → its value on the whole dataset (a number or an estimate
    dict); each panel draws it as a dashed vertical line, so a group is compared with everyone
    rather than with one other group. Panels are laid out up to five per row and share the
    group axis. ``confidence`` only names the interval level in the legend and alt text.
    """
    metrics = list(metrics)
    reference_value = reference_value or {}
    rows = _forest_rows(partitions)
    level = _level(confidence)
    ci_words = f"{level} confidence interval" if level else "confidence interval"

    with matplotlib.rc_context(_RC):
        fig = _forest_draw(rows, metrics, reference_value, level)
        svg = figure_to_svg(fig)

    groups = [r for r in rows if r["kind"] == "group"]
    names = [str(p.get("name")) for p in partitions]
    labels = [_forest_label(m) for m in metrics]
    insufficient = [
        f"{r['partition']}: {r['label']}" + (f" ({r['reason']})" if r["reason"] else "")
        for r in groups if r["insufficient"]
    ]
    missing = []
    for r in groups:
        absent = [_forest_label(m) for m in metrics if _finite(_value(r["metrics"].get(m))) is None]
        if absent:
            missing.append(f"{r['partition']}: {r['label']} ({', '.join(absent)})")
    alt = (
        f"Forest plot of subgroup estimates on dataset {dataset}: "
        f"{len(metrics)} metric{'s' if len(metrics) != 1 else ''} ({', '.join(labels) or 'none'}) "
        f"for {len(groups)} group{'s' if len(groups) != 1 else ''} in {len(partitions)} "
        f"partition{'s' if len(partitions) != 1 else ''} ({', '.join(names) or 'none'}). "
        f"Each dot is a group's estimate and its horizontal line the {ci_words}; "
        "each partition's reference group is a square marked (ref.). "
    )
    if any(_finite(_value(reference_value.get(m))) is not None for m in metrics):
        alt += "A dashed vertical line in each panel marks the metric's value on the whole dataset. "
    if insufficient:
        alt += ("Marked insufficient evidence, drawn hollow in grey and not judged: "
                + "; ".join(insufficient) + ". ")
    else:
        alt += "No group is marked insufficient evidence. "
    if missing:
        alt += "Not estimable, shown as n/a: " + "; ".join(missing) + "."
    return Figure(svg=svg, alt=alt.strip(), title=f"Subgroup estimates — {dataset}")


def _forest_rows(partitions: Sequence[Mapping]) -> list[dict]:
    """One header row per partition, then one row per group, top to bottom."""
    rows: list[dict] = []
    for i, partition in enumerate(partitions):
        name = str(partition.get("name", ""))
        reference = partition.get("reference")
        rows.append({"kind": "header", "text": short_label(name), "block": i})
        for group in partition.get("groups") or []:
            label = str(group.get("label", ""))
            is_ref = reference is not None and label == str(reference)
            rows.append({
                "kind": "group",
                "text": short_label(label) + (" (ref.)" if is_ref else ""),
                "label": label,
                "partition": name,
                "block": i,
                "reference": is_ref,
                "insufficient": str(group.get("status")) == _INSUFFICIENT,
                "reason": group.get("reason"),
                "metrics": group.get("metrics") or {},
            })
    return rows


def _forest_draw(rows: list[dict], metrics: list[str], reference_value: Mapping, level: str) -> _MplFigure:
    """Lay the panels out in inches (no layout engine), so the drawing is fast and stable."""
    n_rows = max(len(rows), 1)
    ncols = max(1, min(_FOREST_COLUMNS, len(metrics)))
    nrows = max(1, math.ceil(len(metrics) / ncols))

    label_w = _forest_label_width(rows)
    panel_h = n_rows * _FOREST_ROW + 0.2
    title_h, axis_h, legend_h, pad = 0.3, 0.35, 0.4, 0.08
    block_h = title_h + panel_h + axis_h
    width = pad + label_w + ncols * _FOREST_PANEL + (ncols - 1) * _FOREST_GAP + pad
    height = legend_h + nrows * block_h + pad
    fig = _MplFigure(figsize=(width, height))
    ylim = (-(n_rows - 1) - 0.6, 0.6)

    shared = None
    for k in range(max(len(metrics), 1)):
        r, c = divmod(k, ncols)
        bottom = height - legend_h - r * block_h - title_h - panel_h
        if c == 0:
            lab = fig.add_axes(((pad) / width, bottom / height, label_w / width, panel_h / height),
                               sharey=shared)
            shared = shared or lab
            _forest_labels(lab, rows, label_w, ylim)
        left = pad + label_w + c * (_FOREST_PANEL + _FOREST_GAP)
        ax = fig.add_axes((left / width, bottom / height, _FOREST_PANEL / width, panel_h / height),
                          sharey=shared)
        if metrics:
            _forest_panel(ax, rows, metrics[k], _finite(_value(reference_value.get(metrics[k]))))
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no metrics", ha="center", va="center", transform=ax.transAxes,
                    color=_FOREST_GREY, parse_math=False)
        ax.set_ylim(*ylim)

    handles = [
        Line2D([], [], color=_FOREST_INK, marker="o", markersize=5, markerfacecolor=_FOREST_POINT,
               markeredgecolor=_FOREST_POINT, linewidth=1.4,
               label=f"estimate ({level} CI)" if level else "estimate (CI)"),
        Line2D([], [], color=_FOREST_INK, marker="s", markersize=5, markerfacecolor=_FOREST_REF_POINT,
               markeredgecolor=_FOREST_REF_POINT, linewidth=1.4, label="reference group (ref.)"),
        Line2D([], [], color=_FOREST_GREY, marker="o", markersize=5, markerfacecolor="white",
               markeredgecolor=_FOREST_GREY, linewidth=1.2, linestyle=(0, (1, 1.5)),
               label="insufficient evidence (not judged)"),
    ]
    if any(_finite(_value(reference_value.get(m))) is not None for m in metrics):
        handles.append(Line2D([], [], color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=1.0,
                              label="whole dataset"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(pad / width, 1.0), ncols=len(handles),
               frameon=False, handlelength=2.6, borderaxespad=0.2, columnspacing=1.6)
    return fig


def _forest_label_width(rows: list[dict]) -> float:
    """Inches needed by the longest row label, measured with the font the SVG will use."""
    widest = 40.0
    for row in rows:
        prop = FontProperties(family=_RC["font.family"], size=_RC["font.size"],
                              weight="bold" if row["kind"] == "header" else "normal")
        w, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(row["text"] or " ", prop, ismath=False)
        widest = max(widest, w + (0 if row["kind"] == "header" else _INDENT))
    return (widest + 10) / 72


_TEXT_TO_PATH = TextToPath()
_INDENT = 9.0  # points: group labels sit under their bold partition header


def _forest_labels(ax, rows: list[dict], label_w: float, ylim: tuple[float, float]) -> None:
    ax.set_axis_off()
    ax.set_xlim(0, label_w * 72)
    ax.set_ylim(*ylim)
    _forest_bands(ax, rows)
    for i, row in enumerate(rows):
        header = row["kind"] == "header"
        colour = _FOREST_GREY if row.get("insufficient") else _FOREST_INK
        ax.text(0 if header else _INDENT, -i, row["text"], ha="left", va="center", color=colour,
                fontweight="bold" if header else "normal", parse_math=False, clip_on=False)


def _forest_panel(ax, rows: list[dict], metric: str, overall: float | None) -> None:
    judged: dict[str, list] = {"y": [], "x": [], "lo": [], "hi": [], "ci_y": []}
    refs: dict[str, list] = {"y": [], "x": []}
    grey: dict[str, list] = {"y": [], "x": [], "lo": [], "hi": [], "ci_y": []}
    na_rows, extent = [], [] if overall is None else [overall]
    for i, row in enumerate(rows):
        if row["kind"] != "group":
            continue
        estimate = row["metrics"].get(metric)
        value = _finite(_value(estimate))
        if value is None:
            na_rows.append(-i)
            continue
        bucket = grey if row["insufficient"] else judged
        ci = _ci_pair(estimate)
        if ci is not None:
            bucket["ci_y"].append(-i)
            bucket["lo"].append(ci[0])
            bucket["hi"].append(ci[1])
            extent += ci
        if row["reference"] and not row["insufficient"]:
            refs["y"].append(-i)
            refs["x"].append(value)
        else:
            bucket["y"].append(-i)
            bucket["x"].append(value)
        extent.append(value)

    lo, hi = _forest_xlim(extent)
    ax.set_xlim(lo, hi)
    _forest_bands(ax, rows)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if overall is not None:
        ax.axvline(overall, color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=1.0, zorder=1)
    if grey["ci_y"]:
        ax.hlines(grey["ci_y"], grey["lo"], grey["hi"], color=_FOREST_GREY, linewidth=1.2,
                  linestyle=(0, (1, 1.5)), zorder=2)
    if judged["ci_y"]:
        ax.hlines(judged["ci_y"], judged["lo"], judged["hi"], color=_FOREST_INK, linewidth=1.4, zorder=2)
    if grey["x"]:
        ax.plot(grey["x"], grey["y"], linestyle="none", marker="o", markersize=5, markerfacecolor="white",
                markeredgecolor=_FOREST_GREY, markeredgewidth=1.2, zorder=3)
    if judged["x"]:
        ax.plot(judged["x"], judged["y"], linestyle="none", marker="o", markersize=5,
                markerfacecolor=_FOREST_POINT, markeredgecolor=_FOREST_POINT, zorder=3)
    if refs["x"]:
        ax.plot(refs["x"], refs["y"], linestyle="none", marker="s", markersize=5,
                markerfacecolor=_FOREST_REF_POINT, markeredgecolor=_FOREST_REF_POINT, zorder=3)
    for y in na_rows:
        ax.text((lo + hi) / 2, y, "n/a", ha="center", va="center", color=_FOREST_GREY, fontsize=8,
                fontstyle="italic", parse_math=False)
    ax.set_title(_forest_label(metric), fontsize=9, parse_math=False)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", labelsize=7.5)
    for spine in ("top", "right", "left"):
        ax.spines[spine].set_visible(False)


def _forest_bands(ax, rows: list[dict]) -> None:
    """A light band behind every second partition, so the eye keeps rows in their block."""
    blocks: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        blocks.setdefault(row["block"], []).append(-i)
    for b, ys in blocks.items():
        if b % 2:
            ax.axhspan(min(ys) - 0.5, max(ys) + 0.5, color=_FOREST_BAND, linewidth=0, zorder=0)


def _forest_xlim(extent: list[float]) -> tuple[float, float]:
    """Data range with a margin; estimates here are proportions, so stay near [0, 1]."""
    if not extent:
        return 0.0, 1.0
    lo, hi = min(extent), max(extent)
    span = max(hi - lo, 0.1)
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    if min(extent) >= 0:
        lo = max(lo, -0.02)
    if max(extent) <= 1:
        hi = min(hi, 1.02)
    return lo, hi


def _forest_label(metric: str) -> str:
    return FOREST_METRIC_LABELS.get(metric, str(metric).replace("_", " ").capitalize())


def _value(estimate: object) -> object:
    """The value of an estimate dict, or the number itself."""
    return estimate.get("value") if isinstance(estimate, Mapping) else estimate


def _ci_pair(estimate: object) -> list[float] | None:
    ci = estimate.get("ci") if isinstance(estimate, Mapping) else None
    if not ci or len(ci) != 2:
        return None
    lo, hi = _finite(ci[0]), _finite(ci[1])
    return None if lo is None or hi is None else [lo, hi]


def _level(confidence: object) -> str:
    value = _finite(confidence)
    return "" if value is None else f"{round(value * 100, 6):g}%"


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


def reliability_figure(curves: Mapping[str, Mapping]) -> Figure:
    """Reliability diagram: smoothed calibration curve and binned observed rates per dataset,
    the ideal diagonal, and a histogram of predicted risks underneath.

    ``curves`` maps dataset name → ``{"smooth": {"predicted": [...], "observed": [...]},
    "bins": [{"predicted", "observed", "ci": [lo, hi], "n"}], "histogram": {"edges": [...],
    "counts": [...]}, "slope": float | None, "intercept": float | None}``.
    """
    with matplotlib.rc_context(_RC):
        legend_rows = len(curves) + 1
        side, left, right, top, hist_h = 3.4, 0.7, 0.25, 0.4, 0.7
        bottom = 0.6 + 0.19 * legend_rows + 0.1
        width, height = left + side + right, bottom + hist_h + 0.15 + side + top
        fig = _MplFigure(figsize=(width, height))
        ax = fig.add_axes((left / width, (bottom + hist_h + 0.15) / height, side / width, side / height))
        hx = fig.add_axes((left / width, bottom / height, side / width, hist_h / height), sharex=ax)
        ax.plot([0, 1], [0, 1], color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=0.9, label="ideal calibration")
        described = []
        for i, (name, c) in enumerate(curves.items()):
            smooth = c.get("smooth") or {}
            px, py = _xy(smooth.get("predicted"), smooth.get("observed"))
            label = f"{name} (slope {_fmt(c.get('slope'), 2)}, intercept {_fmt(c.get('intercept'), 2)})"
            if px:
                ax.plot(px, py, color=_colour(i), linestyle=_style(i), linewidth=1.8, label=label)
            spline = c.get("spline") or {}
            if spline.get("predicted"):
                ax.fill_between(spline["predicted"], spline["low"], spline["high"], color=_colour(i), alpha=0.15, linewidth=0)
            bins = c.get("bins") or []
            if bins:
                bx = [b["predicted"] for b in bins]
                by = [b["observed"] for b in bins]
                err = [[max(0.0, b["observed"] - b["ci"][0]) for b in bins], [max(0.0, b["ci"][1] - b["observed"]) for b in bins]]
                ax.errorbar(bx, by, yerr=err, fmt="o", markersize=3.5, color=_colour(i), elinewidth=0.8, capsize=2)
            hist = c.get("histogram") or {}
            edges, counts = hist.get("edges") or [], hist.get("counts") or []
            if counts:
                total = float(sum(counts)) or 1.0
                hx.stairs([k / total for k in counts], edges, color=_colour(i), linestyle=_style(i), linewidth=1.2)
            described.append(label)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_ylabel("Observed proportion")
        ax.set_title("Calibration (reliability diagram)")
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
        f"Reliability diagram for {_count(len(curves))}: observed proportion against predicted risk, "
        f"a lowess-smoothed calibration curve, a shaded confidence band from a spline logistic recalibration, "
        f"and binned observed rates with Wilson intervals per dataset "
        f"({'; '.join(described) or 'none'}); a dashed diagonal marks ideal calibration; a histogram of "
        "predicted risks is drawn underneath."
    )
    return Figure(svg=svg, alt=alt, title="Reliability diagram")


def decision_curve_figure(curves: Mapping[str, Mapping]) -> Figure:
    """Decision curves: net benefit of the model (with its CI band) and of treating everyone, per
    dataset, and treat-none at 0, against the threshold probability.

    ``curves`` maps dataset name → ``{"thresholds": [...], "model": [estimate...], "treat_all": [estimate...]}``.
    """
    with matplotlib.rc_context(_RC):
        fig = _MplFigure(figsize=(5.2, 3.9 + 0.19 * (2 * len(curves) + 1)))
        ax = fig.add_axes((0.13, 0.12 + 0.04 * (2 * len(curves) + 1), 0.82, 0.72))
        ax.axhline(0.0, color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=0.9, label="treat no one")
        lows = []
        described = []
        for i, (name, c) in enumerate(curves.items()):
            t = list(c.get("thresholds") or [])
            model = [m.get("value") for m in c.get("model", [])]
            everyone = [m.get("value") for m in c.get("treat_all", [])]
            band = [m.get("ci") or [None, None] for m in c.get("model", [])]
            ax.plot(t, model, color=_colour(i), linestyle=_style(i), linewidth=1.8, label=f"{name}: model")
            ax.plot(t, everyone, color=_colour(i), linestyle=(0, (1, 1.5)), linewidth=1.0, label=f"{name}: treat everyone")
            lo = [b[0] if b[0] is not None else float("nan") for b in band]
            hi = [b[1] if b[1] is not None else float("nan") for b in band]
            ax.fill_between(t, lo, hi, color=_colour(i), alpha=0.15, linewidth=0)
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
        f"Decision curves for {_count(len(curves))} ({', '.join(described) or 'none'}): net benefit against "
        "threshold probability for the model (solid, with a shaded confidence band), for treating everyone "
        "(dotted) and for treating no one (dashed grey line at 0)."
    )
    return Figure(svg=svg, alt=alt, title="Decision curves")


_COVERAGE_MONDRIAN = OKABE_ITO[1]


def coverage_figure(datasets: Mapping[str, Mapping], confidence: float | None = 0.95) -> Figure:
    """Conformal coverage by group at the highest target level: one panel per dataset.

    ``datasets`` is the uncertainty check's ``datasets`` (name → ``{"levels": [{"target",
    "overall", "groups"}]}``; each group with ``partition``, ``group``, ``small``, ``marginal``
    and ``mondrian`` summaries holding ``coverage`` as ``{"value", "ci"}``). Rows are the whole
    dataset, then ``partition=group``; the marginal coverage is a filled dot with its interval,
    the Mondrian (per-group calibrated) coverage a hollow diamond just below it, and a dashed
    vertical line marks the target. Groups flagged small are grey.
    """
    panels, below, below_mondrian, target = [], [], [], None
    for name, entry in datasets.items():
        levels = [lv for lv in (entry or {}).get("levels") or [] if _finite(lv.get("target")) is not None]
        if not levels:
            continue
        level = max(levels, key=lambda lv: float(lv["target"]))
        t = float(level["target"])
        target = t if target is None else max(target, t)
        rows = [{"label": "all patients", "small": False, "overall": True,
                 "marginal": (level.get("overall") or {}).get("coverage"), "mondrian": None}]
        for g in level.get("groups") or []:
            label = f"{g.get('partition')}={g.get('group')}"
            marginal = (g.get("marginal") or {}).get("coverage")
            mondrian = (g.get("mondrian") or {}).get("coverage") if g.get("mondrian") else None
            rows.append({"label": label, "small": bool(g.get("small")), "overall": False,
                         "marginal": marginal, "mondrian": mondrian})
            ci = _ci_pair(marginal)
            if ci is not None and ci[1] < t:
                below.append(f"{label} on {name}")
            ci = _ci_pair(mondrian)
            if ci is not None and ci[1] < t:
                below_mondrian.append(f"{label} on {name}")
        panels.append((str(name), t, rows))

    level_words = _level(confidence)
    with matplotlib.rc_context(_RC):
        row_h, title_h, axis_h, legend_h, panel_w = 0.28, 0.3, 0.4, 0.35, 3.4
        heights = [len(rows) * row_h + 0.2 for _, _, rows in panels] or [0.6]
        height = legend_h + sum(h + title_h + axis_h for h in heights) + 0.1
        fig = _MplFigure(figsize=(panel_w + 0.3, height))
        top = height - legend_h
        has_mondrian = False
        for (name, t, rows), h in zip(panels, heights):
            bottom = top - title_h - h
            ax = fig.add_axes((0.15 / (panel_w + 0.3), bottom / height, panel_w / (panel_w + 0.3), h / height))
            top = bottom - axis_h
            extent = [t]
            for i, row in enumerate(rows):
                ink = _FOREST_GREY if row["small"] else (_FOREST_INK if row["overall"] else _FOREST_POINT)
                for key, dy, filled in (("marginal", 0.0, True), ("mondrian", 0.28, False)):
                    est = row[key]
                    value = _finite(_value(est))
                    if value is None:
                        continue
                    colour = ink if filled or row["small"] else _COVERAGE_MONDRIAN
                    has_mondrian = has_mondrian or not filled
                    ci = _ci_pair(est)
                    if ci is not None:
                        ax.hlines(-i - dy, ci[0], ci[1], color=colour, linewidth=1.3,
                                  linestyle="solid" if not row["small"] else (0, (1, 1.5)))
                        extent += ci
                    ax.plot([value], [-i - dy], linestyle="none", marker="o" if filled else "D",
                            markersize=5 if filled else 4.5, markerfacecolor=colour if filled else "white",
                            markeredgecolor=colour, markeredgewidth=1.2, zorder=3)
                    extent.append(value)
                ax.text(-0.03, -i, row["label"], transform=ax.get_yaxis_transform(), ha="right",
                        va="center", color=_FOREST_GREY if row["small"] else _FOREST_INK,
                        fontweight="bold" if row["overall"] else "normal", parse_math=False, clip_on=False)
            ax.axvline(t, color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=1.0, zorder=1)
            lo, hi = _forest_xlim(extent)
            ax.set_xlim(lo, hi)
            ax.set_ylim(-(len(rows) - 1) - 0.6, 0.5)
            ax.set_yticks([])
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
            ax.set_title(f"{name}: coverage at target {t:g}", fontsize=9, parse_math=False)
            ax.set_xlabel("Empirical coverage (share of true outcomes in the prediction set)", fontsize=8)
            for spine in ("top", "right", "left"):
                ax.spines[spine].set_visible(False)
        handles = [
            Line2D([], [], color=_FOREST_POINT, marker="o", markersize=5, linewidth=1.3,
                   label=f"marginal ({level_words} CI)" if level_words else "marginal (CI)"),
            Line2D([], [], color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=1.0, label="target"),
            Line2D([], [], color=_FOREST_GREY, marker="o", markersize=5, linewidth=1.2,
                   linestyle=(0, (1, 1.5)), label="small group"),
        ]
        if has_mondrian:
            handles.insert(1, Line2D([], [], color=_COVERAGE_MONDRIAN, marker="D", markersize=4.5,
                                     markerfacecolor="white", linewidth=1.3, label="Mondrian"))
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False,
                   handlelength=2.4, borderaxespad=0.2)
        svg = figure_to_svg(fig)

    names = [p[0] for p in panels]
    target_words = "n/a" if target is None else f"{target:g}"
    alt = (
        f"Conformal prediction-set coverage by group for {_count(len(names))} "
        f"({', '.join(names) or 'none'}) at the target coverage {target_words}: each group's empirical "
        "coverage with its interval as a filled dot (marginal calibration)"
        f"{', a hollow diamond for Mondrian (per-group) calibration' if has_mondrian else ''}, "
        "the whole dataset first, and a dashed vertical line at the target; small groups are grey. "
    )
    alt += ("Groups whose interval lies wholly below the target: " + "; ".join(below) + ". "
            if below else "No group's interval lies wholly below the target. ")
    if below_mondrian:
        alt += "With Mondrian calibration, still below: " + "; ".join(below_mondrian) + "."
    return Figure(svg=svg, alt=alt.strip(), title="Conformal coverage by group")


# ----------------------------------------------------------------------------- robustness


def _curve_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


def _band(ax, xs: list[float], estimates: list, colour: str) -> None:
    """Shade the CI band of a curve and draw the interval at each point."""
    lo = [(_ci_pair(e) or [float("nan")] * 2)[0] for e in estimates]
    hi = [(_ci_pair(e) or [float("nan")] * 2)[1] for e in estimates]
    ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    for x, a, b in zip(xs, lo, hi):
        if math.isfinite(a) and math.isfinite(b):
            ax.vlines(x, a, b, color=colour, linewidth=1.0)


def robust_accuracy_figure(attacks: Mapping[str, Mapping], clean: Mapping, dataset: str,
                           confidence: float | None = 0.95) -> Figure:
    """Robust accuracy against the attack budget ε: one panel per norm (L∞, L2), one line per attack.

    ``attacks`` is the robustness check's ``adversarial.datasets.<name>.attacks`` (attack →
    ``{"label", "norm", "points": [{"epsilon", "accuracy": estimate}]}``); attacks without a budget
    (Carlini–Wagner, DeepFool) appear as a single marker at the right edge of the L2 panel, at the
    median size of the perturbations that changed a decision. A dashed grey line marks clean accuracy.
    """
    norms = [norm for norm in ("linf", "l2") if any(a.get("norm") == norm for a in attacks.values())] or ["linf"]
    clean_acc = _finite(_value(clean.get("accuracy")))
    described = []
    with matplotlib.rc_context(_RC):
        width = 3.6 * len(norms) + 0.6
        fig = _MplFigure(figsize=(width, 3.9 + 0.19 * (len(attacks) + 1)))
        legend_h = 0.19 * (len(attacks) + 1) + 0.2
        height = 3.9 + 0.19 * (len(attacks) + 1)
        for k, norm in enumerate(norms):
            ax = fig.add_axes(((0.55 + 3.6 * k) / width, (legend_h + 0.55) / height, 2.9 / width, 2.9 / height))
            if clean_acc is not None:
                ax.axhline(clean_acc, color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=0.9,
                           label=f"clean accuracy {clean_acc:.3f}" if k == 0 else None)
            right = 0.0
            for i, (name, attack) in enumerate(attacks.items()):
                if attack.get("norm") != norm:
                    continue
                points = [p for p in attack.get("points") or [] if p.get("epsilon") is not None]
                if points:
                    xs = [float(p["epsilon"]) for p in points]
                    ests = [p.get("accuracy") for p in points]
                    ys = [_finite(_value(e)) for e in ests]
                    ys = [float("nan") if v is None else v for v in ys]
                    ax.plot(xs, ys, color=_colour(i), linestyle=_style(i), marker="o", markersize=3.5,
                            linewidth=1.8, label=str(attack.get("label", name)))
                    _band(ax, xs, ests, _colour(i))
                    right = max(right, max(xs))
                    described.append(f"{attack.get('label', name)}: " + ", ".join(
                        f"ε {x:g} → {_fmt(y)}" for x, y in zip(xs, ys)))
            for i, (name, attack) in enumerate(attacks.items()):
                unbudgeted = [p for p in attack.get("points") or [] if p.get("epsilon") is None]
                if attack.get("norm") != norm or not unbudgeted:
                    continue
                p = unbudgeted[0]
                x = _finite(p.get("median_l2"))
                x = right if x is None else x
                y = _finite(_value(p.get("accuracy")))
                if y is not None:
                    ax.plot([x], [y], linestyle="none", marker="D", markersize=5, color=_colour(i),
                            label=f"{attack.get('label', name)} (at median perturbation size)")
                    ci = _ci_pair(p.get("accuracy"))
                    if ci is not None:
                        ax.vlines(x, ci[0], ci[1], color=_colour(i), linewidth=1.0)
                    described.append(f"{attack.get('label', name)}: accuracy {_fmt(y)} at median L2 perturbation {_fmt(x)}")
            word = "L∞" if norm == "linf" else "L2"
            _curve_axes(ax, f"Attack budget ε ({word}, inputs in [0, 1])", "Accuracy under attack",
                        f"Robust accuracy, {word} attacks")
        handles, labels = [], []
        for ax in fig.axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.05, 0.0), frameon=False, ncols=1)
        svg = figure_to_svg(fig)
    level = _level(confidence)
    alt = (
        f"Accuracy on {dataset} under adversarial attack against the attack budget epsilon, with {level or 'the'} "
        f"confidence intervals as bands; clean accuracy {_fmt(clean_acc)} as a dashed grey line. "
        + "; ".join(described) + "."
    )
    return Figure(svg=svg, alt=alt, title=f"Robust accuracy against attack budget ({dataset})")


def severity_figure(kinds: Mapping[str, Mapping], clean: Mapping, dataset: str,
                    confidence: float | None = 0.95) -> Figure:
    """AUROC and prediction flip rate against severity, one line per perturbation, with CI bands.

    ``kinds`` is ``perturbation.datasets.<name>.kinds`` (kind → ``{"points": [{"severity",
    "auroc", "flip_rate"}]}``); clean AUROC is a dashed grey line.
    """
    run = {k: v for k, v in kinds.items() if v.get("points")}
    clean_auc = _finite(_value(clean.get("auroc")))
    described = []
    with matplotlib.rc_context(_RC):
        height = 3.9 + 0.19 * (len(run) + 1)
        width = 7.8
        fig = _MplFigure(figsize=(width, height))
        legend_h = 0.19 * (len(run) + 1) + 0.2
        panels = (("auroc", "AUROC"), ("flip_rate", "Prediction flip rate"))
        for k, (metric, label) in enumerate(panels):
            ax = fig.add_axes(((0.55 + 3.7 * k) / width, (legend_h + 0.55) / height, 3.0 / width, 2.9 / height))
            if metric == "auroc" and clean_auc is not None:
                ax.axhline(clean_auc, color=_REFERENCE_GREY, linestyle=_REFERENCE_STYLE, linewidth=0.9,
                           label=f"clean AUROC {clean_auc:.3f}")
            for i, (name, entry) in enumerate(run.items()):
                points = entry["points"]
                xs = [float(p["severity"]) for p in points]
                ests = [p.get(metric) for p in points]
                ys = [_finite(_value(e)) for e in ests]
                ys = [float("nan") if v is None else v for v in ys]
                ax.plot(xs, ys, color=_colour(i), linestyle=_style(i), marker="o", markersize=3.5, linewidth=1.8,
                        label=perturbation_label(name) if k == 0 else None)
                _band(ax, xs, ests, _colour(i))
                described.append(f"{perturbation_label(name)}, {label.lower()}: " + ", ".join(f"severity {x:g} → {_fmt(y)}" for x, y in zip(xs, ys)))
            _curve_axes(ax, "Severity (0 = unchanged)", label, f"{label} against severity")
        handles, labels = fig.axes[0].get_legend_handles_labels() if fig.axes else ([], [])
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.05, 0.0), frameon=False, ncols=2)
        svg = figure_to_svg(fig)
    alt = (
        f"AUROC and prediction flip rate on {dataset} against perturbation severity, with {_level(confidence) or 'the'} "
        f"confidence intervals as bands; clean AUROC {_fmt(clean_auc)} dashed grey. " + "; ".join(described) + "."
    )
    return Figure(svg=svg, alt=alt, title=f"Metrics against perturbation severity ({dataset})")


def adversarial_grid_figure(clean, adversarial, p_clean, p_adversarial, caption: str) -> Figure:
    """Clean images (top row), their adversarial versions (middle) and the amplified difference (bottom).

    Arrays are N×C×H×W in [0, 1]; one or three channels are shown as grey or colour images.
    Each column is titled with P(positive) before and after the attack.
    """
    import numpy as np

    clean, adversarial = np.asarray(clean, dtype=float), np.asarray(adversarial, dtype=float)
    n = min(len(clean), len(adversarial))

    def show(image):
        image = np.clip(image, 0, 1)
        return (image[0], "gray") if image.shape[0] != 3 else (image.transpose(1, 2, 0), None)

    with matplotlib.rc_context(_RC):
        fig = _MplFigure(figsize=(1.15 * max(n, 1) + 0.9, 3.9))
        rows = ("clean", "adversarial", "difference ×")
        for j in range(n):
            diff = adversarial[j] - clean[j]
            scale = float(np.abs(diff).max())
            for r, image in enumerate((clean[j], adversarial[j], 0.5 + diff / (2 * scale) if scale > 0 else 0.5 + diff)):
                ax = fig.add_subplot(3, n, r * n + j + 1)
                data, cmap = show(image)
                ax.imshow(data, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"P {float(p_clean[j]):.2f}→{float(p_adversarial[j]):.2f}", fontsize=7)
                if j == 0:
                    ax.set_ylabel(rows[r] if r < 2 else "difference\n(scaled)", fontsize=7)
        fig.suptitle(f"Clean vs adversarial examples: {caption}", fontsize=9)
        svg = figure_to_svg(fig)
    changes = ", ".join(f"{float(a):.2f} to {float(b):.2f}" for a, b in zip(p_clean[:n], p_adversarial[:n]))
    alt = (f"A grid of {n} example images: the clean image (top row), its adversarial version under {caption} "
           f"(middle row) and their difference, scaled to be visible (bottom row). The predicted probability of the "
           f"positive class changes from {changes}.")
    return Figure(svg=svg, alt=alt, title=f"Clean vs adversarial examples ({caption})")
