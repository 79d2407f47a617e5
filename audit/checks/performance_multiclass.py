"""The performance check of a multiclass (or ordinal) audit: whole-sample metrics, per-class one-vs-rest metrics
and the confusion matrix, each with its interval (``audit.estimates.multiclass_estimates``).

The decision is the most probable class (ties: the first in ``data.classes`` order). Discrimination is
judged by the Hand–Till AUROC against chance; pre-specified targets (``settings.targets``) by one-sided
bounds. A class absent from a dataset has no per-class metrics there (the reason is given), and the
macro averages run over the classes present, which the section names.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import multiclass_estimates
from ..evidence import CONTRADICTED, SHOWN, THIN, shown
from ..stats.multiclass import LOG_LOSS_CLIP, PER_CLASS_METRICS, decisions
from ..tasks.multiclass import label_text
from ..verdicts import criterion, judge_interval_against, target_criterion, worst
from .base import Finding, Section

NAME = "performance"
#: Patients of a class below which its one-vs-rest metrics are flagged as imprecise.
MIN_CLASS_PATIENTS = 30
#: The default criterion: discrimination better than chance.
CHANCE_AUROC = 0.5
DECISION = "the most probable class (ties: the first in data.classes order)"


def run(ctx: AuditContext) -> Section:
    """Compute the multiclass performance section for every dataset of the context."""
    data = ctx.spec.data
    labels = [label_text(c) for c in ctx.task.classes(data)]
    per_dataset, findings, criteria, targets = {}, [], [], []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"performance: bootstrap on {ds.name} (n={ds.n}, B={ctx.engine.n_resamples})")
        est = multiclass_estimates(ctx, ds)
        present = [labels[k] for k in range(len(labels)) if (ds.y == k).any()]
        per_dataset[ds.name] = {
            "metrics": {m: e.to_dict() for m, e in est["metrics"].items()},
            "per_class": {labels[k]: {"n": int((ds.y == k).sum()), **{m: cell[m].to_dict() for m in PER_CLASS_METRICS}}
                          for k, cell in est["per_class"].items()},
            "cumulative": {f">= {labels[k]}": e.to_dict() for k, e in est["cumulative"].items()},
            "confusion": confusion(ds, len(labels)),
            "classes_present": present,
        }
        findings += class_findings(ds, labels)
        if "log_loss_clipped" in est["metrics"]:
            findings.append(Finding(NAME, "warning", log_loss_message(ds, est["metrics"]["log_loss"].reason), ds.name))
        ds_criteria, ds_findings = discrimination_criteria(ds, ctx, per_dataset[ds.name]["metrics"]["auroc_hand_till"])
        ds_targets = target_criteria(ds, ctx)
        criteria += ds_criteria + ds_targets
        targets += ds_targets
        findings += ds_findings
    figures = {"confusion": plots.confusion_figure({name: {**d["confusion"], "labels": labels} for name, d in per_dataset.items()})}
    return Section(
        name=NAME,
        title="Performance",
        status=worst(c["verdict"] for c in criteria),
        data={
            "task": "multiclass",
            "ordinal": data.ordinal,
            "classes": labels,
            "decision": DECISION,
            "confidence": ctx.engine.confidence,
            "sampling": ctx.spec.settings.sampling,
            "clustered": data.cluster is not None,
            "metrics": list(ctx.task.metric_names(data)),
            "per_class_metrics": list(PER_CLASS_METRICS),
            "notes": notes(data.ordinal),
            "datasets": per_dataset,
            "criteria": criteria,
        },
        findings=findings,
        figures=figures,
        evidence=evidence(ctx, targets),
    )


def notes(ordinal: bool) -> list[str]:
    """How to read the section's metrics (definitions the report prints beside the tables)."""
    out = [
        f"The decision is {DECISION}; accuracy, balanced accuracy, macro-F1, the confusion matrix and each class's "
        "sensitivity, specificity, PPV and NPV (that class against the rest) are computed from it.",
        "Brier score: the sum over classes of the squared difference between the predicted probability and the "
        "observed indicator, averaged over patients (0 is perfect, 2 the worst; a binary model's Brier score is half of it).",
        "Hand–Till AUROC: the mean over pairs of classes of the AUROC separating the two (pROC multiclass.roc, "
        "scikit-learn multi_class='ovo'); one-vs-rest AUROC: each class against the rest, averaged equally (macro) "
        "or by prevalence (weighted). Averages run over the classes present in each dataset.",
    ]
    if ordinal:
        out.append("Ordinal grades: weighted kappa (quadratic, linear) of the decided against the true grade, the ranked "
                   "probability score (mean squared difference of the cumulative predicted and observed distributions, "
                   "divided by K − 1), the mean absolute grade error and the AUROC of each cumulative split (grade ≥ k).")
    return out


