"""Report view of the robustness section: tables of the stored numbers, in order, and the figures.

Lookups and ordering only: every number was computed by :mod:`audit.checks.robustness`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.figure import Figure
from audit.labels import perturbation_label

TEMPLATE = "_robustness.html.j2"


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _figure(figures: Mapping, key: str) -> Figure | None:
    figure = figures.get(key)
    return figure if isinstance(figure, Figure) else None


def _adversarial(entry: Mapping) -> dict:
    rows = []
    for key, attack in _mapping(entry.get("attacks")).items():
        for point in attack.get("points") or []:
            rows.append({
                "attack": attack.get("label", key),
                "norm": "L∞" if attack.get("norm") == "linf" else "L2",
                "epsilon": point.get("epsilon"),
                "accuracy": point.get("accuracy"),
                "auroc": point.get("auroc"),
                "success_rate": point.get("success_rate"),
                "flip_rate": point.get("flip_rate"),
                "median_l2": point.get("median_l2"),
            })
    return {"status": entry.get("status"), "reason": entry.get("reason"), "n": entry.get("n"),
            "clean": _mapping(entry.get("clean")), "rows": rows}


def _perturbation(entry: Mapping) -> dict:
    rows, skipped = [], []
    for kind, item in _mapping(entry.get("kinds")).items():
        if item.get("status") != "run":
            skipped.append({"kind": perturbation_label(kind), "status": item.get("status"), "reason": item.get("reason")})
        for point in item.get("points") or []:
            rows.append({"kind": perturbation_label(kind), **{k: point.get(k) for k in ("severity", "accuracy", "auroc", "flip_rate")}})
    return {"n": entry.get("n"), "clean": _mapping(entry.get("clean")), "rows": rows, "skipped": skipped}


def _subgroups(entry: Mapping) -> list[dict]:
    partitions = []
    for part in _mapping(entry).get("partitions") or []:
        columns, rows = [], []
        for group in part.get("groups") or []:
            cells = []
            for attack, points in _mapping(group.get("adversarial")).items():
                budgeted = [p for p in points if p.get("epsilon") is None or p.get("epsilon") > 0]
                if budgeted:
                    worst = budgeted[-1]
                    eps = worst.get("epsilon")
                    cells.append({"column": f"{attack.upper()}" + ("" if eps is None else f" ε={eps:g}"),
                                  "accuracy": worst.get("accuracy"), "success_rate": worst.get("success_rate")})
            for kind, point in _mapping(group.get("perturbation")).items():
                cells.append({"column": f"{perturbation_label(kind)} {point.get('severity'):g}",
                              "flip_rate": point.get("flip_rate")})
            if not columns:
                columns = [c["column"] for c in cells]
            rows.append({"label": f"{part.get('name')}={group.get('label')}", "n": group.get("n"),
                         "small": bool(group.get("small")), "reference": group.get("label") == part.get("reference"),
                         "clean": _mapping(group.get("clean")).get("accuracy"), "cells": cells})
        gaps = [g for g in part.get("gaps") or []]
        partitions.append({"name": part.get("name"), "reference": part.get("reference"), "columns": columns,
                           "rows": rows, "gaps": gaps})
    return partitions


def build(section: Mapping, figures: Mapping, settings: Mapping, context=None) -> dict:
    """Arrange the robustness section's numbers and figures for ``_robustness.html.j2``."""
    adversarial = _mapping(_mapping(section.get("adversarial")).get("datasets"))
    perturbation = _mapping(_mapping(section.get("perturbation")).get("datasets"))
    subgroups = _mapping(_mapping(section.get("subgroups")).get("datasets"))
    datasets, used = [], []
    for name in list(dict.fromkeys([*adversarial, *perturbation])):
        shown = {}
        for key in ("adversarial", "examples", "perturbation"):
            figure = _figure(figures, f"{key}_{name}")
            shown[key] = figure
            if figure is not None:
                used.append(figure)
        datasets.append({
            "name": name,
            "adversarial": _adversarial(_mapping(adversarial.get(name))),
            "perturbation": _perturbation(_mapping(perturbation.get(name))),
            "subgroups": _subgroups(subgroups.get(name)),
            "figures": shown,
        })
    return {
        "run": section.get("status") != "not run",
        "confidence": section.get("confidence", settings.get("confidence")),
        "threshold": section.get("threshold", settings.get("threshold")),
        "min_group_size": section.get("min_group_size", settings.get("min_group_size")),
        "multiplicity": section.get("multiplicity"),
        "model": section.get("model"),
        "adversarial_reason": _mapping(section.get("adversarial")).get("reason"),
        "datasets": datasets,
        "used_figures": used,
        "replaces_table": True,
    }
