"""The fairness check of a segmentation audit: the binary check's groups, gaps and simultaneous inference, with
per-case segmentation metrics averaged within groups.

Per group of each sensitive attribute, site and intersection, from the dataset's one resample stream (cases, a
patient's cases together): the mean **Dice**, **HD95** and (with a tolerance) **NSD** of each structure over the
group's counted cases (``stats.segmentation.CaseMeans`` with a column per group). Each is compared with the
partition's reference group in one max-T family per dataset and judged against equivalence margins
(``settings.fairness_margins``; defaults Dice 0.05, HD95 2 mm, NSD 0.05) exactly as in the binary check
(``audit.checks.fairness``). Metric names carry the structure: ``dice[whole_tumour]``. Groups with fewer than
``settings.min_group_size`` cases, or fewer than ``settings.min_group_events`` cases holding the structure, are shown,
never judged.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import segmentation_estimates
from ..groups import Partition, build_partitions, too_small
from ..labels import EQUIVALENCE_MARGINS
from ..stats.estimate import cluster_labelled
from ..stats.intervals import IntervalRules
from ..stats.segmentation import BOTH_PRESENT, CASE_METRICS, MISSED, CaseMeans
from ..verdicts import worst
from .base import Finding, Section
from .fairness import NAME, GroupCell, fairness_evidence, intersection_too_large, judge_partitions

BASE_METRICS = ("dice", "hd95", "nsd")


def primary_metrics(ctx: AuditContext) -> tuple[str, ...]:
    """``<metric>[<structure>]`` for Dice, HD95 and (with a tolerance) NSD of every structure."""
    base = [m for m in BASE_METRICS if m != "nsd" or ctx.spec.settings.nsd_tolerance is not None]
    return tuple(f"{m}[{s}]" for s in ctx.internal.cases.structures for m in base)


def margins(ctx: AuditContext, primary: tuple[str, ...]) -> dict[str, float]:
    settings = ctx.spec.settings
    out = {}
    for m in primary:
        base = m.split("[")[0]
        out[m] = settings.fairness_margins.get(m, settings.fairness_margins.get(base, EQUIVALENCE_MARGINS[base]))
    return out


def grouped_statistic(cases, primary: tuple[str, ...], codes: dict[str, np.ndarray]) -> tuple[CaseMeans, list]:
    """One ``CaseMeans`` whose columns are each (partition, group code, metric): the metric where the case is in the
    group and counted, nan elsewhere."""
    cols, keys = [], []
    for name, inv in codes.items():
        for code in range(int(inv.max()) + 1):
            inside = inv == code
            for m in primary:
                base, s = m[:-1].split("[")
                x = cases.values[:, cases.structures.index(s), CASE_METRICS.index(base)]
                cols.append(np.where(inside, x, np.nan))
                keys.append((name, code, m))
    return CaseMeans(np.column_stack(cols), tuple(f"{k[0]}|{k[1]}|{k[2]}" for k in keys)), keys


def run(ctx: AuditContext) -> Section:
    attributes, site = list(ctx.spec.data.sensitive), ctx.spec.data.site
    if not attributes and site is None:
        return Section(NAME, "Subgroup fairness", "not run",
                       {"reason": "no sensitive attributes: list them in data.sensitive (or name a site column in data.site)"},
                       [Finding(NAME, "info", "The fairness check was not run: the spec names no sensitive attributes (data.sensitive).")])
    settings = ctx.spec.settings
    primary = primary_metrics(ctx)
    margin_of = margins(ctx, primary)
    per_dataset, findings, figures, criteria = {}, [], {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"fairness: subgroups of {ds.name}")
        partitions = build_partitions(ds, attributes, site, settings.intersectional, settings.max_groups)
        too_large = intersection_too_large(ds, attributes, settings.max_groups) if settings.intersectional else None
        findings += [too_large] if too_large else []
        data, ds_findings, ds_criteria = analyse(ds, partitions, ctx, primary, margin_of)
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
            "task": "segmentation", "confidence": settings.confidence,
            "reference": "configured" if settings.reference_groups else "largest", "multiplicity": "max-t",
            "min_group_size": settings.min_group_size, "min_group_events": settings.min_group_events,
            "margins": margin_of, "primary": list(primary), "criteria": criteria, "metrics": list(primary), "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=fairness_evidence([p for d in per_dataset.values() for p in d["partitions"]]),
    )


def analyse(ds: EvaluatedDataset, partitions: list[Partition], ctx: AuditContext, primary, margin_of):
    settings = ctx.spec.settings
    rules = IntervalRules.from_settings(settings)
    design = ctx.design(ds)
    kernel, keys = grouped_statistic(ds.cases, primary, {p.name: p.codes for p in partitions})
    boot = ctx.engine.bootstrap(kernel, design, ctx.stream(ds))
    column = {key: j for j, key in enumerate(keys)}
    own = segmentation_estimates(ctx, ds)
    overall = {m: own[m[:-1].split("[")[1]][m.split("[")[0]].to_dict() for m in primary}
    present = np.isin(ds.cases.status, (BOTH_PRESENT, MISSED))

    def built(part):
        cells = [group_cell(ds, part, label, code, boot, column, design.clusters, settings, primary, present)
                 for code, label in enumerate(part.groups)]
        return cells, [{"label": c.label, "n": int(c.rows.sum()), "n_events": c.events, "status": c.status, "reason": c.reason,
                        "metrics": {m: c.estimates[m].to_dict() for m in primary}} for c in cells]

    judged, findings, criteria = judge_partitions(ds, ctx, partitions, built, boot, column, rules, margin_of, primary)
    return {"overall": overall, **judged}, findings, criteria


def group_cell(ds, part: Partition, label: str, code: int, boot, column, clusters, settings, primary, present) -> GroupCell:
    rows = part.rows(label)
    n = int(rows.sum())
    events = int(present[rows].sum(axis=0).min())  # cases holding the scarcest structure
    estimates = {}
    for m in primary:
        est = boot.estimate_at(column[(part.name, code, m)], n)
        estimates[m] = cluster_labelled(est, clusters is not None)
    reasons = too_small(n, None, settings)
    if events < settings.min_group_events:
        reasons.append(f"{events} cases holding a structure < {settings.min_group_events}")
    return GroupCell(label, code, rows, estimates, {m: estimates[m].value for m in primary}, dict.fromkeys(primary, 0.0),
                     "insufficient evidence" if reasons else "ok", "; ".join(reasons) or None, events)


__all__ = ["run"]
