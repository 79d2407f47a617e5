"""The performance check of a survival audit: discrimination and accuracy of predicted risks with censored follow-up.

Per dataset (``audit.estimates.survival_estimates``): Harrell's and Uno's C truncated at the largest horizon, with
the infinitesimal-jackknife interval of ``survival::concordance``; at each horizon the time-dependent AUC, the
IPCW Brier score and IPA, and sensitivity and specificity at ``settings.threshold`` (IPCW), with bootstrap
intervals from the dataset's one resample stream, and the O/E ratio with McLernon et al.'s interval. A horizon
the follow-up cannot support is "not estimable" with the reason. Discrimination is judged by Harrell's C against
chance; ``settings.targets`` by one-sided bounds (the C indices once, the other metrics at every horizon).
"""

from __future__ import annotations

from ..context import AuditContext
from ..estimates import survival_estimates
from ..evidence import shown
from ..stats.survival import HORIZON_METRICS, MIN_AT_RISK, MIN_CENSORING_SURVIVAL
from ..tasks.survival import SURVIVAL_METRICS, horizons
from ..verdicts import criterion, judge_interval_against, target_criterion, worst
from .base import Finding, Section

NAME = "performance"
#: What the report states beside the survival tables (DESIGN.md: conventions are stated).
CONVENTIONS = (
    "The censoring distribution G is the reverse Kaplan–Meier estimate of each validation dataset itself, with events "
    "before censorings at tied times; a case's weight uses G just before its event time.",
    "Harrell's and Uno's C rank patients by the risk at the largest horizon (or data.risk_score) and use follow-up "
    "truncated (censored) at that horizon; tied risks count one half, pairs of tied event times are not comparable.",
    "At a horizon t, cases had the event by t and controls are event-free beyond t (T > t); patients censored by t "
    "are represented through the inverse-probability-of-censoring weights (cumulative/dynamic AUC, Brier score). Data "
    "censored administratively at t are therefore evaluated just before t (e.g. 4.99 for 5 years).",
    f"A horizon is not estimable on a dataset when it lies beyond the follow-up, fewer than {MIN_AT_RISK} patients remain "
    f"at risk, or G(t) < {MIN_CENSORING_SURVIVAL:g}.",
)


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    level = f"{settings.confidence:.0%}"
    rule = f"pass when the {level} CI of Harrell's C lies above 0.5 (chance); fail when it lies below; otherwise inconclusive"
    per_dataset, criteria, findings, targets = {}, [], [], []
    keys = [k for k in _keys(ctx)]
    for ds in ctx.datasets.values():
        ctx.report_progress(f"performance: survival metrics on {ds.name} (n={ds.n}, B={ctx.engine.n_resamples})")
        est = survival_estimates(ctx, ds)
        metrics = {m: e.to_dict() for m, e in est["metrics"].items()}
        per_horizon = {h: {m: e.to_dict() for m, e in row.items()} for h, row in est["horizons"].items()}
        follow_up = {h: {"at_risk": s.at_risk, "events": s.events, "censoring_survival": s.censoring_survival,
                         **({"reason": s.reason} if s.reason else {})} for h, s in est["status"].items()}
        per_dataset[ds.name] = {"metrics": metrics, "horizons": per_horizon, "follow_up": follow_up,
                                "n": ds.n, "n_events": int(ds.y[:, 1].sum())}
        verdict, reason = judge_interval_against(metrics["harrell_c"], 0.5, higher_is_better=True)
        criteria.append(criterion("discrimination better than chance", rule, verdict, ds.name, "harrell_c", metrics["harrell_c"], 0.5, reason))
        for h, s in est["status"].items():
            if s.reason:
                findings.append(Finding(NAME, "warning", f"On {ds.name}, metrics at horizon {h} are {s.reason}.", ds.name))
        ds_targets = _targets(ctx, ds)
        criteria += ds_targets
        targets += ds_targets
    if ctx.spec.data.prediction is None and ctx.spec.model is None:
        findings.append(Finding(NAME, "info", "Only a risk score is given (data.risk_score): discrimination is assessed; the "
                                              "Brier score, IPA, O/E and calibration need the predicted risk by each horizon."))
    evidence = shown("performance.ci", "performance.censoring", *(["performance.external"] if ctx.external else []))
    if targets:
        judged = {c["verdict"] for c in targets} <= {"pass", "fail", "inconclusive"}
        evidence["performance.targets"] = "shown" if judged else "thin"
        evidence["performance.targets_met"] = "shown" if all(c["verdict"] == "pass" for c in targets) else "thin"
    return Section(
        name=NAME,
        title="Performance",
        status=worst(c["verdict"] for c in criteria),
        data={"task": "survival", "confidence": ctx.engine.confidence, "clustered": ctx.spec.data.cluster is not None,
              "horizons": keys, "time_unit": settings.time_unit, "threshold": settings.threshold,
              "metrics": list(SURVIVAL_METRICS), "horizon_metrics": list(HORIZON_METRICS),
              "conventions": list(CONVENTIONS), "datasets": per_dataset, "criteria": criteria},
        findings=findings,
        evidence=evidence,
    )


def _keys(ctx: AuditContext) -> list[str]:
    from ..stats.survival import horizon_key

    return [horizon_key(h) for h in horizons(ctx.spec.settings)]


def _targets(ctx: AuditContext, ds) -> list[dict]:
    """``settings.targets`` judged on one-sided bounds: the C indices once, the metrics at each horizon."""
    settings = ctx.spec.settings
    if not settings.targets:
        return []
    est = survival_estimates(ctx, ds, one_sided=True)
    out = []
    for metric, target in settings.targets.items():
        if metric in est["metrics"]:
            out.append(target_criterion(metric, target, est["metrics"][metric].to_dict(), settings.confidence, ds.name))
        for h, row in est["horizons"].items():
            if metric in row:
                out.append(target_criterion(metric, target, row[metric].to_dict(), settings.confidence, ds.name, f" at {h}"))
    return out
