"""The performance check of a multilabel audit: the averages over labels and every label at a glance.

Per dataset: macro and micro AUROC and AUPRC (``audit.stats.multilabel``; scikit-learn's ``average=``
conventions) with bootstrap intervals from the dataset's one resample stream, and, per label, the
binary metrics of that label audited alone (``audit.derived``: its own section
``performance:<label>`` has the curves, findings and verdict). Discrimination is judged by the macro
AUROC against chance.
"""

from __future__ import annotations

from ..derived import derived_audits
from ..context import AuditContext
from ..estimates import dataset_estimates
from ..evidence import shown
from ..stats import Estimate
from ..stats.multilabel import MULTILABEL_METRICS
from ..verdicts import criterion, judge_interval_against, worst
from .base import Finding, Section

NAME = "performance"
#: The binary metrics shown per label in the overview (each label's own section has them all).
LABEL_METRICS = ("prevalence", "auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "brier")


def run(ctx: AuditContext) -> Section:
    per_dataset, criteria, findings = {}, [], []
    level = f"{ctx.spec.settings.confidence:.0%}"
    rule = f"pass when the {level} CI of the macro AUROC lies above 0.5 (chance); fail when it lies below; otherwise inconclusive"
    for ds in ctx.datasets.values():
        ctx.report_progress(f"performance: label averages on {ds.name} (n={ds.n}, B={ctx.engine.n_resamples})")
        boot = ctx.engine.bootstrap(ctx.task.kernel(ds.target, ds.prediction, ctx.spec.settings, MULTILABEL_METRICS),
                                    ctx.design(ds), ctx.stream(ds))
        clustered = ctx.spec.data.cluster is not None
        metrics = {}
        for j, m in enumerate(MULTILABEL_METRICS):
            est = boot.estimate_at(j, ds.n)
            if clustered:
                est = Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason)
            metrics[m] = est.to_dict()
        labels = {}
        for d in derived_audits(ctx):
            own = dataset_estimates(d.ctx, d.ctx.datasets[ds.name])
            labels[d.name] = {"threshold": d.info["threshold"], "n_events": d.info["events"][ds.name]["n_events"],
                              **{m: own[m].to_dict() for m in LABEL_METRICS}}
        per_dataset[ds.name] = {"metrics": metrics, "labels": labels}
        findings += one_sided_labels(ds.name, labels)
        verdict, reason = judge_interval_against(metrics["auroc_macro"], 0.5, higher_is_better=True)
        criteria.append(criterion("discrimination better than chance", rule, verdict, ds.name, "auroc_macro", metrics["auroc_macro"], 0.5, reason))
    return Section(
        name=NAME,
        title="Performance",
        status=worst(c["verdict"] for c in criteria),
        data={"task": "multilabel", "confidence": ctx.engine.confidence, "sampling": ctx.spec.settings.sampling,
              "clustered": ctx.spec.data.cluster is not None, "metrics": list(MULTILABEL_METRICS),
              "label_metrics": list(LABEL_METRICS), "no_finding": ctx.spec.data.no_finding,
              "datasets": per_dataset, "criteria": criteria},
        findings=findings,
        evidence=shown("performance.ci", *(["performance.external"] if ctx.external else [])),
    )


def one_sided_labels(dataset: str, labels: dict) -> list[Finding]:
    """Labels that every patient of a dataset has, or none has: no AUROC or sensitivity can be estimated there,
    and the macro averages run over the other labels."""
    out = []
    for label, entry in labels.items():
        n = entry["prevalence"]["n"]
        if entry["n_events"] in (0, n):
            who = "no patient" if entry["n_events"] == 0 else "every patient"
            out.append(Finding(NAME, "warning", f"On {dataset}, {who} has the label {label}: its AUROC, sensitivity or specificity "
                                                "cannot be estimated there, and the macro averages run over the other labels.", dataset))
    return out
