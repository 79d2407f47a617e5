"""The fairness check: performance per subgroup and intersection, simultaneous inference on gaps, small groups shown but not judged.

For every dataset, the groups of each sensitive attribute (``data.sensitive``), of ``data.site``
when set, and of their intersection (``settings.intersectional``) are analysed from the dataset's
**one** resample stream under its sampling design (``AuditContext.design``): patients (or
clusters) are resampled as they were sampled, so a group's size and its events vary between
resamples as they would in another cohort, and every group's metric comes from the same
resampled patients (gaps are paired, replicate by replicate).

Per group: n, events, prevalence and ``auroc``, ``sensitivity``, ``specificity``, ``ppv``,
``npv``, ``fnr`` (underdiagnosis), ``fpr``, ``selection_rate``, ``brier``, each with the interval
``audit.stats.intervals`` gives it (Wilson or exact for proportions, logit-DeLong for the AUROC,
the bootstrap for the Brier score). Groups with fewer than ``settings.min_group_size`` patients or
fewer than ``settings.min_group_events`` patients with (or without) the outcome are "insufficient
evidence": shown with their intervals, never hidden, but they take part in no comparison, gap or
disparity. Missing attribute values form the group ``(missing)``.

Inference (``audit.stats.simultaneous``): every group is compared with its partition's reference
group (``settings.reference_groups[partition]``, default the largest); all comparisons of a
dataset (every partition, every metric) form **one family**, with simultaneous intervals and
adjusted p-values from the same single-step max-|T| bootstrap (Westfall & Young 1993),
studentised with standard errors that cannot vanish (Agresti–Caffo for proportions, Newcombe for
the AUROC, the bootstrap's when larger). An interval excludes 0 exactly when the adjusted p-value
is at most alpha. FNR and FPR mirror sensitivity and specificity and share their tests. Per
partition and metric, Cochran's Q tests heterogeneity across groups. The max − min gap and
fairlearn's ``demographic_parity_difference``, ``equal_opportunity_difference`` and
``equalized_odds_difference`` (over the adequately sized groups) are point estimates, biased
upward, with a one-sided simultaneous upper bound; they are never judged by "excludes 0".

Per-group point estimates equal fairlearn's ``MetricFrame`` with scikit-learn's metrics (tested);
they are taken from the engine, which computes them with the replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import dataset_estimates
from ..evidence import SHOWN, THIN
from ..groups import Partition, build_partitions, intersection_size, reference_group, too_small
from ..labels import EQUIVALENCE_MARGINS, HIGHER_IS_BETTER, LOWER_IS_BETTER, METRICS_BY_NAME, metric_label
from ..stats import Estimate
from ..stats.auroc import auroc_score_se
from ..stats.intervals import PREVALENCE_DEPENDENT, PROPORTIONS, IntervalRules, cell_estimates, counts
from ..stats.metrics import GroupedBinaryMetrics, ratio_or_nan
from ..stats.proportions import plus_two
from ..stats.simultaneous import max_t, spread_upper_bound, standard_errors
from ..verdicts import criterion, target_criterion, worst
from .base import Finding, Section

NAME = "fairness"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass", "multilabel", "survival", "segmentation")
METRICS: tuple[str, ...] = ("auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr", "selection_rate", "brier")
#: What the kernel and the per-group estimates compute: the compared metrics and the prevalence.
GROUP_METRICS: tuple[str, ...] = METRICS + ("prevalence",)
#: fnr and fpr mirror sensitivity and specificity (same gap, opposite sign): tested once, via the mirror.
MIRRORS = {"fnr": "sensitivity", "fpr": "specificity"}
DISPARITIES = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")


def run(ctx: AuditContext) -> Section:
    if ctx.task.name == "multiclass":
        from . import fairness_multiclass

        return fairness_multiclass.run(ctx)
    if ctx.task.name == "multilabel":
        from . import fairness_multilabel

        return fairness_multilabel.run(ctx)
    if ctx.task.name == "survival":
        from . import fairness_survival

        return fairness_survival.run(ctx)
    if ctx.task.name == "segmentation":
        from . import fairness_segmentation

        return fairness_segmentation.run(ctx)
    attributes = list(ctx.spec.data.sensitive)
    site = ctx.spec.data.site
    if not attributes and site is None:
        return Section(
            NAME, "Subgroup fairness", "not run",
            {"reason": "no sensitive attributes: list them in data.sensitive (or name a site column in data.site)"},
            [Finding(NAME, "info", "The fairness check was not run: the spec names no sensitive attributes (data.sensitive).")],
        )
    settings = ctx.spec.settings
    per_dataset, findings, figures = {}, [], {}
    for ds in ctx.datasets.values():
        ctx.report_progress(f"fairness: subgroups of {ds.name}")
        partitions = build_partitions(ds, attributes, site, settings.intersectional, settings.max_groups)
        too_large = intersection_too_large(ds, attributes, settings.max_groups) if settings.intersectional else None
        findings += [too_large] if too_large else []
        data, ds_findings = analyse(ds, partitions, ctx)
        per_dataset[ds.name] = data
        findings += ds_findings
        figures[f"forest_{ds.name}"] = plots.forest_figure(
            data["partitions"], list(METRICS), ds.name, {m: e["value"] for m, e in data["overall"].items()},
            confidence=settings.confidence,
        )
    criteria = [c for d in per_dataset.values() for c in d.pop("criteria")]
    evidence = fairness_evidence([p for d in per_dataset.values() for p in d["partitions"]])
    return Section(
        name=NAME,
        title="Subgroup fairness",
        status=worst(c["verdict"] for c in criteria),
        data={
            "threshold": settings.threshold,
            "confidence": settings.confidence,
            "reference": "configured" if settings.reference_groups else "largest",
            "multiplicity": "max-t",
            "sampling": settings.sampling,
            "min_group_size": settings.min_group_size,
            "min_group_events": settings.min_group_events,
            "margins": margins(settings),
            "criteria": criteria,
            "metrics": list(METRICS),
            "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=evidence,
    )


def fairness_evidence(partitions: list[dict]) -> dict[str, str]:
    """The keys the partitions show: ``fairness.*`` from the sensitive attributes only (a site is not a
    sensitive attribute: it gives ``sites.comparison``). A key is shown when some partition of its kind
    has two groups large enough to compare, and thin when none has."""
    def state(kinds: set[str]) -> str | None:
        parts = [p for p in partitions if p["kind"] in kinds]
        if not parts:
            return None
        return SHOWN if any(sum(g["status"] == "ok" for g in p["groups"]) >= 2 for p in parts) else THIN

    evidence = {}
    for keys, kinds in ((("fairness.subgroups", "fairness.gaps"), {"attribute", "intersection"}),
                        (("fairness.intersectional",), {"intersection"}), (("sites.comparison",), {"site"})):
        found = state(kinds)
        if found is not None:
            evidence |= dict.fromkeys(keys, found)
    return evidence


# --------------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------------


def intersection_too_large(ds: EvaluatedDataset, attributes: list[str], max_groups: int) -> Finding | None:
    """A finding when the intersection of ``attributes`` on ``ds`` has more groups than ``max_groups``."""
    if len(attributes) < 2:
        return None
    count = intersection_size(ds.dataset.frame, attributes)
    if count <= max_groups:
        return None
    return Finding(NAME, "info", f"The intersection of {', '.join(attributes)} on {ds.name} has {count} groups, more than "
                                 f"settings.max_groups ({max_groups}); it was not analysed. Raise settings.max_groups to "
                                 "analyse it, or set settings.intersectional: false.", ds.name)


# --------------------------------------------------------------------------------------------
# Analysis of one dataset
# --------------------------------------------------------------------------------------------

#: The upper limit of each metric's spread (for the one-sided bound).
SPREAD_LIMIT = 1.0


@dataclass(frozen=True)
class GroupCell:
    """One group's rows and what inference on it needs: estimates, interval centres, analytic SEs."""

    label: str
    code: int
    rows: np.ndarray
    estimates: dict[str, Estimate]
    centres: dict[str, float]  # Agresti–Caffo p~ for proportions, the estimate otherwise
    analytic_se: dict[str, float]  # from counts; 0 where only the bootstrap gives one (Brier)
    status: str
    reason: str | None
    events: int


