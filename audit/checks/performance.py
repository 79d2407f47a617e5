"""The performance check: discrimination and threshold metrics with confidence intervals.

Per dataset (internal test, then each external site): AUROC, AUPRC, sensitivity, specificity,
PPV, NPV, accuracy, balanced accuracy, F1 and the Brier score at the spec's threshold, each with
the interval ``audit.stats.intervals`` gives it (logit-DeLong for the AUROC, Wilson or exact for
proportions, the bootstrap under the data's sampling design for the rest), read from
``audit.estimates`` so that every section prints the same numbers. ROC and precision-recall
curves are stored (thinned) and drawn. Findings: too few events, perfect separation, and a
threshold that looks chosen on the test data (then every threshold metric is optimistic).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from sklearn.metrics import precision_recall_curve, roc_curve

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import dataset_estimates
from ..evidence import CONTRADICTED, SHOWN, THIN, shown
from ..labels import metric_label
from ..stats import PERFORMANCE_METRICS, Estimate, placements
from ..stats.delong import auroc_difference_independent
from ..stats.metrics import METRICS as ALL_METRICS
from ..verdicts import criterion, judge_interval_against, target_criterion, worst
from .base import Finding, Section

NAME = "performance"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass", "multilabel", "survival", "segmentation")
#: Events below which a validation sample is too small to estimate performance precisely
#: (at least 100, ideally 200 events: Collins, Ogundimu & Altman, Stat Med 2016).
MIN_EVENTS = 100
#: An external AUROC this much below the internal one is reported as a warning.
AUROC_DROP_WARNING = 0.05
#: Stored curve points per curve (the figure needs no more).
CURVE_POINTS = 300


def run(ctx: AuditContext) -> Section:
    """Compute the performance section for every dataset of the context."""
    if ctx.task.name == "multiclass":
        from . import performance_multiclass

        return performance_multiclass.run(ctx)
    if ctx.task.name == "multilabel":
        from . import performance_multilabel

        return performance_multilabel.run(ctx)
    if ctx.task.name == "survival":
        from . import performance_survival

        return performance_survival.run(ctx)
    if ctx.task.name == "segmentation":
        from . import performance_segmentation

        return performance_segmentation.run(ctx)
    threshold = ctx.spec.settings.threshold
    per_dataset, findings = {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"performance: bootstrap on {ds.name} (n={ds.n}, B={ctx.engine.n_resamples})")
        metrics = dataset_metrics(ds, ctx)
        per_dataset[ds.name] = {"metrics": {k: v.to_dict() for k, v in metrics.items()}, "curves": curves(ds)}
        findings += size_findings(ds)
        per_dataset[ds.name]["precision"] = precision(ds, ctx, metrics)
        findings += precision_findings(ds, per_dataset[ds.name]["precision"], ctx.spec.settings.confidence)
        findings += separation_findings(ds, metrics["auroc"])
        findings += threshold_findings(ds, threshold)
    findings += sampling_findings(ctx)
    findings += external_auroc_findings(ctx)
    figures = {
        "roc": plots.roc_figure(
            {name: {**d["curves"]["roc"], "auroc": d["metrics"]["auroc"]["value"]} for name, d in per_dataset.items()}
        ),
        "pr": plots.pr_figure(
            {
                name: {**d["curves"]["pr"], "auprc": d["metrics"]["auprc"]["value"], "prevalence": ctx.datasets[name].n_events / ctx.datasets[name].n}
                for name, d in per_dataset.items()
            }
        ),
    }
    criteria, targets = [], []
    for ds in ctx.datasets.values():
        ds_criteria, ds_findings = discrimination_criteria(ds, ctx, per_dataset[ds.name]["metrics"]["auroc"])
        ds_targets = target_criteria(ds, ctx, ALL_METRICS)
        criteria += ds_criteria + ds_targets
        targets += ds_targets
        findings += ds_findings
    return Section(
        name=NAME,
        title="Performance",
        status=worst(c["verdict"] for c in criteria),
        data={
            "threshold": threshold,
            "confidence": ctx.engine.confidence,
            "sampling": ctx.spec.settings.sampling,
            "clustered": ctx.spec.data.cluster is not None,
            "metrics": list(PERFORMANCE_METRICS),
            "datasets": per_dataset,
            "criteria": criteria,
        },
        findings=findings,
        figures=figures,
        evidence=performance_evidence(ctx, targets, [r for d in per_dataset.values() for r in d["precision"]]),
    )


def performance_evidence(ctx: AuditContext, targets: list[dict], precision_rows: list[dict]) -> dict[str, str]:
    """The keys this section shows. ``performance.precision`` is contradicted by an interval wider than
    Riley et al.'s target and thin when a width cannot be computed; ``performance.targets_met`` is
    contradicted by a missed target and thin while a target's verdict is inconclusive or cannot be judged."""
    evidence = shown("performance.ci", "performance.curves", *(["performance.external"] if ctx.external else []))
    met = {r["met"] for r in precision_rows}
    evidence["performance.precision"] = CONTRADICTED if False in met else SHOWN if met == {True} else THIN
    if targets:
        verdicts = {c["verdict"] for c in targets}
        judged = verdicts & {"pass", "fail"}
        evidence["performance.targets"] = SHOWN if judged else THIN
        evidence["performance.targets_met"] = (
            CONTRADICTED if "fail" in verdicts else SHOWN if verdicts == {"pass"} else THIN
        )
    return evidence


