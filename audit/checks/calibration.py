"""The calibration check: do predicted risks match observed risks, overall, per dataset and per subgroup?

Per dataset: calibration-in-the-large (intercept), calibration slope and O:E ratio with Wald
intervals from statsmodels' GLM; ECE over equal-width and equal-mass bins (point
estimates: see ``ece_estimate``); ICI / E50 / E90 / Emax of a lowess calibration curve; Spiegelhalter's
z; Hosmer–Lemeshow (reported with its caveat, not judged); Murphy's Brier decomposition; and a
reliability diagram (lowess curve, restricted-cubic-spline curve with its Wald band, binned rates). Per group of every partition of the fairness check (same groups, same
small-group rule): intercept, slope and ECE. Formulas and references: ``audit.stats.calibration``.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..evidence import SHOWN, THIN, shown
from ..stats import Estimate, proportion, stream_rng
from ..stats.calibration import (
    binned_points,
    brier_decomposition,
    calibration_intercept,
    calibration_slope,
    ece,
    hosmer_lemeshow,
    oe_ratio,
    smoothed_and_expected,
    smoothed_calibration,
    spiegelhalter_z,
    spline_calibration_curve,
)
from ..verdicts import target_criterion, worst
from ..figure import Figure
from ..groups import build_partitions, too_small
from .base import Finding, Section

NAME = "calibration"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass", "survival", "segmentation")
METRICS = ("calibration_intercept", "calibration_slope", "oe_ratio", "ece", "ece_equal_mass")
CURVE_POINTS = 200


def run(ctx: AuditContext) -> Section:
    if ctx.task.name == "multiclass":
        from . import calibration_multiclass

        return calibration_multiclass.run(ctx)
    if ctx.task.name == "survival":
        from . import calibration_survival

        return calibration_survival.run(ctx)
    if ctx.task.name == "segmentation":
        from . import calibration_segmentation

        return calibration_segmentation.run(ctx)
    settings = ctx.spec.settings
    per_dataset, findings, curves = {}, [], {}
    for ds in ctx.datasets.values():
        ctx.report_progress(f"calibration: {ds.name}")
        metrics = dataset_metrics(ds, ctx)
        smooth = smoothed_calibration(ds.y, ds.p)
        z, z_p = spiegelhalter_z(ds.y, ds.p)
        hl, hl_df, hl_p = hosmer_lemeshow(ds.y, ds.p)
        keep = np.unique(np.linspace(0, smooth.p_sorted.size - 1, CURVE_POINTS).round().astype(int))
        counts, edges = np.histogram(ds.p, bins=np.linspace(0, 1, 21))
        curve = {
            "smooth": {"predicted": _rounded(smooth.p_sorted[keep]), "observed": _rounded(smooth.smoothed[keep])},
            "spline": {k: _rounded(v) for k, v in spline_calibration_curve(ds.y, ds.p, settings.confidence).items()},
            "bins": binned_points(ds.y, ds.p, settings.calibration_bins, "quantile", settings.confidence),
            "histogram": {"edges": _rounded(edges), "counts": counts.tolist()},
        }
        per_dataset[ds.name] = {
            "metrics": {k: v.to_dict() for k, v in metrics.items()},
            "summaries": {
                "ici": smooth.ici, "e50": smooth.e50, "e90": smooth.e90, "emax": smooth.emax,
                # undefined when every prediction is 0, 1/2 or 1 (its variance is then 0): null with the reason
                "spiegelhalter_z": z if np.isfinite(z) else None, "spiegelhalter_p": z_p if np.isfinite(z_p) else None,
                **({} if np.isfinite(z) else {"spiegelhalter_reason": "undefined: every prediction is 0, 0.5 or 1"}),
                "hosmer_lemeshow": {"statistic": hl, "df": hl_df, "p_value": hl_p, "groups": 10},
                "brier_decomposition": brier_decomposition(ds.y, ds.p, settings.calibration_bins),
            },
            "curve": curve,
            "subgroups": subgroup_calibration(ds, ctx),
        }
        curves[ds.name] = {**curve, "slope": metrics["calibration_slope"].value, "intercept": metrics["calibration_intercept"].value}
        findings += dataset_findings(ds.name, metrics, settings.confidence)
        findings += subgroup_findings(ds.name, per_dataset[ds.name]["subgroups"], settings.confidence)
    evidence = shown("calibration.slope_intercept", "calibration.ece", "calibration.curve")
    groups = [g for d in per_dataset.values() for g in d["subgroups"]]
    if groups:
        evidence["calibration.subgroups"] = SHOWN if any(g["status"] == "ok" for g in groups) else THIN
    criteria = [c for ds in ctx.datasets.values() for c in target_criteria(ds, ctx)]
    status = "warning" if any(f.severity != "info" for f in findings) else "pass"
    if criteria:  # pre-specified targets make this section's verdict a judgement, like the others'
        status = worst(c["verdict"] for c in criteria)
    return Section(
        name=NAME,
        title="Calibration",
        status=status,
        data={"confidence": settings.confidence, "bins": settings.calibration_bins, "metrics": list(METRICS),
              "criteria": criteria, "datasets": per_dataset},
        findings=findings,
        figures={"reliability": plots.reliability_figure(curves), **subgroup_figures(ctx)},
        evidence=evidence,
    )


def subgroup_figures(ctx: AuditContext) -> dict:
    """Smoothed calibration curves of the adequately sized groups of each sensitive attribute, one figure per
    dataset and attribute (the same lowess as the dataset's curve; groups too small to fit are left out)."""
    settings = ctx.spec.settings
    out = {}
    for ds in ctx.datasets.values():
        for part in build_partitions(ds, list(ctx.spec.data.sensitive), None, False):
            curves = {}
            for label, rows in part.members():
                y, p = ds.y[rows], ds.p[rows]
                if too_small(int(rows.sum()), int(y.sum()), settings):
                    continue
                cached = ctx.cache.get(("calibration/group", ds.name, part.name, str(label)))
                smooth, est = cached if cached is not None else (smoothed_calibration(y, p), glm_estimates(y, p, settings.confidence))
                keep = np.unique(np.linspace(0, smooth.p_sorted.size - 1, CURVE_POINTS).round().astype(int))
                curves[f"{part.name}={label}"] = {
                    "smooth": {"predicted": _rounded(smooth.p_sorted[keep]), "observed": _rounded(smooth.smoothed[keep])},
                    "slope": est["calibration_slope"].value, "intercept": est["calibration_intercept"].value,
                }
            if len(curves) >= 2:
                fig = plots.reliability_figure(curves)
                # the alt text names no group (labels are user text; the legend inside the SVG names them)
                alt = (f"Smoothed calibration curves of the {len(curves)} adequately sized groups of one sensitive attribute "
                       "against the diagonal of ideal calibration; the legend gives each group's slope and intercept, and the "
                       "table above gives their intervals.")
                out[f"subgroups_{ds.name}_{part.name}"] = Figure(fig.svg, alt, f"Calibration by {part.name} on {ds.name}")
    return out


def target_criteria(ds: EvaluatedDataset, ctx: AuditContext) -> list[dict]:
    """``settings.targets`` for the intercept, slope and O:E, judged on their one-sided bounds (the
    two-sided ``1 - 2 alpha`` Wald intervals)."""
    settings = ctx.spec.settings
    targets = {m: t for m, t in settings.targets.items() if m in ("calibration_intercept", "calibration_slope", "oe_ratio")}
    if not targets:
        return []
    one_sided = 1.0 - 2.0 * (1.0 - settings.confidence)
    clusters = ctx.design(ds).clusters
    est = glm_estimates(ds.y, ds.p, one_sided, settings.calibration_ci, clusters)
    est["oe_ratio"] = oe_ratio(ds.y, ds.p, one_sided, clusters)
    if settings.sampling == "case-control":
        for name in ("calibration_intercept", "oe_ratio"):
            est[name] = Estimate(np.nan, None, "case-control", ds.n, reason="not estimable under case-control sampling")
    return [target_criterion(m, t, est[m].to_dict(), settings.confidence, ds.name) for m, t in targets.items()]


def _rounded(x) -> list[float]:
    return [round(float(v), 6) for v in x]


#: Calibration quantities that depend on the prevalence: not estimable under case-control sampling
#: (the slope is: outcome-dependent sampling shifts a logistic model's intercept only; Prentice & Pyke 1979).
PREVALENCE_DEPENDENT = ("calibration_intercept", "oe_ratio", "ece", "ece_equal_mass")


def dataset_metrics(ds: EvaluatedDataset, ctx: AuditContext) -> dict[str, Estimate]:
    """Intercept, slope, O:E (analytic intervals; cluster-robust with ``data.cluster``) and the two ECEs (point estimates)."""
    conf = ctx.spec.settings.confidence
    bins = ctx.spec.settings.calibration_bins
    clusters = ctx.design(ds).clusters
    out = glm_estimates(ds.y, ds.p, conf, ctx.spec.settings.calibration_ci, clusters)
    out["oe_ratio"] = oe_ratio(ds.y, ds.p, conf, clusters)
    for name, strategy in (("ece", "uniform"), ("ece_equal_mass", "quantile")):
        out[name] = ece_estimate(ds.y, ds.p, bins, strategy)
    if ctx.spec.settings.sampling == "case-control":
        for name in PREVALENCE_DEPENDENT:
            out[name] = Estimate(np.nan, None, "case-control", ds.n,
                                 reason="not estimable under case-control sampling: it depends on the prevalence, which the design fixed")
    return out


def ece_estimate(y, p, bins: int, strategy: str) -> Estimate:
    """ECE without an interval: resampling inflates a binned ECE (each replicate adds noise to
    every bin's |observed - predicted|), so on the example data 98% of bootstrap replicates lie
    above the estimate and neither percentile nor BCa intervals cover it. Inference on
    calibration rests on the intercept and slope intervals."""
    return Estimate(ece(y, p, bins, strategy), None, "point-estimate", np.size(y),
                    reason="no interval: the bootstrap of a binned ECE is dominated by its upward bias")


def glm_estimates(y, p, confidence: float, method: str = "wald", clusters=None) -> dict[str, Estimate]:
    """Intercept and slope; a fit that fails (separation, one class) gives undefined estimates with the reason."""
    out = {}
    for name, fn in (("calibration_intercept", calibration_intercept), ("calibration_slope", calibration_slope)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = fn(y, p, confidence, method, clusters)
            if est.reason is None and not (np.isfinite(est.value) and est.ci is not None and np.all(np.isfinite(est.ci))):
                raise ValueError("non-finite fit")
        except Exception:  # noqa: BLE001 - statsmodels raises several kinds on degenerate data
            est = Estimate(np.nan, None, "wald-glm", np.size(y), reason="not estimable: the logistic recalibration model could not be fitted")
        out[name] = est
    return out


def subgroup_calibration(ds: EvaluatedDataset, ctx: AuditContext) -> list[dict]:
    """Intercept, slope and ECE per group of every partition the fairness check uses.

    A group with exactly the patients of an earlier one (``age_band=>=70`` and
    ``age_band=>=70 & meno=1`` when every patient over 70 has meno=1) is listed once, with
    ``same_as`` naming the other, and not tested twice. Each adequately sized group gets two Wald
    tests (intercept = 0, slope = 1); all tests of a dataset are adjusted together by Holm's
    method, and ``p_adjusted`` is what the findings judge.
    """
    settings = ctx.spec.settings
    partitions = build_partitions(ds, list(ctx.spec.data.sensitive), ctx.spec.data.site, settings.intersectional,
                                  settings.max_groups)
    out, seen = [], {}
    clusters = ctx.design(ds).clusters
    rng = stream_rng(settings.seed, f"{NAME}/expected/{ds.name}")
    for part in partitions:
        for label, rows in part.members():
            y, p = ds.y[rows], ds.p[rows]
            n, events = int(rows.sum()), int(y.sum())
            small = bool(too_small(n, events, settings))
            entry = {"partition": part.name, "group": str(label), "n": n, "n_events": events,
                     "status": "insufficient evidence" if small else "ok",
                     "prevalence": proportion(events, n, settings.confidence).to_dict(), "metrics": {}}
            key = np.flatnonzero(rows).tobytes()
            if key in seen:
                entry["same_as"] = seen[key]
                entry["status"] = "same patients"
                out.append(entry)
                continue
            seen[key] = _where(part.name, str(label))
            if not small:
                metrics = glm_estimates(y, p, settings.confidence, settings.calibration_ci, None if clusters is None else clusters[rows])
                metrics["ece"] = ece_estimate(y, p, settings.calibration_bins, "uniform")
                entry["metrics"] = {k: v.to_dict() for k, v in metrics.items()}
                # the group's lowess curve and the 40 simulated ones of a calibrated model: one pass
                smooth, expected = smoothed_and_expected(y, p, settings.calibration_bins, rng)
                # the subgroup figures draw the same curve with the same fit's slope and intercept: computed once
                ctx.cache[("calibration/group", ds.name, part.name, str(label))] = (smooth, metrics)
                entry["ici"] = smooth.ici
                entry["expected_if_calibrated"] = expected
                entry["tests"] = {"calibration_intercept": wald_p(metrics["calibration_intercept"], 0.0, settings.confidence),
                                  "calibration_slope": wald_p(metrics["calibration_slope"], 1.0, settings.confidence)}
            out.append(entry)
    holm(out)
    return out


def _where(partition: str, group: str) -> str:
    return group if " & " in group else f"{partition}={group}"


def wald_p(est: Estimate, null: float, confidence: float) -> dict:
    """Two-sided Wald p-value of ``est = null`` from its interval (half-width / z is the standard error)."""
    from scipy.special import ndtr, ndtri

    if est.ci is None or not np.isfinite(est.value):
        return {"p_value": None, "p_adjusted": None}
    se = (est.ci[1] - est.ci[0]) / (2 * ndtri(0.5 + confidence / 2))
    return {"p_value": float(2 * ndtr(-abs(est.value - null) / se)) if se > 0 else None, "p_adjusted": None}


def holm(groups: list[dict]) -> None:
    """Holm-adjust every subgroup test of the dataset together (family-wise error; statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    tests = [t for g in groups for t in (g.get("tests") or {}).values() if t["p_value"] is not None]
    if tests:
        adjusted = multipletests([t["p_value"] for t in tests], method="holm")[1]
        for t, a in zip(tests, adjusted):
            t["p_adjusted"] = float(a)


def _excludes(est: dict | Estimate, ideal: float) -> int:
    """+1 when the CI lies above ``ideal``, -1 when below, 0 when it covers it or is missing."""
    ci = est.ci if isinstance(est, Estimate) else est.get("ci")
    if not ci or ci[0] is None:
        return 0
    return 1 if ci[0] > ideal else (-1 if ci[1] < ideal else 0)


def _describe(where: str, slope, intercept, level: str, advice: bool = True) -> list[tuple[str, str]]:
    out = []
    s = _excludes(slope, 1.0)
    sv, sci = (slope.value, slope.ci) if isinstance(slope, Estimate) else (slope["value"], slope["ci"])
    if s:
        kind, why = ("too extreme", "below 1: typical of overfitting or a different case mix") if s < 0 else ("too moderate", "above 1")
        out.append(("warning", f"Predicted risks are {kind} {where}: calibration slope {sv:.2f}, {level} CI {sci[0]:.2f} to {sci[1]:.2f} ({why})."))
    a = _excludes(intercept, 0.0)
    av, aci = (intercept.value, intercept.ci) if isinstance(intercept, Estimate) else (intercept["value"], intercept["ci"])
    if a:
        kind = "too high" if a < 0 else "too low"
        # updating the intercept only helps when the slope is compatible with 1 (otherwise the whole model needs recalibrating)
        fix = (" If the outcome definition and case mix are comparable, updating the intercept would remove this average bias."
               if advice and not s else "")
        out.append(("warning", f"Predicted risks are {kind} on average {where}: calibration-in-the-large {av:+.2f}, "
                    f"{level} CI {aci[0]:+.2f} to {aci[1]:+.2f} (0 is ideal).{fix}"))
    return out


def dataset_findings(name: str, metrics: dict[str, Estimate], confidence: float) -> list[Finding]:
    level = f"{confidence:.0%}"
    found = _describe(f"in {name}", metrics["calibration_slope"], metrics["calibration_intercept"], level)
    oe = metrics["oe_ratio"]
    if found and oe.ci is not None:
        found[-1] = (found[-1][0], found[-1][1] + f" Observed/expected events: {oe.value:.2f} ({level} CI {oe.ci[0]:.2f} to {oe.ci[1]:.2f}).")
    missing = [(k, metrics[k].reason) for k in ("calibration_intercept", "calibration_slope") if metrics[k].ci is None and metrics[k].reason]
    for key, reason in missing:
        what = "calibration slope" if key == "calibration_slope" else "calibration-in-the-large"
        severity = "warning" if "separate" in reason else "info"
        found.append((severity, f"The {what} of {name} is {reason.removeprefix('not estimable: ')} (not estimable)."))
    if not found:
        found.append(("info", f"No evidence of miscalibration in {name}: intercept and slope intervals cover 0 and 1."))
    return [Finding(NAME, sev, msg, name) for sev, msg in found]


def subgroup_findings(name: str, subgroups: list[dict], confidence: float) -> list[Finding]:
    """Subgroup miscalibration judged by the Holm-adjusted tests (the intervals shown are per group, unadjusted)."""
    level = f"{confidence:.0%}"
    alpha = 1 - confidence
    out = []
    for g in subgroups:
        tests = g.get("tests") or {}
        flagged = {k for k, t in tests.items() if t.get("p_adjusted") is not None and t["p_adjusted"] < alpha}
        if g["status"] != "ok" or not flagged:
            continue
        where = f"for {_where(g['partition'], g['group'])} in {name}"
        metrics = g["metrics"]
        slope = metrics["calibration_slope"] if "calibration_slope" in flagged else {"value": 1.0, "ci": None}
        intercept = metrics["calibration_intercept"] if "calibration_intercept" in flagged else {"value": 0.0, "ci": None}
        for sev, msg in _describe(where, slope, intercept, level, advice=False):
            key = "calibration_slope" if "slope" in msg else "calibration_intercept"
            out.append(Finding(NAME, sev, msg[:-1] + f"; Holm-adjusted p = {tests[key]['p_adjusted']:.2g} over the dataset's subgroup tests.", name))
    return out