def confusion(ds: EvaluatedDataset, k: int) -> dict:
    """The confusion matrix (rows: true class, columns: decided class), as counts and as shares of each row."""
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (np.asarray(ds.y, dtype=np.int64), decisions(ds.p)), 1)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    return {
        "counts": counts.tolist(),
        "row_normalised": [[None if not np.isfinite(v) else round(float(v), 6) for v in row] for row in shares],
    }


def class_findings(ds: EvaluatedDataset, labels: list[str]) -> list[Finding]:
    """Absent classes (no per-class metrics) and small ones (imprecise per-class metrics)."""
    counts = np.bincount(np.asarray(ds.y, dtype=np.int64), minlength=len(labels))
    absent = [labels[k] for k in range(len(labels)) if counts[k] == 0]
    small = [f"{labels[k]} ({counts[k]})" for k in range(len(labels)) if 0 < counts[k] < MIN_CLASS_PATIENTS]
    findings = []
    if absent:
        findings.append(Finding(NAME, "warning", (
            f"{ds.name} has no patient of class {', '.join(absent)}: that class's metrics are not estimable there, and the "
            "macro averages and the Hand–Till AUROC run over the classes present."), ds.name))
    if small:
        findings.append(Finding(NAME, "warning", (
            f"{ds.name} has fewer than {MIN_CLASS_PATIENTS} patients of class {', '.join(small)}: those classes' "
            "sensitivity, AUROC and the macro averages that include them are imprecise; read their intervals."), ds.name))
    return findings


def log_loss_message(ds: EvaluatedDataset, reason: str | None) -> str:
    return (f"The log loss on {ds.name} is infinite ({reason or 'a true class had probability 0'}): the model was certain "
            f"and wrong. The table gives the log loss with probabilities clipped at {LOG_LOSS_CLIP:g} beside it; a model "
            "that gives any class a probability of exactly 0 should be smoothed before use.")


def discrimination_criteria(ds: EvaluatedDataset, ctx: AuditContext, auroc: dict) -> tuple[list[dict], list[Finding]]:
    """Hand–Till AUROC against chance: pass above 0.5, fail below, else inconclusive."""
    level = f"{ctx.spec.settings.confidence:.0%}"
    rule = (f"pass when the {level} CI of the Hand–Till AUROC lies above 0.5 (chance); fail when it lies below; "
            "otherwise inconclusive")
    verdict, reason = judge_interval_against(auroc, CHANCE_AUROC, higher_is_better=True)
    findings = []
    if verdict == "fail":
        findings.append(Finding(NAME, "error", (
            f"The model ranks the classes backwards on {ds.name}: its Hand–Till AUROC lies wholly below 0.5. Check that "
            "data.classes lists the classes in the order of the model's outputs (or the prediction columns' classes)."), ds.name))
    return [criterion("discrimination better than chance", rule, verdict, ds.name, "auroc_hand_till", auroc, CHANCE_AUROC, reason)], findings


def target_criteria(ds: EvaluatedDataset, ctx: AuditContext) -> list[dict]:
    """Pre-specified targets of the task's metrics, judged by one-sided bounds at the spec's confidence."""
    settings = ctx.spec.settings
    names = ctx.task.metric_names(ctx.spec.data)
    targets = {m: t for m, t in settings.targets.items() if m in names}
    if not targets:
        return []
    estimates = multiclass_estimates(ctx, ds, one_sided=True)["metrics"]
    return [target_criterion(m, t, estimates[m].to_dict(), settings.confidence, ds.name) for m, t in targets.items()]


def evidence(ctx: AuditContext, targets: list[dict]) -> dict[str, str]:
    out = shown("performance.ci", *(["performance.external"] if ctx.external else []))
    if targets:
        verdicts = {c["verdict"] for c in targets}
        out["performance.targets"] = SHOWN if verdicts & {"pass", "fail"} else THIN
        out["performance.targets_met"] = CONTRADICTED if "fail" in verdicts else SHOWN if verdicts == {"pass"} else THIN
    return out
