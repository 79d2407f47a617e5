"""The external check of a multiclass audit: the same questions as the binary one, with the task's metrics.

For every external dataset against the internal test set:

- **Gaps with CIs** (external − internal) of the Hand–Till AUROC, balanced accuracy, macro-F1, the
  multiclass Brier score and (ordinal grades) the quadratic-weighted kappa and the ranked probability
  score: replicate b of the external dataset's bootstrap minus replicate b of the internal one (two
  independent samples, each resampled under its own design and stream; percentile interval). The
  values beside each gap are the datasets' own estimates (``audit.estimates.multiclass_estimates``).
- **Label shift**: each class's share in both datasets, the total variation distance between the two
  class distributions and Pearson's chi-square test of homogeneity (``scipy.stats.chi2_contingency``).
- **Covariate shift** and the **domain classifier**: unchanged from the binary check.
- **Prediction shift**: per class, the binary check's comparison of that class's predicted probabilities
  (means, Kolmogorov–Smirnov, population stability index over the internal deciles).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import multiclass_bootstrap, multiclass_columns, multiclass_estimates
from ..evidence import shown
from ..stats import Estimate, proportion
from ..tasks.multiclass import label_text
from .base import Finding, Section
from .external import covariate_shift, domain_classifier, domain_findings, feature_columns, no_external_section
from .external import prediction_shift as binary_prediction_shift

NAME = "external"
GAP_METRICS = ("auroc_hand_till", "balanced_accuracy", "macro_f1", "brier")
ORDINAL_GAP_METRICS = ("kappa_quadratic", "rps")
#: A fall in the Hand–Till AUROC at least this large, with an interval wholly below 0, is a warning.
AUROC_DROP_WARNING = 0.05


def run(ctx: AuditContext) -> Section:
    if not ctx.external:
        return no_external_section()
    internal, confidence = ctx.internal, ctx.engine.confidence
    labels = [label_text(c) for c in ctx.task.classes(ctx.spec.data)]
    metrics = GAP_METRICS + (ORDINAL_GAP_METRICS if ctx.spec.data.ordinal else ())
    own_i = multiclass_estimates(ctx, internal)["metrics"]
    per_dataset, findings = {}, []
    for ds in ctx.external:
        ctx.report_progress(f"external: {ds.name} against test")
        features = feature_columns(ctx, ds)
        entry = {
            "gaps": gaps(ctx, internal, ds, metrics, own_i, multiclass_estimates(ctx, ds)["metrics"]),
            "label_shift": label_shift(internal, ds, labels, confidence),
            "covariate_shift": covariate_shift(internal.dataset.frame, ds.dataset.frame, features),
            "domain_classifier": domain_classifier(internal.dataset.frame, ds.dataset.frame, features, ctx.spec.settings.seed, confidence),
            "prediction_shift": prediction_shift(internal.p, ds.p, labels),
        }
        entry["metrics"] = {m: gap["difference"] for m, gap in entry["gaps"].items()}
        per_dataset[ds.name] = entry
        findings += explain(ds.name, entry, confidence)
    figures = {
        "gaps": plots.gap_figure({name: e["gaps"] for name, e in per_dataset.items()}, confidence),
        "shift": plots.shift_figure(per_dataset),
    }
    return Section(
        name=NAME,
        title="External validation",
        status="warning" if any(f.severity != "info" for f in findings) else "pass",
        data={"reference": "test", "confidence": confidence, "task": "multiclass", "datasets": per_dataset, "meta_analysis": None},
        findings=findings,
        figures=figures,
        evidence=shown("external.validation", "external.gap", "external.shift"),
    )


def gaps(ctx: AuditContext, internal: EvaluatedDataset, external: EvaluatedDataset, metrics, own_i: dict, own_e: dict) -> dict:
    """External minus internal for each metric, from the two datasets' own (independent) bootstraps."""
    columns = multiclass_columns(ctx)
    boot_i, boot_e = multiclass_bootstrap(ctx, internal), multiclass_bootstrap(ctx, external)
    alpha = 1 - ctx.engine.confidence
    out = {}
    for m in metrics:
        j = columns.index(m)
        value = boot_e.estimate[j] - boot_i.estimate[j]
        diff = boot_e.replicates[:, j] - boot_i.replicates[:, j]
        diff = diff[np.isfinite(diff)]
        if not np.isfinite(value):
            est = Estimate(np.nan, None, "bootstrap-percentile-independent", internal.n + external.n,
                           reason="not estimable: the metric is undefined in a dataset")
        else:
            ci = tuple(np.quantile(diff, [alpha / 2, 1 - alpha / 2])) if diff.size else None
            est = Estimate(value, ci, "bootstrap-percentile-independent", internal.n + external.n)
        out[m] = {"internal": own_i[m].to_dict(), "external": own_e[m].to_dict(), "difference": est.to_dict()}
    return out


