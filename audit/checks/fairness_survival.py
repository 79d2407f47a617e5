"""The fairness check of a survival audit: the binary check's groups, gaps and simultaneous inference, with
time-to-event metrics.

Per group of each sensitive attribute, site and intersection, each group its own validation sample (its censoring
distribution estimated within it; ``audit.stats.survival.GroupedSurvivalMetrics``), from the dataset's one
resample stream: **Harrell's C** (truncated at the largest horizon; its replicates are its first-order expansion
``C + w'U`` in the infinitesimal-jackknife influences, ``audit.stats.survival.LinearisedConcordance``) and, at the largest horizon, the
**time-dependent AUC** and the **Brier score** drive the verdict — each compared with the partition's reference
group in one max-T family per dataset and judged against equivalence margins (``settings.fairness_margins``:
``harrell_c`` and ``auc_t`` 0.05, ``brier`` 0.02) exactly as in the binary check (``audit.checks.fairness``).
IPA and the O/E ratio (McLernon et al.'s interval) are shown per group, descriptive. Groups with fewer than
``settings.min_group_size`` patients or fewer than ``settings.min_group_events`` events by the horizon (or
event-free patients) are shown, never judged.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import survival_estimates
from ..groups import Partition, build_partitions, too_small
from ..labels import EQUIVALENCE_MARGINS
from ..stats import Estimate
from ..stats.estimate import not_estimable
from ..stats.intervals import IntervalRules
from ..stats.survival import GROUP_SURVIVAL_METRICS, GroupedSurvivalMetrics, horizon_key, horizon_status, oe_interval
from ..tasks.survival import horizons
from ..verdicts import worst
from .base import Finding, Section
from .fairness import NAME, GroupCell, fairness_evidence, intersection_too_large, judge_partitions

#: The metrics that drive the verdict (with risks; a risk score alone gives the first two).
PRIMARY = ("harrell_c", "auc_t", "brier")
SHOWN = PRIMARY + ("ipa", "oe_ratio")


def margins(settings) -> dict[str, float]:
    return {m: settings.fairness_margins.get(m, EQUIVALENCE_MARGINS[m]) for m in PRIMARY}


def run(ctx: AuditContext) -> Section:
    attributes, site = list(ctx.spec.data.sensitive), ctx.spec.data.site
    if not attributes and site is None:
        return Section(NAME, "Subgroup fairness", "not run",
                       {"reason": "no sensitive attributes: list them in data.sensitive (or name a site column in data.site)"},
                       [Finding(NAME, "info", "The fairness check was not run: the spec names no sensitive attributes (data.sensitive).")])
    settings = ctx.spec.settings
    horizon = horizons(settings)[-1]
    has_risks = ctx.internal.p.shape[1] > 1
    primary = PRIMARY if has_risks else PRIMARY[:2]
    shown = SHOWN if has_risks else primary
    margin_of = {m: v for m, v in margins(settings).items() if m in primary}
    per_dataset, findings, figures, criteria = {}, [], {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"fairness: subgroups of {ds.name}")
        partitions = build_partitions(ds, attributes, site, settings.intersectional, settings.max_groups)
        too_large = intersection_too_large(ds, attributes, settings.max_groups) if settings.intersectional else None
        findings += [too_large] if too_large else []
        data, ds_findings, ds_criteria = analyse(ds, partitions, ctx, horizon, shown, primary, margin_of)
        per_dataset[ds.name] = data
        findings += ds_findings
        criteria += ds_criteria
        figures[f"forest_{ds.name}"] = plots.forest_figure(
            data["partitions"], list(primary), ds.name, {m: e["value"] for m, e in data["overall"].items()}, confidence=settings.confidence)
    return Section(
        name=NAME,
        title="Subgroup fairness",
        status=worst(c["verdict"] for c in criteria),
        data={
            "task": "survival", "horizon": horizon_key(horizon), "confidence": settings.confidence,
            "reference": "configured" if settings.reference_groups else "largest", "multiplicity": "max-t",
            "sampling": settings.sampling, "min_group_size": settings.min_group_size, "min_group_events": settings.min_group_events,
            "margins": margin_of, "primary": list(primary), "criteria": criteria, "metrics": list(shown), "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=fairness_evidence([p for d in per_dataset.values() for p in d["partitions"]]),
    )


def analyse(ds: EvaluatedDataset, partitions: list[Partition], ctx: AuditContext, horizon: float, shown, primary, margin_of):
    settings = ctx.spec.settings
    rules = IntervalRules.from_settings(settings)
    design = ctx.design(ds)
    hk = horizon_key(horizon)
    risk = ds.p[:, -1] if ds.p.shape[1] > 1 else None
    kernel = GroupedSurvivalMetrics(ds.y[:, 0], ds.y[:, 1], ds.p[:, 0], risk, horizon,
                                    {p.name: p.codes for p in partitions}, settings.threshold)
    boot = ctx.engine.bootstrap(kernel, design, ctx.stream(ds))
    column = {key: j for j, key in enumerate(kernel.columns)}
    own = survival_estimates(ctx, ds)
    overall = {m: (own["metrics"][m] if m in own["metrics"] else own["horizons"][hk][m]).to_dict() for m in shown}

    def built(part):
        cells = [group_cell(ds, part, label, code, boot, column, design.clusters, settings, horizon, shown)
                 for code, label in enumerate(part.groups)]
        return cells, [group_summary(cell, shown) for cell in cells]

    judged, findings, criteria = judge_partitions(ds, ctx, partitions, built, boot, column, rules, margin_of, primary)
    return {"overall": overall, **judged}, findings, criteria


def group_cell(ds, part: Partition, label: str, code: int, boot, column, clusters, settings, horizon: float, shown) -> GroupCell:
    rows = part.rows(label)
    time, event = ds.y[rows, 0], ds.y[rows, 1].astype(np.int8)
    n = int(rows.sum())
    status = horizon_status(time, event, horizon) if event.any() else None
    events = status.events if status is not None else 0
    estimates = {}
    for m in shown:
        if status is None or not status.estimable:
            why = status.reason if status is not None else "not estimable: no events in the group"
            estimates[m] = not_estimable(why, "none", n)
            continue
        est = boot.estimate_at(column[(part.name, code, m)], n)
        if m == "oe_ratio":
            est = Estimate(est.value, oe_interval(est.value, events, settings.confidence), "poisson-log", events)
        elif clusters is not None:
            est = Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason)
        estimates[m] = est
    reasons = too_small(n, events, settings)
    if status is not None and not status.estimable:
        reasons.append(status.reason.removeprefix("not estimable: "))
    return GroupCell(label, code, rows, estimates, {m: estimates[m].value for m in shown}, dict.fromkeys(shown, 0.0),
                     "insufficient evidence" if reasons else "ok", "; ".join(reasons) or None, events)


def group_summary(cell: GroupCell, shown) -> dict:
    return {"label": cell.label, "n": int(cell.rows.sum()), "n_events": cell.events, "status": cell.status, "reason": cell.reason,
            "metrics": {m: cell.estimates[m].to_dict() for m in shown}}


__all__ = ["GROUP_SURVIVAL_METRICS", "run"]
