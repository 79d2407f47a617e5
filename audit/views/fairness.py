"""Report view of the fairness section: subgroup tables, gaps, disparities and forest plots per dataset.

Lookups and ordering only: every number shown was computed by :mod:`audit.checks.fairness`. The
partial (``reports/_fairness.html.j2``) shows the section's findings first and is laid out wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.figure import Figure
from audit.numbers import finite_or_none
from audit.labels import METRIC_BETTER, metric_label
from audit.views import ViewContext

TEMPLATE = "_fairness.html.j2"

#: Multiplicity adjustments of the fairness check, in words: (short name, what it controls).
MULTIPLICITY = {
    "holm": ("Holm", "Holm's step-down procedure, which controls the family-wise error rate "
                     "(the chance of even one false alarm among the comparisons)"),
    "fdr_bh": ("Benjamini–Hochberg", "the Benjamini–Hochberg procedure, which controls the false "
                                     "discovery rate (the expected share of false alarms among the "
                                     "comparisons flagged)"),
    "bonferroni": ("Bonferroni", "the Bonferroni correction, which controls the family-wise error rate"),
    "max-t": ("max-T", "the single-step max-T bootstrap (Westfall & Young, 1993), which gives simultaneous "
                       "intervals and adjusted p-values for every comparison of a dataset at once and controls "
                       "the family-wise error rate (the chance of even one false alarm among the comparisons); "
                       "an interval excludes 0 exactly when its adjusted p-value is below the significance level"),
}

#: How the fairness check chose each partition's reference group.
REFERENCE_RULES = {
    "largest": "the largest group of each partition",
    "configured": "the group named in the audit spec",
}

PARTITION_KINDS = {"attribute": "attribute", "intersection": "intersection", "site": "site"}

#: Subgroup statuses as a reader should see them; "ok" means "judged", not "fair".
GROUP_STATUS_LABELS = {"ok": "enough data", "insufficient evidence": "insufficient evidence"}

#: The fairlearn disparities: label and what the number is (fairlearn's definitions).
DISPARITIES = {
    "demographic_parity_difference": (
        "Demographic parity difference",
        "largest difference in selection rate (share classed positive) between any two groups",
    ),
    "equalized_odds_difference": (
        "Equalized odds difference",
        "the larger of the largest between-group differences in sensitivity (true positive rate) "
        "and in false positive rate",
    ),
    "equal_opportunity_difference": (
        "Equal opportunity difference",
        "largest difference in sensitivity (true positive rate) between any two groups",
    ),
}


def build(section: Mapping, section_figures: Mapping, settings: Mapping, context: ViewContext) -> dict:
    """Subgroup tables, gaps, disparities and forest plots per dataset, arranged for the template.

    Only lookups and ordering: every number shown was computed by the fairness check.
    """
    anchors, datasets_meta, name = context.anchors, context.datasets, context.name
    per_dataset = section.get("datasets") or {}
    metrics = list(section.get("metrics") or [])
    if not metrics:  # fall back to the metrics the groups carry, in order seen
        for d in per_dataset.values():
            for p in (d or {}).get("partitions") or []:
                for g in p.get("groups") or []:
                    metrics += [m for m in (g.get("metrics") or {}) if m not in metrics]

    multiplicity = section.get("multiplicity")
    key = str(multiplicity).lower() if multiplicity else "none"
    if key in MULTIPLICITY:
        adj_short, adj_long = MULTIPLICITY[key]
        flag_header = f"Significant after {adj_short} adjustment"
    elif key == "none":
        adj_short, adj_long = None, "no adjustment: p-values are not corrected for the number of comparisons"
        flag_header = "Significant (unadjusted)"
    else:
        adj_short, adj_long = str(multiplicity), f"the {multiplicity} adjustment"
        flag_header = f"Significant after {multiplicity} adjustment"

    reference = section.get("reference")
    methods: dict[str, list[str]] = {}  # CI method → what it was used for, in order seen

    def used(method: Any, what: str) -> None:
        if method:
            whats = methods.setdefault(str(method), [])
            if what not in whats:
                whats.append(what)

    datasets, used_figures = [], []
    for ds_name, ds in per_dataset.items():
        if not isinstance(ds, Mapping):
            continue
        meta = datasets_meta.get(ds_name) if isinstance(datasets_meta, Mapping) else None
        meta = meta if isinstance(meta, Mapping) else {}
        overall = ds.get("overall") if isinstance(ds.get("overall"), Mapping) else {}
        partitions = [
            _partition_view(p, metrics, anchors, f"{name}-{ds_name}", used)
            for p in ds.get("partitions") or [] if isinstance(p, Mapping)
        ]
        figure = section_figures.get(f"forest_{ds_name}")
        if isinstance(figure, Figure):
            used_figures.append(figure)
        else:
            figure = None
        datasets.append({
            "name": ds_name,
            "anchor": anchors(f"{name}-{ds_name}"),
            "overall": {
                "n": meta.get("n"),
                "n_events": meta.get("n_events"),
                "prevalence": meta.get("prevalence"),
                "cells": [_cell(overall.get(m), m) for m in metrics],
            },
            "partitions": partitions,
            "figure": figure,
        })

    confidence = section.get("confidence", settings.get("confidence"))
    return {
        "metrics": metrics,
        "metric_columns": [{"metric": m, "better": METRIC_BETTER.get(m)} for m in metrics],
        "confidence": confidence,
        "reference_rule": REFERENCE_RULES.get(str(reference), str(reference) if reference else None),
        "multiplicity": {"key": key, "short": adj_short, "long": adj_long, "flag_header": flag_header},
        "min_group_size": section.get("min_group_size"),
        "min_group_events": section.get("min_group_events"),
        "margins": dict(section.get("margins") or {}),
        "datasets": datasets,
        "methods": [{"method": m, "uses": uses} for m, uses in methods.items()],
        "used_figures": used_figures,
        "table_metrics": metrics,  # the threshold note names those of these that depend on the threshold
        "wide": True,  # laid out on landscape pages
        "findings_first": True,  # the findings lead, before the subgroup tables
    }


def _cell(estimate: Any, what: str | None = None, used=None) -> dict:
    is_estimate = isinstance(estimate, Mapping)
    method = estimate.get("method") if is_estimate else None
    if used is not None and what is not None and is_estimate and finite_or_none(estimate.get("value")) is not None:
        used(method, what)
    return {"estimate": estimate, "n": estimate.get("n") if is_estimate else None, "method": method}


def _partition_view(partition: Mapping, metrics: list[str], anchors, prefix: str, used) -> dict:
    name = str(partition.get("name", ""))
    kind = partition.get("kind")
    attributes = [str(a) for a in partition.get("attributes") or []]
    reference = partition.get("reference")
    reference = None if reference is None else str(reference)

    groups, status_of = [], {}
    for g in partition.get("groups") or []:
        if not isinstance(g, Mapping):
            continue
        label = str(g.get("label", ""))
        status = str(g.get("status") or "ok")
        insufficient = status == "insufficient evidence"
        status_of[label] = insufficient
        group_metrics = g.get("metrics") if isinstance(g.get("metrics"), Mapping) else {}
        groups.append({
            "label": label,
            "n": g.get("n"),
            "n_events": g.get("n_events"),
            "status": GROUP_STATUS_LABELS.get(status, status),
            "status_class": "status-insufficient-evidence" if insufficient else (
                "status-ok" if status == "ok" else "status-unknown"),
            "insufficient": insufficient,
            "reason": g.get("reason"),
            "is_reference": reference is not None and label == reference,
            "prevalence": _cell(g.get("prevalence"), "prevalence", used),
            "cells": [_cell(group_metrics.get(m), metric_label(m), used) for m in metrics],
        })

    raw_gaps = partition.get("gaps") if isinstance(partition.get("gaps"), Mapping) else {}
    gaps = []
    for metric in metrics + [m for m in raw_gaps if m not in metrics]:
        gap = raw_gaps.get(metric)
        if not isinstance(gap, Mapping):
            continue
        comparisons = []
        for c in gap.get("comparisons") or []:
            if not isinstance(c, Mapping):
                continue
            label = str(c.get("group", ""))
            significant = c.get("significant")
            comparisons.append({
                "group": label,
                "insufficient": status_of.get(label, False),
                "difference": _cell(c.get("difference"), "differences between groups", used),
                "ratio": _cell(c.get("ratio"), "ratios between groups", used),
                "p_value": c.get("p_value"),
                "p_adjusted": c.get("p_adjusted"),
                "significant": None if significant is None else bool(significant),
                "classification": c.get("classification"),
                "margin": c.get("margin"),
            })
        gaps.append({
            "metric": metric,
            "better": METRIC_BETTER.get(metric),
            "worst": gap.get("worst"),
            "max_min": _cell(gap.get("max_min"), "max − min gaps", used),
            "comparisons": comparisons,
            "rows": max(len(comparisons), 1),
        })

    raw_disparities = partition.get("disparities") if isinstance(partition.get("disparities"), Mapping) else {}
    disparities = []
    for key in list(DISPARITIES) + [k for k in raw_disparities if k not in DISPARITIES]:
        if key not in raw_disparities:
            continue
        label, meaning = DISPARITIES.get(key, (str(key).replace("_", " ").capitalize(), None))
        disparities.append({"key": key, "label": label, "meaning": meaning,
                            **_cell(raw_disparities[key], "fairness disparities", used)})

    return {
        "name": name,
        "anchor": anchors(f"{prefix}-{name}"),
        "kind": PARTITION_KINDS.get(str(kind), str(kind) if kind else None),
        "attributes": attributes,
        "reference": reference,
        "reference_found": any(g["is_reference"] for g in groups),
        "groups": groups,
        "gaps": gaps,
        "disparities": disparities,
    }
