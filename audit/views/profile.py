"""Data profile section: per-dataset size, missingness, attribute make-up, numeric summaries, leakage.

Columns become rows and datasets become columns, so datasets can be compared at a glance. Lookups
and ordering only; every number was computed by ``audit.checks.data_profile``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEMPLATE = "_profile.html.j2"

STATS = ("mean", "sd", "median", "q25", "q75", "min", "max")


def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def build(section: Mapping, figures: Mapping, settings: Mapping, context=None) -> dict:
    per_dataset = {name: _map(d) for name, d in _map(section.get("datasets")).items()}
    names = list(per_dataset)

    columns: list[str] = []  # every column seen, in first-seen order
    missing: dict[str, dict[str, Mapping]] = {}
    for name, d in per_dataset.items():
        for m in d.get("missing") or []:
            m = _map(m)
            column = str(m.get("column"))
            if column not in missing:
                columns.append(column)
            missing.setdefault(column, {})[name] = m
    missing_rows = [{"column": c, "cells": [missing[c].get(n) for n in names],
                     "any": any(_map(cell).get("count") for cell in missing[c].values())} for c in columns]

    attributes: list[str] = []
    for d in per_dataset.values():
        attributes += [a for a in _map(d.get("sensitive")) if a not in attributes]
    sensitive = []
    for attribute in attributes:
        values: list[str] = []
        shares: dict[str, dict[str, Mapping]] = {}
        for name, d in per_dataset.items():
            for entry in _map(d.get("sensitive")).get(attribute) or []:
                entry = _map(entry)
                value = str(entry.get("value"))
                if value not in values:
                    values.append(value)
                shares.setdefault(value, {})[name] = entry
        sensitive.append({"attribute": attribute,
                          "rows": [{"value": v, "cells": [shares[v].get(n) for n in names]} for v in values]})

    numeric_columns: list[str] = []
    for d in per_dataset.values():
        numeric_columns += [c for c in _map(d.get("numeric")) if c not in numeric_columns]
    numeric = [{"column": c, "cells": [_map(_map(per_dataset[n].get("numeric")).get(c)) or None for n in names]}
               for c in numeric_columns]

    agreement = [{"dataset": n, **_map(per_dataset[n].get("agreement"))} for n in names if per_dataset[n].get("agreement")]
    leakage = _map(section.get("leakage")) or None
    return {
        "agreement": agreement,
        "datasets": [{"name": n, "n": per_dataset[n].get("n"), "n_events": per_dataset[n].get("n_events"),
                      "prevalence": per_dataset[n].get("prevalence"),
                      "classes": per_dataset[n].get("classes") or [{"class": c["label"], "n": c["n_events"], "share": c["prevalence"]}
                                                                    for c in per_dataset[n].get("labels") or []]} for n in names],
        "names": names,
        "missing": missing_rows,
        "any_missing": any(r["any"] for r in missing_rows),
        "sensitive": sensitive,
        "numeric": numeric,
        "leakage": {
            "column": leakage.get("column"),
            "overlaps": [_map(o) for o in leakage.get("overlaps") or []],
            "duplicates": [{"dataset": k, **_map(v)} for k, v in _map(leakage.get("duplicates")).items()],
        } if leakage else None,
        "confidence": settings.get("confidence"),
        "replaces_table": True,
        "used_figures": [],
    }
