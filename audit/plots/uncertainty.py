"""Figure of the uncertainty check: conformal prediction-set coverage by group, marginal and Mondrian.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
from matplotlib.figure import Figure as _MplFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..figure import Figure
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
    dataset_count,
    estimate_value,
    figure_to_svg,
    finite_or_none,
    forest_xlim,
)

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
        levels = [lv for lv in (entry or {}).get("levels") or [] if finite_or_none(lv.get("target")) is not None]
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
            ci = ci_pair(marginal)
            if ci is not None and ci[1] < t:
                below.append(f"{label} on {name}")
            ci = ci_pair(mondrian)
            if ci is not None and ci[1] < t:
                below_mondrian.append(f"{label} on {name}")
        panels.append((str(name), t, rows))

    level_words = confidence_words(confidence)
    with matplotlib.rc_context(RC):
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
                ink = FOREST_GREY if row["small"] else (FOREST_INK if row["overall"] else FOREST_POINT)
                for key, dy, filled in (("marginal", 0.0, True), ("mondrian", 0.28, False)):
                    est = row[key]
                    value = finite_or_none(estimate_value(est))
                    if value is None:
                        continue
                    colour = ink if filled or row["small"] else _COVERAGE_MONDRIAN
                    has_mondrian = has_mondrian or not filled
                    ci = ci_pair(est)
                    if ci is not None:
                        ax.hlines(-i - dy, ci[0], ci[1], color=colour, linewidth=1.3,
                                  linestyle="solid" if not row["small"] else (0, (1, 1.5)))
                        extent += ci
                    ax.plot([value], [-i - dy], linestyle="none", marker="o" if filled else "D",
                            markersize=5 if filled else 4.5, markerfacecolor=colour if filled else "white",
                            markeredgecolor=colour, markeredgewidth=1.2, zorder=3)
                    extent.append(value)
                ax.text(-0.03, -i, row["label"], transform=ax.get_yaxis_transform(), ha="right",
                        va="center", color=FOREST_GREY if row["small"] else FOREST_INK,
                        fontweight="bold" if row["overall"] else "normal", parse_math=False, clip_on=False)
            ax.axvline(t, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=1.0, zorder=1)
            lo, hi = forest_xlim(extent)
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
            Line2D([], [], color=FOREST_POINT, marker="o", markersize=5, linewidth=1.3,
                   label=f"marginal ({level_words} CI)" if level_words else "marginal (CI)"),
            Line2D([], [], color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=1.0, label="target"),
            Line2D([], [], color=FOREST_GREY, marker="o", markersize=5, linewidth=1.2,
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
        f"Conformal prediction-set coverage by group for {dataset_count(len(names))} "
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