def dataset_metrics(ds: EvaluatedDataset, ctx: AuditContext) -> dict[str, Estimate]:
    """The performance metrics of ``ds`` at the spec's threshold (shared with every section through ``audit.estimates``)."""
    estimates = dataset_estimates(ctx, ds)
    return {m: estimates[m] for m in PERFORMANCE_METRICS}


def curves(ds: EvaluatedDataset) -> dict:
    """ROC and precision-recall curves (scikit-learn), thinned to at most ``CURVE_POINTS`` points."""
    fpr, tpr, _ = roc_curve(ds.y, ds.p)
    precision, recall, _ = precision_recall_curve(ds.y, ds.p)
    return {
        "roc": {"fpr": _thin(fpr), "tpr": _thin(tpr)},
        "pr": {"recall": _thin(recall[::-1]), "precision": _thin(precision[::-1])},
    }


def _thin(x: np.ndarray) -> list[float]:
    if x.size > CURVE_POINTS:
        x = x[np.unique(np.linspace(0, x.size - 1, CURVE_POINTS).round().astype(int))]
    return [round(float(v), 6) for v in x]


def size_findings(ds: EvaluatedDataset) -> list[Finding]:
    if ds.n_events >= MIN_EVENTS and ds.n - ds.n_events >= MIN_EVENTS:
        return []
    fewer = min(ds.n_events, ds.n - ds.n_events)
    what = "events" if ds.n_events <= ds.n - ds.n_events else "non-events"
    return [
        Finding(
            NAME,
            "warning",
            f"{ds.name} has only {fewer} {what}; at least {MIN_EVENTS} (ideally 200) are recommended to validate "
            "a model's performance precisely (Collins et al., Stat Med 2016), so expect wide intervals.",
            ds.name,
        )
    ]


#: The default criterion: discrimination better than chance.
CHANCE_AUROC = 0.5


def discrimination_criteria(ds: EvaluatedDataset, ctx: AuditContext, auroc: dict) -> tuple[list[dict], list[Finding]]:
    """AUROC against chance: pass above 0.5, fail below (then name the likely cause), else inconclusive."""
    level = f"{ctx.spec.settings.confidence:.0%}"
    rule = f"pass when the {level} CI of the AUROC lies above 0.5 (chance); fail when it lies below; otherwise inconclusive"
    verdict, reason = judge_interval_against(auroc, CHANCE_AUROC, higher_is_better=True)
    findings = []
    if verdict == "fail":
        findings.append(Finding(NAME, "error", reversed_ranking_message(ds, ctx, auroc), ds.name))
    return [criterion("discrimination better than chance", rule, verdict, ds.name, "auroc", auroc, CHANCE_AUROC, reason)], findings