def analyse(ds: EvaluatedDataset, partitions: list[Partition], ctx: AuditContext) -> tuple[dict, list[Finding]]:
    settings = ctx.spec.settings
    rules = IntervalRules.from_settings(settings)
    design = ctx.design(ds)
    kernel = GroupedBinaryMetrics(ds.y, ds.p, {p.name: p.codes for p in partitions}, settings.threshold, GROUP_METRICS, overall=False)
    boot = ctx.engine.bootstrap(kernel, design, ctx.stream(ds))
    column = {key: j for j, key in enumerate(kernel.columns)}
    overall = dataset_estimates(ctx, ds)

    results, family = [], []
    cells_by_part = {}
    for part in partitions:
        cells = [group_cell(ds, part, label, code, boot, column, rules, design.clusters, ctx) for code, label in enumerate(part.groups)]
        cells_by_part[part.name] = cells
        groups = [group_summary(c) for c in cells]
        reference = reference_group(part, groups, settings.reference_groups)
        results.append({
            "name": part.name,
            "kind": part.kind,
            "attributes": list(part.attributes),
            "reference": reference,
            "groups": groups,
            "gaps": gaps(part, cells, reference, boot, column, family, rules),
            "heterogeneity": heterogeneity(part, cells, boot, column),
            "disparities": disparities(part, cells, boot, column, rules),
        })
    simultaneous = adjust(family, boot, settings.confidence)
    classify(family, margins(settings))
    findings = explain(family, ds, ctx, simultaneous)
    criteria = partition_criteria(results, ds.name, margins(settings), settings.confidence)
    if settings.targets_by_group and settings.targets:
        criteria += group_target_criteria(ds, partitions, cells_by_part, boot, column, rules, design.clusters, settings)
    findings += [
        Finding(NAME, "info", f"{part['name']}: group {g['label']} has too little evidence to judge ({g['reason']}); it is shown "
                "with exact or score intervals and takes part in no comparison, gap or disparity.", ds.name)
        for part in results for g in part["groups"] if g["status"] != "ok"
    ]
    overall_row = {m: overall[m].to_dict() for m in METRICS}
    return {"overall": overall_row, "simultaneous": simultaneous, "partitions": results, "criteria": criteria}, findings


