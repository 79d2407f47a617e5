"""The external check of a survival audit: the binary check's questions with time-to-event metrics.

For every external dataset against the internal test set:

- **C-index gaps** (external − internal) of Harrell's and Uno's C: the difference of two independent samples'
  estimates with the Wald interval ``+- z sqrt(se_e^2 + se_i^2)`` from their infinitesimal-jackknife standard
  errors (``audit.stats.survival.concordance``).
- **Gaps at each horizon** of the time-dependent AUC, the Brier score and IPA: replicate b of the external
  dataset's bootstrap minus replicate b of the internal one (independent samples, each resampled under its own
  design and stream; percentile interval), at horizons estimable on both.
- **Outcome shift**: the Kaplan–Meier risk by each horizon in both datasets and the log-rank test of equal
  event-free survival (``statsmodels.duration.survfunc.survdiff``): different baseline risk moves O/E.
- **Covariate shift**, the **domain classifier** and the **prediction shift** of the risk at the largest
  horizon (or the risk score): the binary check's functions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri
from statsmodels.duration.survfunc import survdiff

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import survival_bootstrap, survival_estimates
from ..evidence import shown
from ..stats import Estimate
from .base import Finding, Section
from .external import covariate_shift, domain_classifier, domain_findings, feature_columns, no_external_section, prediction_shift

NAME = "external"
HORIZON_GAP_METRICS = ("auc_t", "brier", "ipa")
#: A fall in Harrell's C at least this large, with an interval wholly below 0, is a warning.
C_DROP_WARNING = 0.05


def run(ctx: AuditContext) -> Section:
    if not ctx.external:
        return no_external_section()
    internal, confidence = ctx.internal, ctx.engine.confidence
    own_i = survival_estimates(ctx, internal)
    per_dataset, findings = {}, []
    for ds in ctx.external:
        ctx.report_progress(f"external: {ds.name} against test")
        own_e = survival_estimates(ctx, ds)
        features = feature_columns(ctx, ds)
        entry = {
            "gaps": c_gaps(own_i, own_e, internal.n + ds.n, confidence),
            "horizons": horizon_gaps(ctx, internal, ds, own_i, own_e),
            "outcome_shift": outcome_shift(internal, ds, own_i, own_e),
            "covariate_shift": covariate_shift(internal.dataset.frame, ds.dataset.frame, features),
            "domain_classifier": domain_classifier(internal.dataset.frame, ds.dataset.frame, features, ctx.spec.settings.seed, confidence),
            "prediction_shift": prediction_shift(internal.p[:, -1], ds.p[:, -1]),
        }
        entry["metrics"] = {m: gap["difference"] for m, gap in entry["gaps"].items()}
        per_dataset[ds.name] = entry
        findings += explain(ds.name, entry, confidence)
    figures = {"gaps": plots.gap_figure({name: e["gaps"] for name, e in per_dataset.items()}, confidence),
               "shift": plots.shift_figure(per_dataset)}
    return Section(
        name=NAME,
        title="External validation",
        status="warning" if any(f.severity != "info" for f in findings) else "pass",
        data={"reference": "test", "confidence": confidence, "task": "survival", "datasets": per_dataset, "meta_analysis": None},
        findings=findings,
        figures=figures,
        evidence=shown("external.validation", "external.gap", "external.shift"),
    )


def c_gaps(own_i: dict, own_e: dict, n: int, confidence: float) -> dict:
    """External minus internal Harrell's and Uno's C, Wald with the independent samples' IJ standard errors."""
    z = float(ndtri(0.5 + confidence / 2))
    out = {}
    for kind in ("harrell", "uno"):
        ci_, ce = own_i["concordance"][kind], own_e["concordance"][kind]
        value = ce.value - ci_.value
        se = math.sqrt(ce.se**2 + ci_.se**2) if math.isfinite(ce.se) and math.isfinite(ci_.se) else math.nan
        if not math.isfinite(value):
            est = Estimate(math.nan, None, "wald-independent-ij", n, reason="not estimable: the C index is undefined in a dataset")
        else:
            est = Estimate(value, (value - z * se, value + z * se) if se > 0 else None, "wald-independent-ij", n)
        metric = f"{kind}_c"
        out[metric] = {"internal": own_i["metrics"][metric].to_dict(), "external": own_e["metrics"][metric].to_dict(),
                       "difference": est.to_dict(), "se": se if math.isfinite(se) else None}
    return out


