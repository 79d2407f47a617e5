"""Calibration section: the per-subgroup table (intercept, slope, Holm-adjusted tests, ICI and ECE beside
what a perfectly calibrated model would show at that size).

Lookups and ordering only; every number was computed by ``audit.checks.calibration``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEMPLATE = "_calibration.html.j2"


def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _row(g: Mapping) -> dict:
    metrics, tests, expected = _map(g.get("metrics")), _map(g.get("tests")), _map(g.get("expected_if_calibrated"))
    group = str(g.get("group", ""))
    return {
        "group": group if " & " in group else f"{g.get('partition')}={group}",
        "n": g.get("n"), "n_events": g.get("n_events"), "status": g.get("status"), "same_as": g.get("same_as"),
        "intercept": metrics.get("calibration_intercept"), "slope": metrics.get("calibration_slope"),
        "p_intercept": _map(tests.get("calibration_intercept")).get("p_adjusted"),
        "p_slope": _map(tests.get("calibration_slope")).get("p_adjusted"),
        "ici": g.get("ici"), "ici_expected": expected.get("ici"),
        "ece": _map(metrics.get("ece")).get("value"), "ece_expected": expected.get("ece"),
    }


def multiclass(section: Mapping) -> list[dict]:
    """Per dataset: each class's Van Hoorde intercept and slope against the reference class, and its classwise ICI and ECE."""
    out = []
    for name, d in _map(section.get("datasets")).items():
        m, cw, top = _map(_map(d).get("multinomial")), _map(_map(d).get("classwise")), _map(_map(d).get("top_label"))
        rows = [{"class": label, "reference": label == m.get("reference"),
                 "intercept": _map(m.get("intercepts")).get(label), "slope": _map(m.get("slopes")).get(label),
                 "ici": c.get("ici"), "ece": c.get("ece"), "n": c.get("events")}
                for label, c in _map(cw.get("classes")).items()]
        slope_classes = [r["class"] for r in rows if not r["reference"]]
        groups = [{"group": f"{g.get('partition')}={g.get('group')}", "n": g.get("n"), "status": g.get("status"), "reason": g.get("reason"),
                   "top_ici": g.get("top_label_ici"), "classwise_ici": g.get("classwise_mean_ici"),
                   "slopes": [{"estimate": _map(_map(g.get("multinomial")).get("slopes")).get(c),
                               "p_adjusted": _map(_map(g.get("tests")).get(f"slope[{c}]")).get("p_adjusted")} for c in slope_classes]}
                  for g in (_map(d).get("subgroups") or [])]
        out.append({"name": name, "rows": rows, "groups": groups, "slope_classes": slope_classes, "reference": m.get("reference"), "mean_ici": cw.get("mean_ici"),
                    "mean_ece": cw.get("mean_ece"), "top_ici": top.get("ici"), "top_ece": top.get("ece"),
                    "estimator": top.get("estimator"), "bins": top.get("bins")})
    return out


def survival(section: Mapping) -> dict:
    """Per horizon a row per dataset (O/E, slope, ICI, E50, E90), and per dataset the subgroups at the largest horizon."""
    datasets = _map(section.get("datasets"))
    horizons = []
    for h in section.get("horizons") or []:
        rows = []
        for name, d in datasets.items():
            entry = _map(_map(_map(d).get("horizons")).get(h))
            metrics, summaries = _map(entry.get("metrics")), _map(entry.get("summaries"))
            rows.append({"dataset": name, "reason": entry.get("reason"), "oe": metrics.get("oe_ratio"),
                         "slope": metrics.get("calibration_slope"), "ici": summaries.get("ici"), "e50": summaries.get("e50"),
                         "e90": summaries.get("e90")})
        horizons.append({"horizon": h, "rows": rows})
    groups = []
    for name, d in datasets.items():
        rows = []
        for g in _map(d).get("subgroups") or []:
            g = _map(g)
            group = str(g.get("group", ""))
            metrics, tests = _map(g.get("metrics")), _map(g.get("tests"))
            rows.append({"group": group if " & " in group else f"{g.get('partition')}={group}", "n": g.get("n"),
                         "n_events": g.get("n_events"), "status": g.get("status"), "same_as": g.get("same_as"),
                         "oe": metrics.get("oe_ratio"), "slope": metrics.get("calibration_slope"),
                         "p_oe": _map(tests.get("oe_ratio")).get("p_adjusted"), "p_slope": _map(tests.get("calibration_slope")).get("p_adjusted")})
        if rows:
            groups.append({"name": name, "rows": rows})
    return {"horizons": horizons, "groups": groups, "time_unit": section.get("time_unit") or "", "method": section.get("method")}


def build(section: Mapping, figures: Mapping, settings: Mapping, context=None) -> dict:
    if section.get("task") == "survival":
        return {"datasets": [], "multiclass": [], "survival": survival(section), "confidence": section.get("confidence")}
    if section.get("task") == "multiclass":
        return {"datasets": [], "multiclass": multiclass(section), "confidence": section.get("confidence"), "survival": None}
    datasets = [{"name": name, "rows": [_row(_map(g)) for g in _map(d).get("subgroups") or []]}
                for name, d in _map(section.get("datasets")).items()]
    return {"datasets": [d for d in datasets if d["rows"]], "multiclass": [], "confidence": section.get("confidence"), "survival": None}