def group_cell(ds, part: Partition, label: str, code: int, boot, column, rules: IntervalRules, clusters, ctx) -> GroupCell:
    settings = ctx.spec.settings
    rows = part.rows(label)
    y, p = ds.y[rows], ds.p[rows]
    n, events = int(rows.sum()), int(y.sum())
    reasons = too_small(n, events, settings)
    estimates = cell_estimates(
        y, p, settings.threshold, GROUP_METRICS, lambda m: boot.estimate_at(column[(part.name, code, m)], n), rules,
        None if clusters is None else np.asarray(clusters)[rows],
    )
    table = counts(y, p, settings.threshold)
    centres, analytic = {}, {}
    for m in METRICS:
        value = estimates[m].value
        if m in PROPORTIONS:
            num, den = PROPORTIONS[m]
            centres[m], analytic[m] = plus_two(table[num], table[den])
        elif m == "auroc" and np.isfinite(value):
            centres[m], analytic[m] = value, auroc_score_se(value, table["pos"], table["neg"], settings.confidence)
        else:
            centres[m], analytic[m] = value, 0.0
    status = "insufficient evidence" if reasons else "ok"
    return GroupCell(label, code, rows, estimates, centres, analytic, status, "; ".join(reasons) or None, events)


def group_summary(cell: GroupCell) -> dict:
    return {
        "label": cell.label,
        "n": int(cell.rows.sum()),
        "n_events": cell.events,
        "status": cell.status,
        "reason": cell.reason,
        "prevalence": cell.estimates["prevalence"].to_dict(),
        "metrics": {m: cell.estimates[m].to_dict() for m in METRICS},
    }


def comparable(metric: str, cell: GroupCell, rules: IntervalRules) -> bool:
    """A group's metric enters comparisons: enough evidence, an estimate, and defined under the design."""
    if cell.status != "ok" or not np.isfinite(cell.estimates[metric].value):
        return False
    return not (rules.sampling == "case-control" and metric in PREVALENCE_DEPENDENT)


