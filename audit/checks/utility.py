"""The utility check: decision curve analysis (Vickers & Elkin, Med Decis Making 2006).

Net benefit of acting on the model, of treating everyone and of treating no one, over a range
of threshold probabilities (``settings.dca_thresholds``), per dataset, with bootstrap intervals
for the model's curve (``audit.stats.net_benefit``). A threshold probability t expresses how a
clinician weighs harms against benefits: treating at t means accepting t/(1-t) unnecessary
treatments per case found. The model is useful at t where its net benefit exceeds both defaults.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext
from ..errors import AuditInputError
from ..evidence import shown
from ..groups import build_partitions, too_small
from ..stats.net_benefit import DEFAULT_THRESHOLDS, TIE, check_thresholds, decision_curve
from ..verdicts import criterion, judge_interval_against, worst
from .base import Finding, Section

NAME = "utility"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "survival")


def run(ctx: AuditContext) -> Section:
    if ctx.task.name == "survival":
        from . import utility_survival

        return utility_survival.run(ctx)
    settings = ctx.spec.settings
    try:
        thresholds = check_thresholds(settings.dca_thresholds or DEFAULT_THRESHOLDS)
        if 0 < settings.threshold < 1 and not np.any(np.isclose(thresholds, settings.threshold, rtol=0, atol=1e-12)):
            thresholds = np.sort(np.r_[thresholds, settings.threshold])  # the verdict is judged there
    except ValueError as exc:
        raise AuditInputError(f"settings.dca_thresholds: {exc}") from None
    if settings.sampling == "case-control":
        why = ("net benefit depends on the prevalence, which case-control sampling fixed by design "
               "(settings.sampling: case-control), so it is not estimable from these data")
        return Section(NAME, "Clinical utility (decision curves)", "not run", {"reason": why},
                       [Finding(NAME, "info", f"The utility check was not run: {why}.")])
    per_dataset, findings = {}, []
    for ds in ctx.datasets.values():
        ctx.report_progress(f"utility: decision curve on {ds.name}")
        curve = decision_curve(ds.y, ds.p, thresholds, ctx.engine, ctx.stream(ds), ctx.design(ds), settings.dca_range)
        if settings.dca_subgroups:
            curve["subgroups"] = subgroup_curves(ds, ctx, thresholds)
        per_dataset[ds.name] = curve
        findings.append(useful_range(ds.name, curve))
        findings += [useful_range(f"{ds.name}, {g['partition']}={g['group']}", g) for g in curve.get("subgroups", []) if g.get("model")]
    if settings.dca_range is None:
        criteria = [net_benefit_criterion(name, curve, settings.threshold, settings.confidence) for name, curve in per_dataset.items()]
    else:
        criteria = [range_criterion(name, curve, settings.confidence) for name, curve in per_dataset.items()]
    return Section(
        name=NAME,
        title="Clinical utility (decision curves)",
        status=worst(c["verdict"] for c in criteria),
        data={"confidence": settings.confidence, "threshold": settings.threshold, "criteria": criteria, "datasets": per_dataset},
        findings=findings,
        figures={"decision_curve": plots.decision_curve_figure(per_dataset)},
        evidence=shown("utility.net_benefit"),
    )


def net_benefit_criterion(name: str, curve: dict, threshold: float, confidence: float) -> dict:
    """At the spec's threshold: the model against treat-all and against treat-none, by paired intervals.

    pass when both differences' lower bounds exceed 0; fail when either upper bound is below 0;
    otherwise inconclusive (a tie, where the model treats the same patients as a default
    strategy, is not a benefit).
    """
    j = int(np.argmin(np.abs(np.asarray(curve["thresholds"]) - threshold)))
    vs_all, vs_none = curve["model_minus_treat_all"][j], curve["model"][j]
    level = f"{confidence:.0%}"
    rule = (f"at the threshold {threshold:g}: pass when the {level} CIs of net benefit minus treat-all and minus treat-none "
            "(paired) both lie above 0; fail when either lies wholly below 0; otherwise inconclusive")
    verdicts = [judge_interval_against(d, 0.0, higher_is_better=True) for d in (vs_all, vs_none)]
    verdict = worst(v for v, _ in verdicts)
    reason = "; ".join(r for _, r in verdicts if r) or None
    return criterion("net benefit above treat-all and treat-none", rule, verdict, name, "net_benefit", vs_all, 0.0, reason)


def range_criterion(name: str, curve: dict, confidence: float) -> dict:
    """Throughout ``settings.dca_range``, by simultaneous bands: pass when every lower bound of both
    differences exceeds 0, fail when an upper bound falls below 0 somewhere, otherwise inconclusive."""
    band = curve["simultaneous"]
    lo, hi = band["range"]
    level = f"{confidence:.0%}"
    rule = (f"throughout the pre-specified range {lo:g} to {hi:g} ({len(band['thresholds'])} thresholds): pass when the "
            f"simultaneous {level} bands of net benefit minus treat-all and minus treat-none lie above 0 everywhere; "
            "fail when either lies wholly below 0 somewhere; otherwise inconclusive")
    bounds = band["model_minus_treat_all"] + band["model_minus_treat_none"]
    if not bounds:
        return criterion("net benefit above both defaults throughout the range", rule, "insufficient evidence", name, "net_benefit",
                         None, [lo, hi], "no threshold in the range")
    if any(b is not None and b[1] < 0 for b in bounds):
        verdict = "fail"
    elif all(b is not None and b[0] > 0 for b in bounds):
        verdict = "pass"
    else:
        verdict = "inconclusive"
    return criterion("net benefit above both defaults throughout the range", rule, verdict, name, "net_benefit", None, [lo, hi])


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True as (first, last) index pairs."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def useful_range(name: str, curve: dict) -> Finding:
    """Where the model's estimated net benefit exceeds both treat-all and treat-none by more than a tie,
    as contiguous ranges of thresholds (point estimates; the verdict rests on the intervals)."""
    t = np.asarray(curve["thresholds"])
    vs_all = np.array([m["value"] if m["value"] is not None else np.nan for m in curve["model_minus_treat_all"]])
    model = np.array([m["value"] if m["value"] is not None else np.nan for m in curve["model"]])
    better = (vs_all > TIE) & (model > TIE)
    if not better.any():
        return Finding(NAME, "warning", f"On {name} the model's estimated net benefit never exceeds both treating everyone and treating no one.", name)
    spans = ", ".join(f"{t[a]:.2f}" if a == b else f"{t[a]:.2f} to {t[b]:.2f}" for a, b in runs(better))
    return Finding(
        NAME, "info",
        f"On {name} the model's estimated net benefit exceeds both treating everyone and treating no one at threshold "
        f"probabilities {spans} ({int(better.sum())} of {t.size} thresholds; point estimates, see the intervals).",
        name,
    )


def subgroup_curves(ds, ctx: AuditContext, thresholds) -> list[dict]:
    """Decision curves per group of each sensitive attribute (groups too small to judge are listed, not drawn)."""
    settings = ctx.spec.settings
    out = []
    for part in build_partitions(ds, list(ctx.spec.data.sensitive), None, False):
        for label, rows in part.members():
            y, p = ds.y[rows], ds.p[rows]
            n, events = int(rows.sum()), int(y.sum())
            entry = {"partition": part.name, "group": str(label), "n": n, "n_events": events}
            if not too_small(n, events, settings):
                design = ctx.design(ds).subset(rows)
                entry.update(decision_curve(y, p, thresholds, ctx.engine, f"{NAME}/{ds.name}/{part.name}/{label}", design))
                entry["status"] = "ok"
            else:
                entry["status"] = "insufficient evidence"
            out.append(entry)
    return out
