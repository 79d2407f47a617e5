"""The calibration check of a survival audit: do predicted risks by the horizon match the observed risks?

Per dataset and horizon (``audit.stats.survival_calibration``; McLernon et al., Ann Intern Med 2023): the O/E ratio
(Kaplan–Meier observed risk over the mean predicted risk, interval ``exp(+-z / sqrt(events))``), the Cox calibration
slope on the complementary log-log of the predicted risk (Wald interval), and the restricted-cubic-spline Cox
calibration curve with ICI, E50, E90 and Emax (point estimates, as McLernon et al. report them), drawn with the
Kaplan–Meier risk of deciles of predicted risk. Per group of every partition of the fairness check (same groups,
same small-group rule), at the largest horizon: O/E and slope, with two Wald tests per group (log O/E = 0, slope = 1)
Holm-adjusted over the dataset, as the binary check does.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import survival_estimates
from ..evidence import SHOWN, THIN, shown
from ..groups import build_partitions, too_small
from ..stats import Estimate
from ..stats.survival import horizon_key, horizon_status, kaplan_meier, oe_interval
from ..stats.survival_calibration import calibration_curve, calibration_slope, risk_groups
from ..tasks.survival import horizons
from ..verdicts import target_criterion, worst
from .base import Finding, Section
from .calibration import NAME, holm, wald_p

METRICS = ("oe_ratio", "calibration_slope")


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    if ctx.internal.p.shape[1] < 2:
        why = "calibration needs the predicted risk by the horizon; only a risk score (data.risk_score) is given"
        return Section(NAME, "Calibration", "not run", {"reason": why}, [Finding(NAME, "info", f"The calibration check was not run: {why}.")])
    hs = horizons(settings)
    per_dataset, findings, criteria, figures = {}, [], [], {}
    curves_by_horizon: dict[str, dict] = {horizon_key(h): {} for h in hs}
    for ds in ctx.datasets.values():
        ctx.report_progress(f"calibration: {ds.name}")
        time, event = ds.y[:, 0], ds.y[:, 1].astype(np.int8)
        own = survival_estimates(ctx, ds)
        entry = {"horizons": {}}
        for j, h in enumerate(hs):
            hk = horizon_key(h)
            risk = ds.p[:, 1 + j]
            status = own["status"][hk]
            if not status.estimable:
                entry["horizons"][hk] = {"reason": status.reason}
                continue
            slope = calibration_slope(time, event, risk, h, settings.confidence)
            metrics = {"oe_ratio": own["horizons"][hk]["oe_ratio"], "calibration_slope": slope}
            curve = calibration_curve(time, event, risk, h)
            groups = risk_groups(time, event, risk, h)
            summaries = None if curve is None else {"ici": curve.ici, "e50": curve.e50, "e90": curve.e90, "emax": curve.emax}
            entry["horizons"][hk] = {
                "metrics": {k: v.to_dict() for k, v in metrics.items()},
                "summaries": summaries,
                **({} if curve is not None else {"summaries_reason": "the spline calibration model could not be fitted"}),
                "curve": None if curve is None else {"predicted": _rounded(curve.grid_predicted), "observed": _rounded(curve.grid_observed),
                                                     "knots_cloglog": _rounded(curve.knots)},
                "risk_groups": groups,
            }
            curves_by_horizon[hk][ds.name] = {
                "smooth": {"predicted": [] if curve is None else _rounded(curve.grid_predicted),
                           "observed": [] if curve is None else _rounded(curve.grid_observed)},
                "bins": [{"predicted": g["predicted"], "observed": g["observed"], "ci": None, "n": g["n"]} for g in groups],
                "histogram": _histogram(risk), "slope": slope.value, "intercept": None,
            }
            findings += describe(f"in {ds.name} at {hk}", metrics, settings.confidence)
            criteria += targets(ctx, time, event, risk, h, metrics, ds.name, hk)
        entry["subgroups"] = subgroup_calibration(ds, ctx, hs[-1], ds.p[:, -1])
        findings += subgroup_findings(ds.name, entry["subgroups"], settings.confidence)
        per_dataset[ds.name] = entry
    for hk, curves in curves_by_horizon.items():
        if curves:
            figures[f"reliability_{hk}"] = plots.reliability_figure(
                curves, title=f"Calibration at {hk} {settings.time_unit or ''}".strip())
    evidence = shown("calibration.slope_intercept", "calibration.curve")
    groups = [g for d in per_dataset.values() for g in d["subgroups"]]
    if groups:
        evidence["calibration.subgroups"] = SHOWN if any(g["status"] == "ok" for g in groups) else THIN
    status = "warning" if any(f.severity != "info" for f in findings) else "pass"
    if criteria:
        status = worst(c["verdict"] for c in criteria)
    return Section(
        name=NAME,
        title="Calibration",
        status=status,
        data={"task": "survival", "confidence": settings.confidence, "metrics": list(METRICS), "horizons": list(curves_by_horizon),
              "time_unit": settings.time_unit, "criteria": criteria, "datasets": per_dataset,
              "method": ("O/E: Kaplan–Meier risk over mean predicted risk; slope: Cox regression on cloglog(risk), follow-up censored "
                         "at the horizon; curve: Cox model on a 3-knot restricted cubic spline of cloglog(risk) (McLernon et al. 2023)")},
        findings=findings,
        figures=figures,
        evidence=evidence,
    )


def targets(ctx: AuditContext, time, event, risk, horizon: float, metrics: dict, dataset: str, hk: str) -> list[dict]:
    """``settings.targets`` for the slope and O/E at each horizon, judged on one-sided bounds."""
    settings = ctx.spec.settings
    wanted = {m: t for m, t in settings.targets.items() if m in METRICS}
    if not wanted:
        return []
    one_sided = 1.0 - 2.0 * (1.0 - settings.confidence)
    est = {"calibration_slope": calibration_slope(time, event, risk, horizon, one_sided)}
    oe = metrics["oe_ratio"]
    est["oe_ratio"] = Estimate(oe.value, oe_interval(oe.value, oe.n, one_sided), oe.method, oe.n)
    return [target_criterion(m, t, est[m].to_dict(), settings.confidence, dataset, f" at {hk}") for m, t in wanted.items()]


def describe(where: str, metrics: dict, confidence: float) -> list[Finding]:
    level = f"{confidence:.0%}"
    out = []
    slope, oe = metrics["calibration_slope"], metrics["oe_ratio"]
    if slope.ci is not None and not (slope.ci[0] <= 1 <= slope.ci[1]):
        kind = "too extreme (below 1: typical of overfitting or a different case mix)" if slope.ci[1] < 1 else "too moderate (above 1)"
        out.append(("warning", f"Predicted risks are {kind} {where}: calibration slope {slope.value:.2f}, {level} CI {slope.ci[0]:.2f} to {slope.ci[1]:.2f}."))
    if oe.ci is not None and not (oe.ci[0] <= 1 <= oe.ci[1]):
        kind = "too low (more events than predicted)" if oe.ci[0] > 1 else "too high (fewer events than predicted)"
        out.append(("warning", f"Predicted risks are {kind} on average {where}: observed/expected {oe.value:.2f}, {level} CI "
                               f"{oe.ci[0]:.2f} to {oe.ci[1]:.2f} (Kaplan–Meier observed risk; 1 is ideal)."))
    if not out:
        out.append(("info", f"No evidence of miscalibration {where}: the O/E and slope intervals cover 1."))
    dataset = where.split(" in ", 1)[-1].split(" at ")[0]
    return [Finding(NAME, sev, msg, dataset) for sev, msg in out]


def subgroup_calibration(ds: EvaluatedDataset, ctx: AuditContext, horizon: float, risk: np.ndarray) -> list[dict]:
    """O/E and slope at ``horizon`` per group of every partition the fairness check uses; two Wald tests per adequately
    sized group (log O/E = 0 with se 1/sqrt(events), slope = 1), Holm-adjusted over the dataset."""
    settings = ctx.spec.settings
    partitions = build_partitions(ds, list(ctx.spec.data.sensitive), ctx.spec.data.site, settings.intersectional, settings.max_groups)
    out, seen = [], {}
    for part in partitions:
        for label, rows in part.members():
            time, event, r = ds.y[rows, 0], ds.y[rows, 1].astype(np.int8), risk[rows]
            n = int(rows.sum())
            events = int(((time <= horizon) & (event == 1)).sum())
            reasons = too_small(n, events, settings)
            status = horizon_status(time, event, horizon) if event.any() else None
            if status is not None and not status.estimable:
                reasons.append(status.reason.removeprefix("not estimable: "))
            entry = {"partition": part.name, "group": str(label), "n": n, "n_events": events,
                     "status": "insufficient evidence" if reasons or status is None else "ok", "metrics": {}}
            key = np.flatnonzero(rows).tobytes()
            if key in seen:
                entry.update(same_as=seen[key], status="same patients")
                out.append(entry)
                continue
            seen[key] = label if " & " in str(label) else f"{part.name}={label}"
            if entry["status"] == "ok":
                observed = float(1 - kaplan_meier(time, event, horizon)[0])
                value = observed / float(r.mean())
                oe = Estimate(value, oe_interval(value, events, settings.confidence), "poisson-log", events)
                slope = calibration_slope(time, event, r, horizon, settings.confidence)
                entry["metrics"] = {"oe_ratio": oe.to_dict(), "calibration_slope": slope.to_dict()}
                oe_p = float(2 * ndtr(-abs(math.log(value)) * math.sqrt(events))) if value > 0 else None
                entry["tests"] = {"oe_ratio": {"p_value": oe_p, "p_adjusted": None},
                                  "calibration_slope": wald_p(slope, 1.0, settings.confidence)}
            out.append(entry)
    holm(out)
    return out


def subgroup_findings(name: str, subgroups: list[dict], confidence: float) -> list[Finding]:
    """Subgroups whose O/E or slope differ from 1 by the Holm-adjusted tests."""
    alpha = 1 - confidence
    out = []
    for g in subgroups:
        for metric, t in (g.get("tests") or {}).items():
            if t.get("p_adjusted") is not None and t["p_adjusted"] < alpha:
                est = g["metrics"][metric]
                what = "observed/expected" if metric == "oe_ratio" else "calibration slope"
                where = g["group"] if " & " in g["group"] else f"{g['partition']}={g['group']}"
                out.append(Finding(NAME, "warning", f"Miscalibration for {where} in {name}: {what} {est['value']:.2f} "
                                                    f"(Holm-adjusted p = {t['p_adjusted']:.2g} over the dataset's subgroup tests).", name))
    return out


def _histogram(risk: np.ndarray) -> dict:
    counts, edges = np.histogram(risk, bins=np.linspace(0, 1, 21))
    return {"edges": _rounded(edges), "counts": counts.tolist()}


def _rounded(x) -> list[float]:
    return [round(float(v), 6) for v in x]
