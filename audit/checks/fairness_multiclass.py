"""The fairness check of a multiclass audit: the binary check's groups, gaps and simultaneous inference, with the
task's metrics.

Primary metrics drive the verdict: **balanced accuracy** and **each class's one-vs-rest sensitivity**
(``sensitivity[<class>]``: the share of a group's patients of that class whom the model assigns to it — a
group whose severe cases are called mild is underdiagnosed). Accuracy, macro-F1 and the macro one-vs-rest
AUROC are shown per group, descriptive only. Every group's metrics come from the dataset's one resample
stream (``audit.stats.multiclass.GroupedMulticlassMetrics``), compared with the partition's reference group
in one max-T family per dataset, and judged against equivalence margins (``settings.fairness_margins``:
``balanced_accuracy`` and ``sensitivity``, default 0.05 each) exactly as in the binary check
(``audit.checks.fairness``). Small groups (``settings.min_group_size``) are shown, never judged; a class's
sensitivity in a group with fewer than ``settings.min_group_events`` patients of that class is shown, not
compared. Intervals: Wilson or exact for the proportions (accuracy and sensitivities), the bootstrap for the
rest, the cluster bootstrap under ``data.cluster``.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import multiclass_estimates
from ..groups import Partition, build_partitions, too_small
from ..stats import Estimate
from ..stats.estimate import not_estimable
from ..stats.intervals import IntervalRules, proportion_estimate
from ..stats.multiclass import GroupedMulticlassMetrics, decisions, per_class_name
from ..stats.proportions import plus_two
from ..tasks.multiclass import label_text
from ..verdicts import worst
from .base import Finding, Section
from .fairness import NAME, GroupCell, fairness_evidence, intersection_too_large, judge_partitions

#: Whole-group metrics: the first drives the verdict with the per-class sensitivities, the rest are descriptive.
GROUP_METRICS = ("balanced_accuracy", "accuracy", "macro_f1", "auroc_ovr_macro")
DEFAULT_MARGIN = 0.05


def metric_names(labels: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every metric shown per group, the primary metrics that drive the verdict) as the section names them."""
    per_class = tuple(f"sensitivity[{label}]" for label in labels)
    return GROUP_METRICS + per_class, ("balanced_accuracy",) + per_class


def margins(settings, labels: list[str]) -> dict[str, float]:
    """Equivalence margins of the primary metrics: ``settings.fairness_margins`` for balanced accuracy and
    sensitivity (every class's), else 0.05."""
    given = settings.fairness_margins
    out = {"balanced_accuracy": given.get("balanced_accuracy", DEFAULT_MARGIN)}
    out |= {f"sensitivity[{label}]": given.get("sensitivity", DEFAULT_MARGIN) for label in labels}
    return out


