"""The performance check of a segmentation audit: per structure, each metric summarised over cases.

Per dataset and structure (``audit.estimates.segmentation_estimates``): the mean of Dice, IoU, HD95, HD, NSD (with a
tolerance), MASD, ASSD and the volume differences over the counted cases (bootstrap over cases, patients' cases
together), the median with its order-statistic interval, beside each the mean over detected cases and the detection
rate; lesion-wise sensitivity and false-positive lesions per case; the worst cases by id; and every case's values
(``cases[]``) so a reviewer can recompute anything. The empty-mask policy is stated with the numbers.

Verdict: per structure, the mean Dice's interval above 0 (the model overlaps the reference at all; a model that
predicts nothing scores 0); ``settings.targets`` by one-sided bounds of the means.
"""

from __future__ import annotations

import math

import numpy as np

from ..context import AuditContext
from ..estimates import DETECTED_SUFFIX, segmentation_estimates, segmentation_metrics
from ..evidence import shown
from ..stats.segmentation import CASE_METRICS, STATUS
from ..verdicts import criterion, judge_interval_against, target_criterion, worst
from .base import Finding, Section

NAME = "performance"
#: Cases listed as the worst per structure (lowest Dice).
WORST_CASES = 5
#: Below this many counted cases the cluster bootstrap of a mean undercovers when failures are rare (a miss rate of
#: 10% is unseen in 12% of 20-case samples: 88% at n = 20, 94% from n = 50; benchmarks/coverage.py). Unclustered
#: cases get the failure-mixture interval, which holds at 20.
MIN_CASES = 50


def conventions(settings) -> list[str]:
    """What the report states beside the tables: the metric definitions and the empty-mask policy."""
    both = ("left out of means (counted and shown)" if settings.both_empty == "exclude"
            else "scored as perfect (Dice, IoU, NSD 1; distances and volume differences 0)")
    return [
        "Borders are the voxels of a structure with a face neighbour outside it; surface distances run from each border "
        "voxel to the nearest border voxel of the other mask, in mm from the voxel spacing (Metrics Reloaded, MONAI).",
        f"HD{settings.hd_percentile:g} is the larger of the two directed {settings.hd_percentile:g}th percentiles; MASD the mean "
        "of the two directed means; ASSD the mean of both sets pooled"
        + (f"; NSD the share of border voxels within {settings.nsd_tolerance:g} mm of the other border." if settings.nsd_tolerance
           else "; NSD is not computed (its tolerance, settings.nsd_tolerance, is task-specific and was not given)."),
        f"A missed structure (in the reference, not predicted) and a false-positive one (predicted, not in the reference) "
        f"score Dice, IoU and NSD 0 and every distance {settings.distance_cap:g} mm (settings.distance_cap; observed "
        "distances are truncated there), and count in every mean; the relative volume difference with an empty reference "
        f"is not estimable. Cases with the structure in neither mask are {both}.",
        "Beside each mean: the mean over detected cases (both masks hold the structure) and the detection rate. Lesions "
        "are connected components (full connectivity); a reference lesion is detected when a predicted voxel overlaps it.",
        "Intervals of means: for Dice, IoU, NSD and the distances, the bootstrap of the non-failed cases' mean combined "
        "with the Jeffreys posterior of the failure share (a failure rate stays possible when the sample shows none); "
        "with data.cluster, and for the volumes, the bootstrap over cases (a patient's cases together); medians: the "
        "distribution-free order-statistic interval.",
    ]


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    level = f"{settings.confidence:.0%}"
    rule = f"pass when the {level} CI of the mean Dice lies above 0 (the prediction overlaps the reference); fail otherwise"
    metrics = segmentation_metrics(ctx)
    per_dataset, criteria, findings, targets = {}, [], [], []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"performance: segmentation metrics on {ds.name} ({ds.n} cases, B={ctx.engine.n_resamples})")
        est = segmentation_estimates(ctx, ds)
        cases = ds.cases
        structures = {}
        for j, s in enumerate(cases.structures):
            row = est[s]
            counts = {name: int((cases.status[:, j] == code).sum()) for code, name in enumerate(STATUS)}
            structures[s] = {
                "counts": counts,
                "metrics": {m: {"mean": row[m].to_dict(), "median": row[f"{m}|median"].to_dict(),
                                "detected_mean": row[f"{m}{DETECTED_SUFFIX}"].to_dict()} for m in metrics},
                **{k: row[k].to_dict() for k in ("detection_rate", "lesion_sensitivity", "false_positive_lesions")},
                "worst_cases": _worst(cases, j),
            }
            verdict, reason = judge_interval_against(structures[s]["metrics"]["dice"]["mean"], 0.0, higher_is_better=True)
            verdict = "fail" if verdict == "inconclusive" else verdict  # Dice >= 0: an interval reaching 0 is a failure
            criteria.append(criterion(f"{s}: the prediction overlaps the reference", rule, verdict, ds.name, "dice",
                                      structures[s]["metrics"]["dice"]["mean"], 0.0, reason))
            counted = counts["both_present"] + counts["missed"] + counts["false_positive"] + (
                counts["both_empty"] if settings.both_empty == "best" else 0)
            if counted < MIN_CASES and ctx.spec.data.cluster is not None:
                findings.append(Finding(NAME, "warning", f"On {ds.name}, {s} has {counted} counted cases (< {MIN_CASES}): the "
                                        "cluster-bootstrap intervals of its means may be too narrow, because failures rarer than 1 in "
                                        f"{counted} can be absent from the sample; read the medians' order-statistic "
                                        "intervals and the detection rate's exact interval beside them.", ds.name))
            if counts["missed"]:
                findings.append(Finding(NAME, "warning", f"On {ds.name}, {s} is missed entirely in {counts['missed']} of "
                                        f"{counts['missed'] + counts['both_present']} cases that have it; they count with "
                                        f"Dice 0 and distances {settings.distance_cap:g} mm.", ds.name))
            if counts["both_empty"] and settings.both_empty == "exclude":
                findings.append(Finding(NAME, "info", f"On {ds.name}, {counts['both_empty']} cases have no {s} in either mask; "
                                        "they are left out of the means (settings.both_empty: exclude).", ds.name))
        per_dataset[ds.name] = {"n": cases.n, "structures": structures, "cases": case_records(cases)}
        ds_targets = _targets(ctx, ds)
        criteria += ds_targets
        targets += ds_targets
    evidence = shown("performance.ci", *(["performance.external"] if ctx.external else []))
    if targets:
        judged = {c["verdict"] for c in targets} <= {"pass", "fail", "inconclusive"}
        evidence["performance.targets"] = "shown" if judged else "thin"
        evidence["performance.targets_met"] = "shown" if all(c["verdict"] == "pass" for c in targets) else "thin"
    return Section(
        name=NAME,
        title="Performance",
        figures=figures(ctx),
        status=worst(c["verdict"] for c in criteria),
        data={"task": "segmentation", "confidence": ctx.engine.confidence, "clustered": ctx.spec.data.cluster is not None,
              "metrics": list(metrics), "hd_percentile": settings.hd_percentile, "nsd_tolerance": settings.nsd_tolerance,
              "distance_cap": settings.distance_cap, "both_empty": settings.both_empty,
              "conventions": conventions(settings), "datasets": per_dataset, "criteria": criteria},
        findings=findings,
        evidence=evidence,
    )


