"""Verdicts that can fail: each criterion a section judges, the rule that judged it, and the section's verdict.

DESIGN.md, "Verdicts": every criterion ends ``pass``, ``fail``, ``inconclusive`` (the interval
straddles the target or margin) or ``insufficient evidence`` (too little data to judge); a
section's verdict is its worst criterion in the order fail > inconclusive > insufficient evidence
> pass. Warnings are findings, not verdicts. A criterion carries its rule as a sentence, which the
report prints beside the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Worst first.
VERDICT_ORDER = ("fail", "inconclusive", "insufficient evidence", "pass")


def worst(verdicts: Iterable[str], default: str = "insufficient evidence") -> str:
    """The worst verdict of several (``default`` when there are none)."""
    given = [v for v in verdicts if v in VERDICT_ORDER]
    if not given:
        return default
    return min(given, key=VERDICT_ORDER.index)


def criterion(name: str, rule: str, verdict: str, dataset: str | None = None, metric: str | None = None,
              estimate: Mapping | None = None, target=None, reason: str | None = None) -> dict:
    """One judged criterion, as results.json stores it (``sections.<check>.criteria[]``)."""
    out = {"criterion": name, "dataset": dataset, "metric": metric, "rule": rule, "verdict": verdict,
           "target": target, "estimate": dict(estimate) if estimate is not None else None}
    if reason:
        out["reason"] = reason
    return out


def judge_interval_against(estimate: Mapping | None, target: float, higher_is_better: bool) -> tuple[str, str | None]:
    """``pass`` when the whole interval is on the good side of ``target``, ``fail`` when the whole interval
    is on the bad side, ``inconclusive`` when it contains the target; ``insufficient evidence`` without one.

    One-sided bounds count: a lower bound above a higher-is-better target passes.
    """
    if estimate is None or estimate.get("value") is None:
        return "insufficient evidence", (estimate or {}).get("reason") or "not estimable"
    ci = estimate.get("ci")
    if not ci:
        return "insufficient evidence", estimate.get("reason") or "no interval"
    lo, hi = ci
    lo = -float("inf") if lo is None else lo
    hi = float("inf") if hi is None else hi
    if higher_is_better:
        return ("pass" if lo > target else "fail" if hi < target else "inconclusive"), None
    return ("pass" if hi < target else "fail" if lo > target else "inconclusive"), None


def judge_interval_within(estimate: Mapping | None, low: float, high: float) -> tuple[str, str | None]:
    """For a target range ``[low, high]`` (e.g. a calibration slope in [0.8, 1.2]): ``pass`` when the
    interval lies inside it, ``fail`` when it lies wholly outside, else ``inconclusive``."""
    if estimate is None or estimate.get("value") is None or not estimate.get("ci") or None in estimate["ci"]:
        return "insufficient evidence", (estimate or {}).get("reason") or "no interval"
    lo, hi = estimate["ci"]
    if low <= lo and hi <= high:
        return "pass", None
    if hi < low or lo > high:
        return "fail", None
    return "inconclusive", None


def target_criterion(metric: str, target, estimate: Mapping, confidence: float, dataset: str | None, where: str = "") -> dict:
    """A pre-specified target (``settings.targets``) judged on ``estimate``, the metric's two-sided
    ``1 - 2 (1 - confidence)`` interval, whose ends are the one-sided ``confidence`` bounds.

    A number is a minimum for a higher-is-better metric and a maximum for a lower-is-better one
    (``labels.METRIC_DIRECTION``); a pair ``(low, high)`` is a range the whole interval must lie in.
    """
    from .labels import METRIC_DIRECTION, metric_label

    level = f"{confidence:.0%}"
    one_sided = 1.0 - 2.0 * (1.0 - confidence)
    label = metric_label(metric, short=True)
    if isinstance(target, (tuple, list)):
        verdict, reason = judge_interval_within(estimate, *target)
        rule = (f"pass when both one-sided {level} bounds lie within [{target[0]:g}, {target[1]:g}]; fail when the interval "
                "lies wholly outside; otherwise inconclusive")
        name = f"{label} within [{target[0]:g}, {target[1]:g}]"
        target = list(target)
    else:
        higher = METRIC_DIRECTION.get(metric) == "higher"
        verdict, reason = judge_interval_against(estimate, float(target), higher)
        bound, opposite = ("lower", "upper") if higher else ("upper", "lower")
        word = "at least" if higher else "at most"
        rule = (f"pre-specified target: {label} {word} {target:g}; pass when the one-sided {level} {bound} bound clears it, "
                f"fail when the {opposite} bound misses it, otherwise inconclusive (interval shown: two-sided {one_sided:.0%})")
        name = f"{label} {word} {target:g}"
    return criterion(name + where, rule, verdict, dataset, metric, estimate, target, reason)