def run(ctx: AuditContext) -> Section:
    attributes, site = list(ctx.spec.data.sensitive), ctx.spec.data.site
    if not attributes and site is None:
        return Section(NAME, "Subgroup fairness", "not run",
                       {"reason": "no sensitive attributes: list them in data.sensitive (or name a site column in data.site)"},
                       [Finding(NAME, "info", "The fairness check was not run: the spec names no sensitive attributes (data.sensitive).")])
    settings = ctx.spec.settings
    labels = [label_text(c) for c in ctx.task.classes(ctx.spec.data)]
    shown_metrics, primary = metric_names(labels)
    margin_of = margins(settings, labels)
    per_dataset, findings, figures, criteria = {}, [], {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"fairness: subgroups of {ds.name}")
        partitions = build_partitions(ds, attributes, site, settings.intersectional, settings.max_groups)
        too_large = intersection_too_large(ds, attributes, settings.max_groups) if settings.intersectional else None
        findings += [too_large] if too_large else []
        data, ds_findings, ds_criteria = analyse(ds, partitions, ctx, labels, shown_metrics, margin_of)
        per_dataset[ds.name] = data
        findings += ds_findings
        criteria += ds_criteria
        figures[f"forest_{ds.name}"] = plots.forest_figure(
            data["partitions"], list(primary), ds.name, {m: e["value"] for m, e in data["overall"].items()},
            confidence=settings.confidence)
    return Section(
        name=NAME,
        title="Subgroup fairness",
        status=worst(c["verdict"] for c in criteria),
        data={
            "task": "multiclass",
            "decision": "the most probable class",
            "confidence": settings.confidence,
            "reference": "configured" if settings.reference_groups else "largest",
            "multiplicity": "max-t",
            "sampling": settings.sampling,
            "min_group_size": settings.min_group_size,
            "min_group_events": settings.min_group_events,
            "margins": margin_of,
            "primary": list(primary),
            "criteria": criteria,
            "metrics": list(shown_metrics),
            "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=fairness_evidence([p for d in per_dataset.values() for p in d["partitions"]]),
    )


def analyse(ds: EvaluatedDataset, partitions: list[Partition], ctx: AuditContext, labels, shown_metrics, margin_of):
    settings = ctx.spec.settings
    rules = IntervalRules.from_settings(settings)
    design = ctx.design(ds)
    k = len(labels)
    kernel_names = GROUP_METRICS + tuple(per_class_name("sensitivity", c) for c in range(k))
    kernel = GroupedMulticlassMetrics(ds.y, ds.p, {p.name: p.codes for p in partitions}, kernel_names)
    boot = ctx.engine.bootstrap(kernel, design, ctx.stream(ds))
    column = {(part, code, name): j for j, (part, code, name) in enumerate(kernel.columns)}
    # the section's names for the kernel's columns: sensitivity[<label>] for sensitivity[<code>]
    kernel_of = dict(zip(shown_metrics, kernel_names))
    column |= {(part, code, shown): column[(part, code, kernel_of[shown])] for (part, code, _) in list(column) for shown in shown_metrics}
    overall_est = multiclass_estimates(ctx, ds)
    overall = {m: overall_est["metrics"][m].to_dict() for m in GROUP_METRICS}
    overall |= {f"sensitivity[{labels[c]}]": overall_est["per_class"][c]["sensitivity"].to_dict() for c in range(k)}

    def built(part):
        made = [group_cell(ds, part, label, code, boot, column, rules, design.clusters, settings, labels)
                for code, label in enumerate(part.groups)]
        return ([cell for cell, _ in made],
                [group_summary(cell, shown, np.asarray(ds.y)[cell.rows], labels, shown_metrics) for cell, shown in made])

    judged, findings, criteria = judge_partitions(ds, ctx, partitions, built, boot, column, rules, margin_of, shown_metrics)
    return {"overall": overall, **judged}, findings, criteria


def group_cell(ds, part: Partition, label: str, code: int, boot, column, rules, clusters, settings, labels) -> tuple[GroupCell, dict]:
    """One group's cell for inference and its estimates as shown; a class's sensitivity with fewer than
    ``min_group_events`` patients of the class in the group is shown but kept out of the comparisons."""
    rows = part.rows(label)
    y, decided = np.asarray(ds.y)[rows], decisions(ds.p[rows])
    n = int(rows.sum())

    def booted(m: str) -> Estimate:
        est = boot.estimate_at(column[(part.name, code, m)], n)
        return est if clusters is None else Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason)

    estimates, centres, analytic = {}, {}, {}
    correct = int((decided == y).sum())
    estimates["accuracy"] = proportion_estimate(correct, n, rules) if clusters is None else booted("accuracy")
    centres["accuracy"], analytic["accuracy"] = plus_two(correct, n)
    for m in ("balanced_accuracy", "macro_f1", "auroc_ovr_macro"):
        estimates[m] = booted(m)
        centres[m], analytic[m] = estimates[m].value, 0.0
    few = []
    for c, class_label in enumerate(labels):
        m = f"sensitivity[{class_label}]"
        positive = y == c
        tp, pos = int((decided[positive] == c).sum()), int(positive.sum())
        if pos == 0:
            estimates[m] = not_estimable("not estimable: no patient of this class in the group", "wilson", 0)
        else:
            estimates[m] = proportion_estimate(tp, pos, rules) if clusters is None else booted(m)
        centres[m], analytic[m] = plus_two(tp, pos)
        if 0 < pos < settings.min_group_events:
            few.append(class_label)
    reasons = too_small(n, None, settings)
    inference = dict(estimates)
    for class_label in few:  # shown, not compared
        m = f"sensitivity[{class_label}]"
        inference[m] = Estimate(np.nan, None, estimates[m].method, estimates[m].n,
                                reason=f"fewer than {settings.min_group_events} patients of class {class_label} in the group")
    cell = GroupCell(label, code, rows, inference, centres, analytic, "insufficient evidence" if reasons else "ok",
                     "; ".join(reasons) or None, n)
    return cell, estimates


def group_summary(cell: GroupCell, shown: dict, y: np.ndarray, labels: list[str], shown_metrics) -> dict:
    counts = dict(zip(labels, np.bincount(np.asarray(y, dtype=np.int64), minlength=len(labels)).tolist()))
    return {
        "label": cell.label,
        "n": int(cell.rows.sum()),
        "n_events": None,
        "status": cell.status,
        "reason": cell.reason,
        "classes": counts,
        "metrics": {m: shown[m].to_dict() for m in shown_metrics},
        "not_compared": [m for m in shown_metrics if np.isfinite(shown[m].value) and not np.isfinite(cell.estimates[m].value)],
    }