@dataclass
class Comparison:
    """One group against its partition's reference for one metric: a member of the dataset's max-T family."""

    part: Partition
    metric: str
    group: str
    reference: str
    column: int  # replicate column of the group
    reference_column: int
    estimate: float
    centre: float
    analytic_se: float
    n: int  # patients in the group and the reference
    row: dict  # the results.json row, filled in by ``adjust``


def gaps(part: Partition, cells: list[GroupCell], reference: str, boot, column, family: list, rules: IntervalRules,
         metrics: tuple[str, ...] = METRICS) -> dict:
    """Per metric: comparisons with the reference (rows filled in by ``adjust``), max − min with its upper bound, worst group."""
    ref = next(c for c in cells if c.label == reference)
    out = {}
    for m in metrics:
        ok = [c for c in cells if comparable(m, c, rules)]
        rows = []
        if comparable(m, ref, rules):
            for c in ok:
                if c is ref:
                    continue
                ratio = ratio_or_nan(np.array(c.estimates[m].value), np.array(ref.estimates[m].value)).item()
                n_pair = int(c.rows.sum() + ref.rows.sum())
                row = {"group": c.label, "difference": None,
                       "ratio": Estimate(ratio, None, "point-estimate", n_pair, reason="no interval: inference is on the difference").to_dict(),
                       "p_value": None, "p_adjusted": None, "significant": None}
                rows.append(row)
                if m not in MIRRORS:
                    family.append(Comparison(
                        part, m, c.label, reference, column[(part.name, c.code, m)], column[(part.name, ref.code, m)],
                        c.estimates[m].value - ref.estimates[m].value, c.centres[m] - ref.centres[m],
                        float(np.hypot(c.analytic_se[m], ref.analytic_se[m])), n_pair, row,
                    ))
        spread = spread_estimate([m], ok, part, boot, column, rules)
        out[m] = {"worst": worst_group(m, [{"label": c.label, "metrics": {m: c.estimates[m].to_dict()}} for c in ok]),
                  "max_min": spread, "comparisons": rows}
    for m, mirror in MIRRORS.items():  # fnr / fpr: the mirror's comparison with the sign turned
        if m not in out:
            continue
        for row, twin in zip(out[m]["comparisons"], out[mirror]["comparisons"]):
            family.append(("mirror", twin, row))
    return out


def spread_estimate(metrics: list[str], cells: list[GroupCell], part: Partition, boot, column, rules: IntervalRules) -> dict | None:
    """Max − min of groups' values (largest over ``metrics``) with a one-sided simultaneous upper bound."""
    blocks = []
    for m in metrics:
        ok = [c for c in cells if comparable(m, c, rules)]
        if len(ok) < 2:
            continue
        cols = [column[(part.name, c.code, m)] for c in ok]
        blocks.append((
            [c.estimates[m].value for c in ok], [c.centres[m] for c in ok], [c.analytic_se[m] for c in ok], boot.replicates[:, cols],
        ))
    if not blocks:
        return None
    bound = spread_upper_bound(blocks, boot.confidence, SPREAD_LIMIT)
    n = int(sum(c.rows.sum() for c in cells if c.status == "ok"))
    if not np.isfinite(bound.upper):
        return Estimate(bound.value, None, "max-t-bootstrap", n, reason="no interval: the groups' standard errors are undefined").to_dict()
    return Estimate(bound.value, (np.nan, bound.upper), "max-t-bootstrap", n, sides="upper",
                    simultaneous=f"max-T over {bound.n_pairs} pairs of groups").to_dict()


def worst_group(metric: str, groups: list[dict]) -> str | None:
    values = [(g["metrics"][metric]["value"], g["label"]) for g in groups if g["metrics"][metric]["value"] is not None]
    base = metric.split("[")[0]  # a per-class metric (sensitivity[3]) goes the way of its metric
    if len(values) < 2 or base not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return None
    pick = min if base in HIGHER_IS_BETTER else max
    return pick(values, key=lambda v: v[0])[1]


