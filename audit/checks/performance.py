"""The performance check: discrimination and threshold metrics with confidence intervals.

Per dataset (internal test, then each external site): AUROC with DeLong's interval, and AUPRC,
sensitivity, specificity, PPV, NPV, accuracy, balanced accuracy, F1 and the Brier score at the
spec's threshold, each with a stratified-bootstrap interval (BCa by default) from the one
resampling engine. ROC and precision-recall curves are stored (thinned) and drawn.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..stats import PERFORMANCE_METRICS, BinaryMetrics, Estimate, auroc_delong, placements
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
        metrics = dataset_metrics(ds, ctx, threshold)
        per_dataset[ds.name] = {"metrics": {k: v.to_dict() for k, v in metrics.items()}, "curves": curves(ds)}
        findings += size_findings(ds)
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
            "metrics": list(PERFORMANCE_METRICS),
            "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=["performance.ci", "performance.curves"] + (["performance.external"] if ctx.external else []),
    )


def dataset_metrics(ds: EvaluatedDataset, ctx: AuditContext, threshold: float) -> dict[str, Estimate]:
    """AUROC by DeLong, the other metrics by the stratified bootstrap (outcome strata)."""
    names = tuple(m for m in PERFORMANCE_METRICS if m != "auroc")
    boot = ctx.engine.bootstrap(BinaryMetrics(ds.y, ds.p, threshold, names), ds.y, f"{NAME}/{ds.name}")
    out: dict[str, Estimate] = {}
    try:
        out["auroc"] = auroc_delong(ds.y, ds.p, ctx.engine.confidence)
    except ValueError:  # fewer than two of a class: DeLong's variance does not exist
        auroc = ctx.engine.bootstrap(BinaryMetrics(ds.y, ds.p, threshold, ("auroc",)), ds.y, f"{NAME}/{ds.name}")
        out["auroc"] = auroc.estimate_at(0, ds.n)
    for j, name in enumerate(names):
        out[name] = boot.estimate_at(j, ds.n)
    return {m: out[m] for m in PERFORMANCE_METRICS}


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