def label_shift(internal: EvaluatedDataset, external: EvaluatedDataset, labels: list[str], confidence: float) -> dict:
    """Each class's share in both datasets (Wilson), the total variation distance and the chi-square test of homogeneity."""
    k = len(labels)
    a = np.bincount(np.asarray(internal.y, dtype=np.int64), minlength=k)
    b = np.bincount(np.asarray(external.y, dtype=np.int64), minlength=k)
    seen = (a + b) > 0
    table = np.vstack([a[seen], b[seen]])
    chi2, p_value, dof, _ = stats.chi2_contingency(table, correction=False)
    return {
        "classes": [{"class": labels[c], "internal": proportion(int(a[c]), int(a.sum()), confidence).to_dict(),
                     "external": proportion(int(b[c]), int(b.sum()), confidence).to_dict()} for c in range(k)],
        "total_variation": float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum()),
        "chi2": float(chi2), "dof": int(dof), "p_value": float(p_value),
        "test": "Pearson's chi-square test of homogeneity of the class distributions",
    }


def prediction_shift(P_internal: np.ndarray, P_external: np.ndarray, labels: list[str]) -> dict:
    """Each class's mean predicted probability in both datasets and the population stability index of its probabilities."""
    per_class = [{"class": label, **binary_prediction_shift(P_internal[:, k], P_external[:, k])} for k, label in enumerate(labels)]
    return {"classes": per_class, "psi_max": max(c["psi"] for c in per_class)}


def explain(name: str, e: dict, confidence: float) -> list[Finding]:
    lvl = f"{confidence:.0%}"
    out = []
    d = e["gaps"]["auroc_hand_till"]["difference"]
    if d.get("ci") is None or d.get("value") is None:
        out.append(Finding(NAME, "info", f"The Hand–Till AUROC difference between {name} and the internal test set is not estimable: "
                                         f"{(d.get('reason') or 'no interval').removeprefix('not estimable: ')}.", name))
    else:
        sev = "warning" if d["ci"][1] < 0 and d["value"] <= -AUROC_DROP_WARNING else "info"
        out.append(Finding(NAME, sev, f"The Hand–Till AUROC on {name} differs from the internal test set by {d['value']:+.3f} ({lvl} CI "
                                      f"{d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}, independent bootstraps).", name))
    ls = e["label_shift"]
    if ls["p_value"] < 1 - confidence:
        shares = ", ".join(f"{c['class']} {c['external']['value']:.0%} (internal {c['internal']['value']:.0%})" for c in ls["classes"])
        out.append(Finding(NAME, "warning", f"Label shift: the classes are distributed differently on {name} (chi-square p = {ls['p_value']:.2g}; "
                                            f"total variation distance {ls['total_variation']:.2f}): {shares}. Accuracy, PPV and calibration will differ.", name))
    out += domain_findings(name, e["domain_classifier"], confidence)
    ps = e["prediction_shift"]
    worst = max(ps["classes"], key=lambda c: c["psi"])
    out.append(Finding(NAME, "warning" if ps["psi_max"] > 0.25 else "info",
                       f"Prediction shift: the largest is in class {worst['class']}, mean predicted probability {worst['mean_external']:.2f} on {name} "
                       f"against {worst['mean_internal']:.2f} internally (population stability index {worst['psi']:.2f}; above 0.25 is usually read as a major shift).", name))
    return out