def horizon_gaps(ctx: AuditContext, internal: EvaluatedDataset, external: EvaluatedDataset, own_i: dict, own_e: dict) -> dict:
    """External minus internal at each horizon estimable on both, from the two datasets' independent bootstraps."""
    kernel = ctx.task.kernel(internal.target, internal.prediction, ctx.spec.settings)
    column = {name: j for j, name in enumerate(kernel.names)}
    boot_i, boot_e = survival_bootstrap(ctx, internal), survival_bootstrap(ctx, external)
    out = {}
    for h, status_i in own_i["status"].items():
        status_e = own_e["status"][h]
        row = {}
        for m in HORIZON_GAP_METRICS:
            why = status_i.reason or status_e.reason
            if why:
                est = Estimate(np.nan, None, "bootstrap-percentile-independent", internal.n + external.n, reason=why)
            else:
                est = independent_gap(boot_i, boot_e, column[f"{m}@{h}"], ctx.engine.confidence, internal.n + external.n)
            row[m] = {"internal": own_i["horizons"][h][m].to_dict(), "external": own_e["horizons"][h][m].to_dict(),
                      "difference": est.to_dict()}
        out[h] = row
    return out


def independent_gap(boot_i, boot_e, j: int, confidence: float, n: int) -> Estimate:
    """External minus internal of column ``j``: replicate b of one dataset's bootstrap minus replicate b of the
    other's (two independent samples, each resampled under its own design and stream), percentile interval."""
    value = boot_e.estimate[j] - boot_i.estimate[j]
    if not np.isfinite(value):
        return Estimate(np.nan, None, "bootstrap-percentile-independent", n, reason="not estimable: the metric is undefined in a dataset")
    diff = boot_e.replicates[:, j] - boot_i.replicates[:, j]
    diff = diff[np.isfinite(diff)]
    alpha = 1 - confidence
    ci = tuple(np.quantile(diff, [alpha / 2, 1 - alpha / 2])) if diff.size else None
    return Estimate(value, ci, "bootstrap-percentile-independent", n)


def outcome_shift(internal: EvaluatedDataset, external: EvaluatedDataset, own_i: dict, own_e: dict) -> dict:
    """The Kaplan–Meier risk by each horizon in both datasets and the log-rank test of equal survival."""
    time = np.r_[internal.y[:, 0], external.y[:, 0]]
    event = np.r_[internal.y[:, 1], external.y[:, 1]]
    group = np.r_[np.zeros(internal.n), np.ones(external.n)]
    chi2, p_value = survdiff(time, event, group)
    return {
        "horizons": {h: {"internal": own_i["horizons"][h]["observed_risk"].to_dict(),
                         "external": own_e["horizons"][h]["observed_risk"].to_dict()} for h in own_i["horizons"]},
        "chi2": float(chi2), "p_value": float(p_value),
        "test": "log-rank test of equal event-free survival (statsmodels survdiff)",
    }


def explain(name: str, e: dict, confidence: float) -> list[Finding]:
    lvl = f"{confidence:.0%}"
    out = []
    d = e["gaps"]["harrell_c"]["difference"]
    if d.get("ci") is None or d.get("value") is None:
        out.append(Finding(NAME, "info", f"Harrell's C difference between {name} and the internal test set is not estimable.", name))
    else:
        sev = "warning" if d["ci"][1] < 0 and d["value"] <= -C_DROP_WARNING else "info"
        out.append(Finding(NAME, sev, f"Harrell's C on {name} differs from the internal test set by {d['value']:+.3f} ({lvl} CI "
                                      f"{d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}, independent samples' jackknife standard errors).", name))
    shift = e["outcome_shift"]
    if shift["p_value"] < 1 - confidence:
        risks = ", ".join(f"by {h}: {r['external']['value']:.1%} against {r['internal']['value']:.1%}"
                          for h, r in shift["horizons"].items() if r["external"]["value"] is not None and r["internal"]["value"] is not None)
        out.append(Finding(NAME, "warning", f"Outcome shift: event-free survival differs on {name} (log-rank p = {shift['p_value']:.2g}); "
                                            f"Kaplan–Meier risk {risks}. Calibration (O/E) will differ even for a well-ranking model.", name))
    out += domain_findings(name, e["domain_classifier"], confidence)
    ps = e["prediction_shift"]
    out.append(Finding(NAME, "warning" if ps["psi"] > 0.25 else "info",
                       f"Prediction shift: mean predicted risk {ps['mean_external']:.2f} on {name} against {ps['mean_internal']:.2f} internally "
                       f"(population stability index {ps['psi']:.2f}; above 0.25 is usually read as a major shift).", name))
    return out