def heterogeneity(part: Partition, cells: list[GroupCell], boot, column, metrics: tuple[str, ...] = METRICS) -> dict:
    """Cochran's Q of each metric across the partition's adequately sized groups: ``sum w_g (theta_g - theta_w)^2``,
    ``w_g = 1 / se_g^2`` (se: the larger of the bootstrap and the analytic), chi-square with ``G - 1`` df."""
    out = {}
    for m in metrics:
        ok = [c for c in cells if c.status == "ok" and np.isfinite(c.estimates[m].value)]
        if len(ok) < 2:
            out[m] = None
            continue
        reps = boot.replicates[:, [column[(part.name, c.code, m)] for c in ok]]
        se = standard_errors(reps, [c.analytic_se[m] for c in ok])
        if not np.all(np.isfinite(se)):
            out[m] = None
            continue
        theta = np.array([c.estimates[m].value for c in ok])
        w = 1.0 / se**2
        q = float(np.sum(w * (theta - np.sum(w * theta) / np.sum(w)) ** 2))
        out[m] = {"statistic": q, "df": len(ok) - 1, "p_value": float(chi2.sf(q, len(ok) - 1))}
    return out


def disparities(part: Partition, cells: list[GroupCell], boot, column, rules: IntervalRules) -> dict:
    """fairlearn's three disparity differences over the adequately sized groups, each with its simultaneous upper bound."""
    specs = {
        "demographic_parity_difference": ["selection_rate"],
        "equalized_odds_difference": ["sensitivity", "fpr"],
        "equal_opportunity_difference": ["sensitivity"],
    }
    out = {}
    for name, metrics in specs.items():
        est = spread_estimate(metrics, cells, part, boot, column, rules)
        if est is None:
            why = ("not estimable under case-control sampling" if rules.sampling == "case-control" and name == "demographic_parity_difference"
                   else "not estimable: fewer than two groups with enough evidence")
            est = Estimate(np.nan, None, "max-t-bootstrap", 0, reason=why).to_dict()
        out[name] = est
    return out


# --------------------------------------------------------------------------------------------
# Multiplicity and findings
# --------------------------------------------------------------------------------------------


def adjust(family: list, boot, confidence: float) -> dict:
    """Simultaneous intervals and max-T adjusted p-values for every comparison of the dataset (one family)."""
    tests = [c for c in family if isinstance(c, Comparison)]
    description = None
    if tests:
        reps = boot.replicates[:, [c.column for c in tests]] - boot.replicates[:, [c.reference_column for c in tests]]
        se = standard_errors(reps, [c.analytic_se for c in tests])
        result = max_t([c.estimate for c in tests], reps, se, confidence, centre=[c.centre for c in tests])
        description = f"max-T over {result.n_comparisons} comparisons"
        for k, c in enumerate(tests):
            n = c.n
            if np.isfinite(result.low[k]):
                ci, reason = (max(-1.0, result.low[k]), min(1.0, result.high[k])), None
            else:
                ci, reason = None, "no interval: the standard error of this difference is undefined"
            c.row["difference"] = Estimate(c.estimate, ci, "max-t-bootstrap", n, reason=reason,
                                           simultaneous=description if ci else None).to_dict()
            c.row["p_value"] = None if not np.isfinite(result.p_unadjusted[k]) else float(result.p_unadjusted[k])
            c.row["p_adjusted"] = None if not np.isfinite(result.p_adjusted[k]) else float(result.p_adjusted[k])
            c.row["significant"] = None if ci is None else bool(ci[0] > 0 or ci[1] < 0)
        critical = result.critical
    else:
        critical = None
    for entry in family:
        if isinstance(entry, tuple):
            _, twin, row = entry
            d = twin["difference"]
            if d is not None:
                mirrored = dict(d)
                mirrored["value"] = None if d["value"] is None else -d["value"]
                mirrored["ci"] = None if d["ci"] is None else [-d["ci"][1], -d["ci"][0]]
                row["difference"] = mirrored
            row["p_value"], row["p_adjusted"], row["significant"] = twin["p_value"], twin["p_adjusted"], twin["significant"]
    return {"method": "max-t-bootstrap", "comparisons": len(tests), "critical_value": critical, "description": description}