def reversed_ranking_message(ds: EvaluatedDataset, ctx: AuditContext, auroc: dict) -> str:
    """Why a model ranks patients backwards, most likely: the positive class against the target's coding."""
    lo, hi = auroc["ci"][0], auroc["ci"][1]
    data = ctx.spec.data
    head = (f"The model ranks patients backwards on {ds.name}: AUROC {auroc['value']:.3f} ({lo:.3f} to {hi:.3f}) lies wholly "
            "below 0.5, so patients with the outcome get lower predicted risks than those without. ")
    classes = getattr(getattr(ctx.model, "estimator", None), "classes_", None)
    if classes is not None:
        index = getattr(ctx.model, "positive_index", None)
        positive = classes[index] if index is not None and index < len(classes) else "?"
        cause = (f"The most likely cause is the positive class: the audit uses the model's class {positive!r} (of classes_ "
                 f"{[c.item() if hasattr(c, 'item') else c for c in classes]}) as P(positive) for target {data.target!r} coded "
                 f"with positive_label {data.positive_label!r}; if the model's class {positive!r} means the opposite outcome, "
                 "set data.positive_label to the model's class for the target's positive outcome.")
    elif data.prediction is not None:
        cause = (f"The most likely cause is the prediction column {data.prediction!r} holding P(negative) (or a score where "
                 "low means high risk), or the target coded the other way; check both before reading anything else.")
    else:
        cause = "Check that the model's output and the target code the same outcome as positive."
    return head + cause + " Every other verdict on this dataset rests on a model that ranks patients backwards."


def target_criteria(ds: EvaluatedDataset, ctx: AuditContext, metrics) -> list[dict]:
    """Pre-specified targets (``settings.targets``) judged by one-sided bounds at the spec's confidence.

    A one-sided 95% bound is the end of the two-sided 90% interval, so targets are judged on the
    estimates at ``1 - 2 (1 - confidence)`` (same resamples).
    """
    settings = ctx.spec.settings
    targets = {m: t for m, t in settings.targets.items() if m in metrics}
    if not targets:
        return []
    estimates = dataset_estimates(ctx, ds, one_sided=True)
    return [target_criterion(m, t, estimates[m].to_dict(), settings.confidence, ds.name) for m, t in targets.items()]


def precision(ds: EvaluatedDataset, ctx: AuditContext, metrics: dict[str, Estimate]) -> list[dict]:
    """Achieved interval widths of the C-statistic, O:E, calibration slope and standardised net benefit at the
    threshold against Riley et al.'s (2021) targets, with the patients each would need (``stats.precision``)."""
    import warnings

    from ..stats import precision as prec
    from ..stats.calibration import calibration_slope, oe_ratio

    settings = ctx.spec.settings
    conf = settings.confidence

    def width(est) -> float | None:
        return None if est.ci is None or not np.all(np.isfinite(est.ci)) else float(est.ci[1] - est.ci[0])

    rows = [prec.achieved("auroc", width(metrics["auroc"]), ds.n)]
    if settings.sampling == "cohort":
        rows.append(prec.achieved("oe_ratio", width(oe_ratio(ds.y, ds.p, conf)), ds.n))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slope = calibration_slope(ds.y, ds.p, conf)
    except Exception:  # noqa: BLE001 - statsmodels on degenerate data
        slope = Estimate(np.nan, None, "wald-glm", ds.n)
    rows.append(prec.achieved("calibration_slope", width(slope), ds.n))
    phi, t = ds.n_events / ds.n if ds.n else 0.0, settings.threshold
    sens, spec = metrics["sensitivity"].value, metrics["specificity"].value
    if settings.sampling == "cohort" and 0 < phi < 1 and 0 < t < 1 and np.isfinite(sens) and np.isfinite(spec):
        se = np.sqrt(prec.snb_variance_per_patient(sens, spec, phi, t) / ds.n)
        rows.append(prec.achieved("standardised_net_benefit", 2 * ndtri(0.5 + conf / 2) * se, ds.n))
    return rows


def precision_findings(ds: EvaluatedDataset, rows: list[dict], confidence: float) -> list[Finding]:
    short = [r for r in rows if r["met"] is False]
    if not short:
        return []
    parts = "; ".join(f"{metric_label(r['metric'], short=True) if r['metric'] != 'standardised_net_benefit' else 'standardised net benefit'} "
                      f"{r['width']:.2f} wide (target {r['target']:g}: about {r['n_needed']:,} patients)" for r in short)
    return [Finding(
        NAME, "warning",
        f"{ds.name} is too small for precise validation (Riley et al., Stat Med 2021): {confidence:.0%} intervals are {parts}. "
        f"Patient numbers scale the observed standard errors as 1/√n from n = {ds.n:,}, assuming the same case mix.",
        ds.name,
    )]


