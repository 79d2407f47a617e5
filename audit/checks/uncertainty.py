"""The uncertainty check: split conformal prediction sets (MAPIE, LAC score), overall and per group.

The dataset ``data.calibration`` (same columns as ``test``) or, when absent, a seeded,
outcome-stratified share of the internal test set (``settings.conformal_calibration_share``)
calibrates MAPIE's ``SplitConformalClassifier`` (conformity score LAC, the only one MAPIE accepts
for a binary target) at each target coverage in ``settings.coverage``; the rest of the test set and
every external dataset are evaluated. The guarantee P(y in set) >= 1 - alpha holds only for
patients exchangeable with the calibration set, so coverage on an external site, or within a
subgroup, can fall short: that is reported and, when a group's whole interval lies below the
target, flagged. With ``settings.mondrian`` each group of every attribute is also calibrated on
its own (group-conditional, "Mondrian" conformal), which restores the guarantee per group; both
are shown side by side.

MAPIE is given the model's predicted probabilities through a fitted pass-through classifier
(``ScoreClassifier``): LAC needs nothing but P(class), so predictions-only audits and audits with
a model are treated alike, and the probabilities are exactly those every other check uses.
Intervals: Wilson for coverage and the shares of empty and two-class sets; mean set size with a
normal interval.
"""

from __future__ import annotations

import numpy as np
from mapie.classification import SplitConformalClassifier
from scipy.special import ndtri
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..evidence import THIN, shown
from ..groups import build_partitions, too_small
from ..stats import Estimate, proportion
from ..verdicts import criterion, judge_interval_against, worst
from .base import Finding, Section

NAME = "uncertainty"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass")


class ScoreClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier whose one input column is P(positive)."""

    def fit(self, X=None, y=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (np.asarray(X, dtype=float)[:, 0] >= 0.5).astype(int)


def minimum_calibration_size(level: float) -> int:
    """The fewest calibration patients split conformal needs for coverage ``level``: more than ``1 / (1 - level)``
    (else the conformal quantile is infinite and every set holds both classes) and than ``1 / level`` (MAPIE's rule)."""
    return int(np.floor(max(1 / (1 - level), 1 / level) + 1e-9)) + 1


def calibration_shortfall(n_cal: int, level: float) -> str | None:
    """Why ``n_cal`` calibration patients cannot give sets at ``level`` (None when they can)."""
    need = minimum_calibration_size(level)
    return None if n_cal >= need else f"{n_cal} calibration patients, at least {need} needed for {level:.0%} coverage"


def calibration_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices calibrating and evaluated: a seeded split of ``share``, stratified by outcome when each outcome
    has at least two patients (a lone patient with an outcome cannot be split; the split is then unstratified)."""
    counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
    stratify = y if counts.min() >= 2 else None
    return train_test_split(np.arange(y.size), train_size=share, stratify=stratify, random_state=seed)


def conformal_sets(p_cal, y_cal, p_eval, levels: list[float]) -> np.ndarray:
    """Prediction sets, bool array (n_eval, 2 classes, n_levels), from MAPIE's split conformal LAC."""
    model = SplitConformalClassifier(ScoreClassifier().fit(), confidence_level=levels, conformity_score="lac", prefit=True)
    model.conformalize(np.asarray(p_cal, float)[:, None], np.asarray(y_cal))
    _, sets = model.predict_set(np.asarray(p_eval, float)[:, None])
    return sets


def set_summary(sets: np.ndarray, y: np.ndarray, confidence: float, by_outcome: bool = False) -> dict:
    """Coverage, mean set size, shares of empty, singleton and two-class sets, each with an interval;
    with ``by_outcome`` also the label-conditional coverage and set size among patients with and
    without the outcome (Vovk 2012; a marginal 90% can hide 0 of 10 patients with the outcome covered)."""
    n = y.size
    if n == 0:
        return {}
    covered = int(sets[np.arange(n), y].sum())
    size = sets.sum(axis=1)
    half = ndtri(0.5 + confidence / 2) * (size.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan)
    out = {
        "coverage": proportion(covered, n, confidence).to_dict(),
        "mean_set_size": Estimate(size.mean(), (size.mean() - half, size.mean() + half) if np.isfinite(half) else None, "wald", n,
                                  reason=None if np.isfinite(half) else "no interval: one patient").to_dict(),
        "empty": proportion(int((size == 0).sum()), n, confidence).to_dict(),
        "singleton": proportion(int((size == 1).sum()), n, confidence).to_dict(),
        "both": proportion(int((size == 2).sum()), n, confidence).to_dict(),
    }
    if by_outcome:
        y = np.asarray(y).astype(int)
        out["by_outcome"] = {name: set_summary(sets[y == label], y[y == label], confidence) or None
                             for name, label in (("with_outcome", 1), ("without_outcome", 0))}
    return out


def training_conditional_bound(n_cal: int, level: float, delta: float = 0.05) -> float | None:
    """The coverage that split conformal reaches with probability 1 - delta over calibration sets of size ``n_cal``.

    Given the calibration set, coverage is Beta(n + 1 - l, l) with ``l = floor((n + 1)(1 - level))``
    (Vovk, ACML 2012; Angelopoulos & Bates 2023, sec. 3.2): its delta-quantile.
    """
    from scipy.stats import beta

    l = int(np.floor((n_cal + 1) * (1 - level)))
    if l < 1:
        return None
    return float(beta.ppf(delta, n_cal + 1 - l, l))


#: Coverage may fall this far below the target before the verdict stops being a pass (the rule is stated).
COVERAGE_TOLERANCE = 0.05


def run(ctx: AuditContext) -> Section:
    if ctx.task.name == "multiclass":
        from . import uncertainty_multiclass

        return uncertainty_multiclass.run(ctx)
    settings = ctx.spec.settings
    levels = sorted(settings.coverage if isinstance(settings.coverage, list) else [settings.coverage])
    test = ctx.internal
    if ctx.calibration is not None:  # data.calibration: calibrate on it, evaluate all of test
        cal_ds, cal_idx, eval_idx = ctx.calibration, np.arange(ctx.calibration.n), np.arange(test.n)
    else:  # a seeded, outcome-stratified share of test calibrates; the rest is evaluated
        cal_ds = test
        cal_idx, eval_idx = calibration_split(test.y, settings.conformal_calibration_share, settings.seed)
    evaluations = {"test": (test, eval_idx)} | {d.name: (d, np.arange(d.n)) for d in ctx.external}
    per_dataset, findings, criteria = {}, [], []
    skipped = {level: calibration_shortfall(int(cal_idx.size), level) for level in levels}
    for level, why in skipped.items():
        if why is not None:
            findings.append(Finding(NAME, "warning", f"Conformal sets were not computed at {level:.0%} coverage: {why}; give a larger "
                                                     "data.calibration or raise settings.conformal_calibration_share."))
            criteria.append(criterion(f"coverage at {level:.2f}, all patients", "needs a finite conformal quantile",
                                      "insufficient evidence", None, "coverage", None, level, why))
    levels = [level for level in levels if skipped[level] is None]
    for name, (ds, rows) in evaluations.items():
        if not levels:
            break
        ctx.report_progress(f"uncertainty: conformal sets on {name}")
        sets = conformal_sets(cal_ds.p[cal_idx], cal_ds.y[cal_idx], ds.p[rows], levels)
        entry = {"n_evaluated": int(rows.size), "levels": []}
        for k, level in enumerate(levels):
            overall = set_summary(sets[:, :, k], ds.y[rows], settings.confidence, by_outcome=True)
            groups = group_coverage(ctx, ds, rows, sets[:, :, k], cal_ds, cal_idx, level)
            entry["levels"].append({"target": level, "overall": overall, "groups": groups})
            findings += coverage_findings(name, level, overall, groups, settings.confidence)
            findings += label_conditional_findings(name, level, overall, settings.confidence, ds.role)
            criteria += coverage_criteria(name, level, overall, settings.confidence)
        main = entry["levels"][-1]["overall"]  # the highest target, for the report's summary table
        entry["metrics"] = {"coverage": main["coverage"], "mean_set_size": main["mean_set_size"]}
        per_dataset[name] = entry
    evidence = shown("uncertainty.conformal", *(["uncertainty.subgroups"] if ctx.spec.data.sensitive or ctx.spec.data.site else []))
    if not levels:
        evidence = {key: THIN for key in evidence}
    return Section(
        name=NAME,
        title="Conformal uncertainty",
        status=worst(c["verdict"] for c in criteria),
        data={
            "method": "split conformal, LAC score (MAPIE SplitConformalClassifier)",
            "calibration": {
                "dataset": "calibration" if ctx.calibration is not None else "test",
                "share": None if ctx.calibration is not None else settings.conformal_calibration_share,
                "n": int(cal_idx.size),
                "training_conditional": {
                    str(level): training_conditional_bound(int(cal_idx.size), level) for level in levels
                },
                "training_conditional_delta": 0.05,
            },
            "criteria": criteria,
            "mondrian": settings.mondrian,
            "confidence": settings.confidence,
            "datasets": per_dataset,
        },
        findings=findings,
        figures={"coverage": plots.coverage_figure(per_dataset, settings.confidence)},
        evidence=evidence,
    )


def group_coverage(ctx, ds: EvaluatedDataset, rows, sets, cal_ds: EvaluatedDataset, cal_idx, level: float) -> list[dict]:
    """Coverage per group of each attribute and site: with the marginal sets, and Mondrian (per-group calibration)."""
    settings = ctx.spec.settings
    attributes, site = list(ctx.spec.data.sensitive), ctx.spec.data.site
    if not attributes and site is None:
        return []
    eval_parts = build_partitions(ds, attributes, site, False)
    cal_parts = {p.name: p for p in build_partitions(cal_ds, attributes, site, False)}
    out = []
    y = ds.y[rows]
    for part in eval_parts:
        labels = part.labels[rows]
        cal_labels = cal_parts[part.name].labels[cal_idx]
        for label in np.unique(labels):
            g = labels == label
            entry = {"partition": part.name, "group": str(label), "n": int(g.sum()),
                     "small": bool(too_small(int(g.sum()), int(y[g].sum()), settings)),
                     "marginal": set_summary(sets[g], y[g], settings.confidence), "mondrian": None}
            in_cal = cal_labels == label
            short = calibration_shortfall(int(in_cal.sum()), level)
            if settings.mondrian and short is None:
                own = conformal_sets(cal_ds.p[cal_idx][in_cal], cal_ds.y[cal_idx][in_cal], ds.p[rows][g], [level])[:, :, 0]
                entry["mondrian"] = set_summary(own, y[g], settings.confidence)
            elif settings.mondrian:
                entry["mondrian_reason"] = f"not calibrated within the group: {short}"
            out.append(entry)
    return out


def coverage_criteria(name: str, level: float, overall: dict, confidence: float) -> list[dict]:
    """Coverage overall and among patients with and without the outcome, against the target."""
    lvl = f"{confidence:.0%}"
    rule = (f"pass when the {lvl} CI of the coverage lies above {level:.2f} − {COVERAGE_TOLERANCE:g}; fail when it lies wholly "
            f"below the {level:.2f} target; otherwise inconclusive")
    out = []
    for label, summary in (("all patients", overall), ("patients with the outcome", (overall.get("by_outcome") or {}).get("with_outcome")),
                           ("patients without the outcome", (overall.get("by_outcome") or {}).get("without_outcome"))):
        cov = (summary or {}).get("coverage")
        verdict, reason = judge_interval_against(cov, level - COVERAGE_TOLERANCE, higher_is_better=True)
        if verdict != "insufficient evidence" and cov["ci"][1] < level:
            verdict = "fail"
        elif verdict == "fail":
            verdict = "inconclusive"
        out.append(criterion(f"coverage at {level:.2f}, {label}", rule, verdict, name, "coverage", cov, level, reason))
    return out


def label_conditional_findings(name: str, level: float, overall: dict, confidence: float, role: str) -> list[Finding]:
    """A warning when coverage among patients with (or without) the outcome lies wholly below the target."""
    lvl = f"{confidence:.0%}"
    out = []
    for key, who in (("with_outcome", "patients with the outcome"), ("without_outcome", "patients without the outcome")):
        s = (overall.get("by_outcome") or {}).get(key)
        cov = (s or {}).get("coverage")
        if not cov or not cov.get("ci") or cov["ci"][1] >= level:
            continue
        why = ("the calibration set holds too few of them for split conformal to cover them as a class"
               if role == "internal" else
               "on another site this mixes sampling variability with a change in the patients (non-exchangeability)")
        out.append(Finding(
            NAME, "warning",
            f"Conformal coverage among {who} on {name} is {cov['value']:.2f} ({lvl} CI {cov['ci'][0]:.2f} to {cov['ci'][1]:.2f}, "
            f"n = {cov['n']}), below the {level:.2f} target even though the marginal coverage is {overall['coverage']['value']:.2f}: "
            f"{why}. Calibrating per class (label-conditional, Mondrian by outcome) gives each class its own guarantee.",
            name,
        ))
    return out


def coverage_findings(name: str, level: float, overall: dict, groups: list[dict], confidence: float) -> list[Finding]:
    out = []
    cov = overall["coverage"]
    lvl = f"{confidence:.0%}"
    if cov["ci"] and cov["ci"][1] < level:
        out.append(Finding(NAME, "warning", f"Conformal coverage on {name} is {cov['value']:.2f} ({lvl} CI {cov['ci'][0]:.2f} to "
                           f"{cov['ci'][1]:.2f}), below the {level:.2f} target: these patients are not exchangeable with the calibration set.", name))
    for g in groups:
        c = g["marginal"]["coverage"]
        if not g["small"] and c["ci"] and c["ci"][1] < level:
            fix = ""
            if g["mondrian"] is not None:
                fix = f"; calibrated within the group (Mondrian) it is {g['mondrian']['coverage']['value']:.2f}"
            out.append(Finding(NAME, "warning", f"Conformal coverage for {g['partition']}={g['group']} on {name} is {c['value']:.2f} "
                               f"({lvl} CI {c['ci'][0]:.2f} to {c['ci'][1]:.2f}), below the {level:.2f} target{fix}.", name))
    if not out:
        out.append(Finding(NAME, "info", f"Conformal sets at {level:.2f} coverage on {name}: coverage {cov['value']:.2f}, "
                           f"mean set size {overall['mean_set_size']['value']:.2f}.", name))
    return out
