"""The fairness check of a multilabel audit: the underdiagnosis rate by group (Seyyed-Kalantari et al., Nat Med 2021).

With ``data.no_finding`` naming the label that means "no abnormality", the **underdiagnosis rate** of a group
is the share of its patients with at least one finding whom the model calls "no finding" (P(no finding) at
or above that label's threshold): the false-positive rate of the "no finding" label. Its groups, gaps
against the reference group (simultaneous max-T intervals), equivalence margin (``settings.fairness_margins``
``fpr``, default 0.05) and verdict are those of the binary fairness check run on that label alone
(``sections["fairness:<no finding label>"]``), shown here under their name. Every label's own subgroup
analysis is in its section ``fairness:<label>``.
"""

from __future__ import annotations

from .. import plots
from ..derived import derived, section_of
from ..context import AuditContext
from ..labels import EQUIVALENCE_MARGINS
from ..verdicts import worst
from .base import Finding, Section
from .fairness import NAME, partition_criteria

METRIC = "underdiagnosis"
SOURCE = "fpr"  # the false-positive rate of the "no finding" label


def run(ctx: AuditContext) -> Section:
    label = ctx.spec.data.no_finding
    if label is None:
        reason = ("it is run on each label below; name the label that means 'no abnormality' in data.no_finding "
                  "to compare underdiagnosis rates between groups")
        return Section(NAME, "Subgroup fairness", "not run", {"reason": reason},
                       [Finding(NAME, "info", f"The underdiagnosis analysis was not run: {reason}.")])
    source = section_of(derived(ctx, label), "fairness")
    if source.status == "not run":
        return Section(NAME, "Subgroup fairness", "not run", dict(source.data), [])
    margin = ctx.spec.settings.fairness_margins.get("fpr", EQUIVALENCE_MARGINS["fpr"])
    per_dataset, criteria, figures = {}, [], {}
    for name, d in source.data["datasets"].items():
        partitions = [renamed(p) for p in d["partitions"]]
        per_dataset[name] = {"overall": {METRIC: d["overall"][SOURCE]}, "simultaneous": d["simultaneous"], "partitions": partitions}
        criteria += partition_criteria(partitions, name, {METRIC: margin}, ctx.spec.settings.confidence, (METRIC,))
        figures[f"forest_{name}"] = plots.forest_figure(partitions, [METRIC], name, {METRIC: d["overall"][SOURCE]["value"]},
                                                        confidence=ctx.spec.settings.confidence)
    findings = [Finding(NAME, f.severity, f.message.replace("FPR (overdiagnosis)", "Underdiagnosis rate").replace("FPR", "Underdiagnosis rate"), f.dataset)
                for f in source.findings if "FPR" in f.message]
    return Section(
        name=NAME,
        title="Subgroup fairness: underdiagnosis",
        status=worst(c["verdict"] for c in criteria),
        data={"task": "multilabel", "no_finding": label,
              "definition": (f"the share of patients with at least one finding whom the model calls '{label}' "
                             f"(P({label}) at or above {derived(ctx, label).info['threshold']:g})"),
              **{k: v for k, v in source.data.items() if k in ("confidence", "reference", "multiplicity", "sampling",
                                                                 "min_group_size", "min_group_events")},
              "margins": {METRIC: margin}, "criteria": criteria, "metrics": [METRIC], "datasets": per_dataset},
        findings=findings,
        figures=figures,
        evidence=source.evidence,
    )


def renamed(partition: dict) -> dict:
    """One partition of the "no finding" label's fairness analysis with its false-positive rate called underdiagnosis;
    a group's patients with a finding are those without the "no finding" label."""
    groups = [{"label": g["label"], "n": g["n"], "n_events": g["n"] - g["n_events"], "status": g["status"], "reason": g["reason"],
               "metrics": {METRIC: g["metrics"][SOURCE]}} for g in partition["groups"]]
    return {"name": partition["name"], "kind": partition["kind"], "attributes": partition["attributes"],
            "reference": partition["reference"], "groups": groups, "gaps": {METRIC: partition["gaps"][SOURCE]},
            "heterogeneity": {METRIC: partition["heterogeneity"].get(SOURCE)}, "disparities": {}}