def separation_findings(ds: EvaluatedDataset, auroc: Estimate) -> list[Finding]:
    """Perfect separation: the AUROC is 0 or 1, so only a one-sided bound exists, and logistic fits fail."""
    if auroc.sides == "two" or not np.isfinite(auroc.value):
        return []
    bound = auroc.ci[0] if auroc.sides == "lower" else auroc.ci[1]
    word = "above" if auroc.sides == "lower" else "below"
    return [Finding(
        NAME, "warning",
        f"The predictions separate the classes perfectly in {ds.name} (AUROC {auroc.value:.3f}): only a one-sided bound "
        f"can be given (the AUROC is {word} {bound:.3f}), and calibration slopes cannot be estimated. Perfect separation on "
        "validation data is rare; check that the prediction is not derived from the outcome (leakage).",
        ds.name,
    )]


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float | None:
    """The threshold maximising Youden's J = sensitivity + specificity - 1 (scikit-learn's ``roc_curve`` cut points)."""
    if y.min() == y.max():
        return None
    fpr, tpr, thresholds = roc_curve(y, p)
    finite = np.isfinite(thresholds)
    j = tpr[finite] - fpr[finite]
    return float(thresholds[finite][int(np.argmax(j))])


def threshold_findings(ds: EvaluatedDataset, threshold: float) -> list[Finding]:
    """A threshold that classifies the test data exactly as the Youden-optimal cut was probably chosen on them."""
    if ds.role != "internal":
        return []
    best = youden_threshold(ds.y, ds.p)
    if best is None or not np.array_equal(ds.p >= threshold, ds.p >= best):
        return []
    return [Finding(
        NAME, "warning",
        f"The threshold {threshold:g} is the one that maximises sensitivity + specificity on {ds.name} (Youden's J): it "
        "was probably chosen on these data, so sensitivity, specificity and the other threshold metrics, and their "
        "intervals, are optimistic. Choose the threshold on other data (training or a tuning set) and validate it here.",
        ds.name,
    )]


def sampling_findings(ctx: AuditContext) -> list[Finding]:
    """Under case-control sampling, say which metrics cannot be estimated and why."""
    if ctx.spec.settings.sampling != "case-control":
        return []
    prevalence = ctx.spec.settings.prevalence
    extra = (
        f" PPV and NPV are computed for a population prevalence of {prevalence:g} (settings.prevalence, Bayes' theorem)."
        if prevalence is not None else " Give settings.prevalence to obtain PPV and NPV by Bayes' theorem."
    )
    return [Finding(
        NAME, "info",
        "The data were sampled as cases and controls (settings.sampling: case-control): resampling keeps the numbers of "
        "events and non-events fixed, and the metrics that depend on the prevalence (PPV, NPV, accuracy, AUPRC, F1, "
        "Brier score) are not estimable from the sample." + extra,
    )]


def external_auroc_findings(ctx: AuditContext) -> list[Finding]:
    """AUROC external minus internal, with a DeLong interval for two independent samples."""
    findings = []
    internal = ctx.internal
    level = f"{ctx.engine.confidence:.0%}"
    for ds in ctx.external:
        try:
            diff, _ = auroc_difference_independent(internal.y, internal.p, ds.y, ds.p, ctx.engine.confidence)
        except ValueError:  # fewer than two of a class in one of the samples
            continue
        lo, hi = diff.ci
        ext, ref = placements(ds.y, ds.p).auroc, placements(internal.y, internal.p).auroc
        text = (
            f"AUROC on {ds.name} is {ext:.3f} against {ref:.3f} on the internal test set: "
            f"difference {diff.value:+.3f} ({level} CI {lo:+.3f} to {hi:+.3f}, DeLong, independent samples)"
        )
        if diff.value <= -AUROC_DROP_WARNING and hi < 0:
            findings.append(Finding(NAME, "warning", text + "; the model discriminates worse on this site.", ds.name))
        else:
            findings.append(Finding(NAME, "info", text + ".", ds.name))
    return findings
