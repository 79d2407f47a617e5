"""The utility check: decision curve analysis (Vickers & Elkin, Med Decis Making 2006).

Net benefit of acting on the model, of treating everyone and of treating no one, over a range
of threshold probabilities (``settings.dca_thresholds``), per dataset, with bootstrap intervals
for the model's curve (``audit.stats.net_benefit``). A threshold probability t expresses how a
clinician weighs harms against benefits: treating at t means accepting t/(1-t) unnecessary
treatments per case found. The model is useful at t where its net benefit exceeds both defaults.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext
from ..errors import AuditInputError
from ..stats.net_benefit import DEFAULT_THRESHOLDS, check_thresholds, decision_curve
from .base import Finding, Section

NAME = "utility"


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    try:
        thresholds = check_thresholds(settings.dca_thresholds or DEFAULT_THRESHOLDS)
    except ValueError as exc:
        raise AuditInputError(f"settings.dca_thresholds: {exc}") from None
    if settings.sampling == "case-control":
        why = ("net benefit depends on the prevalence, which case-control sampling fixed by design "
               "(settings.sampling: case-control), so it is not estimable from these data")
        return Section(NAME, "Clinical utility (decision curves)", "not run", {"reason": why},
                       [Finding(NAME, "info", f"The utility check was not run: {why}.")])
    per_dataset, findings = {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"utility: decision curve on {ds.name}")
        curve = decision_curve(ds.y, ds.p, thresholds, ctx.engine, ctx.stream(ds), ctx.design(ds))
        if settings.dca_subgroups:
            curve["subgroups"] = subgroup_curves(ds, ctx, thresholds)
        per_dataset[ds.name] = curve
        findings.append(useful_range(ds.name, curve))
        findings += [useful_range(f"{ds.name}, {g['partition']}={g['group']}", g) for g in curve.get("subgroups", []) if g.get("model")]
    return Section(
        name=NAME,
        title="Clinical utility (decision curves)",
        status="pass",
        data={"confidence": settings.confidence, "datasets": per_dataset},
        findings=findings,
        figures={"decision_curve": plots.decision_curve_figure(per_dataset)},
        evidence=["utility.net_benefit"],
    )


def useful_range(name: str, curve: dict) -> Finding:
    """Where the model's net benefit is above both treat-all and treat-none (point estimates)."""
    t = np.asarray(curve["thresholds"])
    model = np.array([m["value"] if m["value"] is not None else np.nan for m in curve["model"]])
    everyone = np.array([m["value"] if m["value"] is not None else np.nan for m in curve["treat_all"]])
    better = model > np.fmax(everyone, 0.0)
    if not better.any():
        return Finding(NAME, "warning", f"On {name} the model's net benefit never exceeds both treating everyone and treating no one.", name)
    return Finding(
        NAME, "info",
        f"On {name} the model has more net benefit than treating everyone or no one at threshold probabilities "
        f"from {t[better].min():.2f} to {t[better].max():.2f} ({int(better.sum())} of {t.size} thresholds; point estimates).",
        name,
    )


def subgroup_curves(ds, ctx: AuditContext, thresholds) -> list[dict]:
    """Decision curves per group of each sensitive attribute (groups too small to judge are listed, not drawn)."""
    from . import fairness

    settings = ctx.spec.settings
    out = []
    for part in fairness.build_partitions(ds, list(ctx.spec.data.sensitive), None, False):
        for label in np.unique(part.labels):
            rows = part.labels == label
            y, p = ds.y[rows], ds.p[rows]
            n, events = int(rows.sum()), int(y.sum())
            entry = {"partition": part.name, "group": str(label), "n": n, "n_events": events}
            if n >= settings.min_group_size and min(events, n - events) >= settings.min_group_events:
                design = ctx.design(ds).subset(rows)
                entry.update(decision_curve(y, p, thresholds, ctx.engine, f"{NAME}/{ds.name}/{part.name}/{label}", design))
                entry["status"] = "ok"
            else:
                entry["status"] = "insufficient evidence"
            out.append(entry)
    return out
