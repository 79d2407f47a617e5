"""Figure of the fairness check: the subgroup forest plot, one panel per metric and groups as rows.

Groups without enough evidence to be judged are hollow grey markers on dotted lines, so they read
differently in greyscale too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure as _MplFigure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import TextToPath
from matplotlib.ticker import MaxNLocator

from ..figure import Figure
from ..labels import SHORT_METRIC_LABELS, metric_label
from .style import (
    FOREST_GREY,
    FOREST_INK,
    FOREST_POINT,
    OKABE_ITO,
    RC,
    REFERENCE_GREY,
    REFERENCE_STYLE,
    ci_pair,
    confidence_words,
    estimate_value,
    figure_to_svg,
    finite_or_none,
    forest_xlim,
    short_label,
)

#: Panel titles of the forest plot: short, but never a bare abbreviation a clinician must guess.
FOREST_METRIC_LABELS: dict[str, str] = SHORT_METRIC_LABELS

_FOREST_REF_POINT = OKABE_ITO[1]  # the partition's reference group: a filled square
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
    level = confidence_words(confidence)
    ci_words = f"{level} confidence interval" if level else "confidence interval"

    with matplotlib.rc_context(RC):
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
        absent = [_forest_label(m) for m in metrics if finite_or_none(estimate_value(r["metrics"].get(m))) is None]
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
    if any(finite_or_none(estimate_value(reference_value.get(m))) is not None for m in metrics):
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
            _forest_panel(ax, rows, metrics[k], finite_or_none(estimate_value(reference_value.get(metrics[k]))))
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no metrics", ha="center", va="center", transform=ax.transAxes,
                    color=FOREST_GREY, parse_math=False)
        ax.set_ylim(*ylim)

    handles = [
        Line2D([], [], color=FOREST_INK, marker="o", markersize=5, markerfacecolor=FOREST_POINT,
               markeredgecolor=FOREST_POINT, linewidth=1.4,
               label=f"estimate ({level} CI)" if level else "estimate (CI)"),
        Line2D([], [], color=FOREST_INK, marker="s", markersize=5, markerfacecolor=_FOREST_REF_POINT,
               markeredgecolor=_FOREST_REF_POINT, linewidth=1.4, label="reference group (ref.)"),
        Line2D([], [], color=FOREST_GREY, marker="o", markersize=5, markerfacecolor="white",
               markeredgecolor=FOREST_GREY, linewidth=1.2, linestyle=(0, (1, 1.5)),
               label="insufficient evidence (not judged)"),
    ]
    if any(finite_or_none(estimate_value(reference_value.get(m))) is not None for m in metrics):
        handles.append(Line2D([], [], color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=1.0,
                              label="whole dataset"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(pad / width, 1.0), ncols=len(handles),
               frameon=False, handlelength=2.6, borderaxespad=0.2, columnspacing=1.6)
    return fig


def _forest_label_width(rows: list[dict]) -> float:
    """Inches needed by the longest row label, measured with the font the SVG will use."""
    widest = 40.0
    for row in rows:
        prop = FontProperties(family=RC["font.family"], size=RC["font.size"],
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
        colour = FOREST_GREY if row.get("insufficient") else FOREST_INK
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
        value = finite_or_none(estimate_value(estimate))
        if value is None:
            na_rows.append(-i)
            continue
        bucket = grey if row["insufficient"] else judged
        ci = ci_pair(estimate)
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

    lo, hi = forest_xlim(extent)
    ax.set_xlim(lo, hi)
    _forest_bands(ax, rows)
    ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if overall is not None:
        ax.axvline(overall, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=1.0, zorder=1)
    if grey["ci_y"]:
        ax.hlines(grey["ci_y"], grey["lo"], grey["hi"], color=FOREST_GREY, linewidth=1.2,
                  linestyle=(0, (1, 1.5)), zorder=2)
    if judged["ci_y"]:
        ax.hlines(judged["ci_y"], judged["lo"], judged["hi"], color=FOREST_INK, linewidth=1.4, zorder=2)
    if grey["x"]:
        ax.plot(grey["x"], grey["y"], linestyle="none", marker="o", markersize=5, markerfacecolor="white",
                markeredgecolor=FOREST_GREY, markeredgewidth=1.2, zorder=3)
    if judged["x"]:
        ax.plot(judged["x"], judged["y"], linestyle="none", marker="o", markersize=5,
                markerfacecolor=FOREST_POINT, markeredgecolor=FOREST_POINT, zorder=3)
    if refs["x"]:
        ax.plot(refs["x"], refs["y"], linestyle="none", marker="s", markersize=5,
                markerfacecolor=_FOREST_REF_POINT, markeredgecolor=_FOREST_REF_POINT, zorder=3)
    for y in na_rows:
        ax.text((lo + hi) / 2, y, "n/a", ha="center", va="center", color=FOREST_GREY, fontsize=8,
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


def _forest_label(metric: str) -> str:
    return metric_label(metric, short=True)