def group_target_criteria(ds, partitions, cells_by_part, boot, column, rules: IntervalRules, clusters, settings) -> list[dict]:
    """``settings.targets`` judged in every adequately sized group (``settings.targets_by_group``), by the
    one-sided bounds of the group's own estimates (same resamples, two-sided ``1 - 2 alpha`` intervals)."""
    rules = rules.one_sided()
    boot = boot.at_confidence(rules.confidence)
    targets = {m: t for m, t in settings.targets.items() if m in METRICS}
    out = []
    for part in partitions:
        for cell in cells_by_part[part.name]:
            if cell.status != "ok":
                continue
            n = int(cell.rows.sum())
            est = cell_estimates(ds.y[cell.rows], ds.p[cell.rows], settings.threshold, tuple(targets),
                                 lambda m, c=cell: boot.estimate_at(column[(part.name, c.code, m)], n), rules,
                                 None if clusters is None else np.asarray(clusters)[cell.rows])
            out += [target_criterion(m, t, est[m].to_dict(), settings.confidence, ds.name, f", {part.display(cell.label)}")
                    for m, t in targets.items()]
    return out


def judge_partitions(ds: EvaluatedDataset, ctx: AuditContext, partitions: list[Partition], built, boot, column,
                     rules: IntervalRules, margin_of: dict[str, float], metrics: tuple[str, ...]) -> tuple[dict, list[Finding], list[dict]]:
    """What every task's fairness analysis does once its groups are built: per partition, the reference group,
    the gaps to it and the heterogeneity across groups; the dataset's family of gaps adjusted together (max-T)
    and classified against the margins; findings, one per group too small to judge, and the criteria.

    ``built(part)`` gives the partition's ``(cells, groups)``: its ``GroupCell`` s for inference and their rows as
    shown (``group_summary``). Returns ``({"simultaneous", "partitions"}, findings, criteria)``.
    """
    settings = ctx.spec.settings
    results, family = [], []
    for part in partitions:
        cells, groups = built(part)
        reference = reference_group(part, groups, settings.reference_groups)
        results.append({
            "name": part.name, "kind": part.kind, "attributes": list(part.attributes), "reference": reference, "groups": groups,
            "gaps": gaps(part, cells, reference, boot, column, family, rules, metrics),
            "heterogeneity": heterogeneity(part, cells, boot, column, metrics),
            "disparities": {},
        })
    simultaneous = adjust(family, boot, settings.confidence)
    classify(family, margin_of)
    findings = explain(family, ds, ctx, simultaneous)
    criteria = partition_criteria(results, ds.name, margin_of, settings.confidence, metrics)
    findings += [
        Finding(NAME, "info", f"{part['name']}: group {g['label']} has too little evidence to judge ({g['reason']}); it is shown "
                "with its intervals and takes part in no comparison or gap.", ds.name)
        for part in results for g in part["groups"] if g["status"] != "ok"
    ]
    return {"simultaneous": simultaneous, "partitions": results}, findings, criteria


def margins(settings) -> dict[str, float]:
    """Equivalence margins per metric of a binary audit: the defaults of ``labels.EQUIVALENCE_MARGINS`` for the
    binary metrics, with the spec's overrides."""
    binary = {m: v for m, v in EQUIVALENCE_MARGINS.items() if "binary" in METRICS_BY_NAME[m].tasks}
    return {**binary, **settings.fairness_margins}


def classify(family: list, margin_of: dict[str, float]) -> None:
    """Each comparison's row gets ``margin`` and ``classification``; a mirror (FNR, FPR) copies its twin's."""
    for entry in family:
        if isinstance(entry, Comparison):
            entry.row["margin"] = margin_of.get(entry.metric)
            entry.row["classification"] = gap_class(entry.row["difference"], margin_of.get(entry.metric))
    for entry in family:
        if not isinstance(entry, Comparison):
            _, twin, row = entry
            row["margin"], row["classification"] = twin.get("margin"), twin.get("classification")


def gap_class(difference: dict | None, margin: float | None) -> str:
    """Equivalence classification of one gap from its simultaneous interval (module docstring)."""
    if margin is None:
        return "not judged"
    if difference is None or difference.get("value") is None or not difference.get("ci"):
        return "inconclusive"
    lo, hi = difference["ci"]
    value = difference["value"]
    if -margin < lo and hi < margin:
        return "within margin"
    if lo > 0 or hi < 0:
        return "material gap" if abs(value) > margin else "small gap"
    return "inconclusive"


