"""Report view of the uncertainty section: conformal coverage tables per dataset and target level.

Lookups and ordering only: every number shown was computed by :mod:`audit.checks.uncertainty`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.figure import Figure
from audit.views import ViewContext

TEMPLATE = "_uncertainty.html.j2"


def _set_row(label: str, summary: Any, mondrian: Any, n: Any, *, overall: bool = False, small: bool = False,
             partition: Any = None, group: Any = None) -> dict:
    summary = summary if isinstance(summary, Mapping) else {}
    mondrian = mondrian if isinstance(mondrian, Mapping) else {}
    return {
        "label": label, "partition": partition, "group": group, "overall": overall, "small": small,
        "coverage": summary.get("coverage"), "mondrian": mondrian.get("coverage"),
        "mean_set_size": summary.get("mean_set_size"), "empty": summary.get("empty"),
        "both": summary.get("both"), "singleton": summary.get("singleton"), "n": n,
    }


def build(section: Mapping, section_figures: Mapping, settings: Mapping, context: ViewContext) -> dict:
    """Conformal coverage tables per dataset and target level, arranged for the template."""
    datasets = []
    for ds_name, ds in (section.get("datasets") or {}).items():
        if not isinstance(ds, Mapping):
            continue
        levels = []
        for level in [*(ds.get("levels") or []), *(ds.get("aps") or [])]:  # multiclass: LAC sets, then APS
            if not isinstance(level, Mapping):
                continue
            overall = level.get("overall") if isinstance(level.get("overall"), Mapping) else {}
            coverage = overall.get("coverage")
            rows = [_set_row("All patients", overall, None,
                             coverage.get("n") if isinstance(coverage, Mapping) else ds.get("n_evaluated"),
                             overall=True)]
            for label, c in (overall.get("by_class") or {}).items():  # multiclass: class-conditional coverage
                if isinstance(c, Mapping):
                    rows.append(_set_row(f"true class {label}", {"coverage": c.get("coverage")}, None, c.get("n")))
            for g in level.get("groups") or []:
                if isinstance(g, Mapping):
                    rows.append(_set_row(f"{g.get('partition')}={g.get('group')}", g.get("marginal"), g.get("mondrian"),
                                         g.get("n"), small=bool(g.get("small")), partition=g.get("partition"),
                                         group=g.get("group")))
            levels.append({"target": level.get("target"), "rows": rows,
                           "score": str(level["score"]).upper() if level.get("score") else None})
        datasets.append({"name": ds_name, "n_evaluated": ds.get("n_evaluated"), "levels": levels})
    calibration = section.get("calibration") if isinstance(section.get("calibration"), Mapping) else {}
    figure = section_figures.get("coverage")
    return {
        "method": section.get("method"),
        "calibration": {"dataset": calibration.get("dataset"), "share": calibration.get("share"),
                        "n": calibration.get("n")},
        "mondrian": bool(section.get("mondrian")),
        "confidence": section.get("confidence", settings.get("confidence")),
        "min_group_size": settings.get("min_group_size"),
        "datasets": datasets,
        "figure": figure if isinstance(figure, Figure) else None,
        "used_figures": [figure] if isinstance(figure, Figure) else [],
    }