def figures(ctx: AuditContext) -> dict:
    """Dice and HD95 per case: box plots by structure and dataset."""
    from ..labels import metric_label
    from ..plots.performance import case_distribution_figure

    out = {}
    for m in ("dice", "hd95"):
        values = {s: {ds.name: [float(v) for v in ds.cases.metric(m)[:, j] if np.isfinite(v)] for ds in ctx.datasets.values()}
                  for j, s in enumerate(ctx.internal.cases.structures)}
        out[f"cases_{m}"] = case_distribution_figure(values, m, metric_label(m, short=True) + (" (mm)" if m == "hd95" else ""))
    return out


def _number(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def case_records(cases) -> list[dict]:
    """``cases[]``: every case's id and, per structure, its status, metric values and lesion counts."""
    from ..stats.segmentation import LESION_COUNTS

    out = []
    for i, case in enumerate(cases.ids):
        per = {}
        for j, s in enumerate(cases.structures):
            per[s] = {"status": STATUS[int(cases.status[i, j])],
                      **{m: _number(cases.values[i, j, k]) for k, m in enumerate(CASE_METRICS)},
                      **{c: int(cases.lesions[i, j, k]) for k, c in enumerate(LESION_COUNTS)}}
        out.append({"id": case, "structures": per})
    return out


def _worst(cases, j: int) -> list[dict]:
    """The ``WORST_CASES`` counted cases with the lowest Dice (ties by case order), with their Dice and status."""
    dice = cases.metric("dice")[:, j]
    counted = np.flatnonzero(np.isfinite(dice))
    order = counted[np.argsort(dice[counted], kind="stable")][:WORST_CASES]
    return [{"id": cases.ids[i], "dice": float(dice[i]), "status": STATUS[int(cases.status[i, j])]} for i in order]


def _targets(ctx: AuditContext, ds) -> list[dict]:
    """``settings.targets`` judged on one-sided bounds of each structure's mean."""
    settings = ctx.spec.settings
    if not settings.targets:
        return []
    est = segmentation_estimates(ctx, ds, one_sided=True)
    return [target_criterion(metric, target, row[metric].to_dict(), settings.confidence, ds.name, f" ({s})")
            for metric, target in settings.targets.items() for s, row in est.items() if metric in row]