def partition_criteria(partitions: list[dict], dataset: str, margin_of: dict[str, float], confidence: float,
                       metrics: tuple[str, ...] = METRICS) -> list[dict]:
    """One criterion per partition: pass when every judged comparison is within margin, fail on a material gap,
    insufficient evidence without two adequately sized groups, otherwise inconclusive."""
    level = f"{confidence:.0%}"
    shown = ", ".join(dict.fromkeys(f"{metric_label(m.split('[')[0], short=True)}{_each(m)} {v:g}{_unit(m)}"
                                    for m, v in margin_of.items() if m not in MIRRORS))
    rule = (f"pass when every gap's simultaneous {level} interval lies within the equivalence margin ({shown}); "
            "fail when a gap is material (its interval excludes 0 and its estimate lies beyond the margin); "
            "otherwise inconclusive")
    out = []
    for part in partitions:
        rows = [c for m in metrics if m not in MIRRORS and m in margin_of for c in part["gaps"][m]["comparisons"]]
        classes = [c.get("classification") for c in rows]
        if not rows:
            verdict, reason = "insufficient evidence", "fewer than two groups with enough evidence"
        elif "material gap" in classes:
            verdict, reason = "fail", None
        elif all(k == "within margin" for k in classes):
            verdict, reason = "pass", None
        else:
            verdict, reason = "inconclusive", f"{sum(k == 'within margin' for k in classes)} of {len(rows)} gaps shown within margin"
        out.append(criterion(f"gaps by {part['name']} within margin", rule, verdict, dataset, None, None, None, reason))
    return out


def _each(metric: str) -> str:
    """" of each class" (" of each structure" for segmentation metrics) after a per-class metric's name."""
    if "[" not in metric:
        return ""
    return " of each structure" if "segmentation" in METRICS_BY_NAME[metric.split("[")[0]].tasks else " of each class"


def _unit(metric: str) -> str:
    """" mm" after a margin of a segmentation distance (its label says "(mm)" only in tables)."""
    return " mm" if metric.split("[")[0] in ("hd95", "hd", "masd", "assd") else ""


def explain(family: list, ds: EvaluatedDataset, ctx: AuditContext, simultaneous: dict) -> list[Finding]:
    """Material and small gaps as sentences; the rest summarised in one."""
    settings = ctx.spec.settings
    level = f"{settings.confidence:.0%}"
    findings = []
    tests = [c for c in family if isinstance(c, Comparison)]
    for c in tests:
        d, kind = c.row["difference"], c.row.get("classification")
        if not c.row["significant"]:
            continue
        severity = "warning" if kind == "material gap" else "info"
        word = "lower" if d["value"] < 0 else "higher"
        note = " (this also reflects differences in prevalence)" if c.metric == "selection_rate" else ""
        margin = f"; {kind}, margin ±{c.row['margin']:g}" if c.row.get("margin") is not None else ""
        findings.append(Finding(
            NAME, severity,
            f"{metric_label(c.metric, short=True)} is {abs(d['value']):.2f} {word} for {c.part.display(c.group)} than for "
            f"{c.part.display(c.reference)} ({level} simultaneous CI {_magnitude_ci(d['ci'])}; adjusted p = {c.row['p_adjusted']:.2g}, "
            f"{simultaneous['description']}{margin}){note}.",
            ds.name,
        ))
    if tests and not findings:
        within = sum(c.row.get("classification") == "within margin" for c in tests)
        findings.append(Finding(
            NAME, "info",
            f"No gap between groups is significant on {ds.name}: every simultaneous {level} interval of the {len(tests)} "
            f"comparisons with the reference groups contains 0 ({simultaneous['description']}); {within} of them are shown to lie "
            "within their equivalence margin, the others are inconclusive (absence of evidence is not evidence of no gap).",
            ds.name,
        ))
    return findings


def _magnitude_ci(ci: list[float]) -> str:
    """The interval of a gap's size when it excludes zero ("0.05 to 0.19"), else the signed interval."""
    lo, hi = ci
    if lo * hi > 0:
        a, b = sorted((abs(lo), abs(hi)))
        return f"{a:.2f} to {b:.2f}"
    return f"{lo:+.2f} to {hi:+.2f} for the difference"
