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
from sklearn.metrics import precision_recall_curve, roc_curve

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import dataset_estimates
from ..stats import PERFORMANCE_METRICS, Estimate, placements
from ..stats.delong import auroc_difference_independent
from .base import Finding, Section

NAME = "performance"
#: Events below which a validation sample is too small to estimate performance precisely
#: (at least 100, ideally 200 events: Collins, Ogundimu & Altman, Stat Med 2016).
MIN_EVENTS = 100
#: An external AUROC this much below the internal one is reported as a warning.
AUROC_DROP_WARNING = 0.05
#: Stored curve points per curve (the figure needs no more).
CURVE_POINTS = 300


def run(ctx: AuditContext) -> Section:
    """Compute the performance section for every dataset of the context."""
    threshold = ctx.spec.settings.threshold
    per_dataset, findings = {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"performance: bootstrap on {ds.name} (n={ds.n}, B={ctx.engine.n_resamples})")
        metrics = dataset_metrics(ds, ctx)
        per_dataset[ds.name] = {"metrics": {k: v.to_dict() for k, v in metrics.items()}, "curves": curves(ds)}
        findings += size_findings(ds)
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
    status = "warning" if any(f.severity != "info" for f in findings) else "pass"
    return Section(
        name=NAME,
        title="Performance",
        status=status,
        data={
            "threshold": threshold,
            "confidence": ctx.engine.confidence,
            "sampling": ctx.spec.settings.sampling,
            "clustered": ctx.spec.data.cluster is not None,
            "metrics": list(PERFORMANCE_METRICS),
            "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=["performance.ci", "performance.curves"] + (["performance.external"] if ctx.external else []),
    )


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
