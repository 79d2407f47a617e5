"""The uncertainty check of a multiclass audit: split conformal prediction sets over the K classes (MAPIE).

Two conformity scores, each through MAPIE's ``SplitConformalClassifier`` on the model's probabilities
(a pass-through prefit classifier): **LAC** (score ``1 - P(true class)``; Sadinle, Lei & Wasserman,
JASA 2019), the smallest sets on average, and **APS** (cumulative probability of the classes ranked
above and including the true one; Romano, Sesia & Candès, NeurIPS 2020), non-randomised with
``include_last_label=True`` so the sets are deterministic (and conservative). Calibration is on
``data.calibration`` or a seeded class-stratified share of the test set, as in the binary check.

Per dataset, score and target coverage: marginal coverage (Wilson), mean set size, the shares of empty
and single-class sets, and **class-conditional coverage** (per true class, Wilson) and set size; a
warning names each class whose coverage interval lies wholly below the target (split conformal
guarantees coverage on average over classes, not for each). Per group of each sensitive attribute and
site: coverage with the marginal sets and, with ``settings.mondrian``, calibrated within the group. The
verdict is the binary check's rule on the marginal coverage of the LAC sets.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from sklearn.model_selection import train_test_split

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..evidence import THIN, shown
from ..groups import build_partitions, too_small
from ..stats import Estimate, proportion
from ..stats.conformal import conformal_sets
from ..tasks.multiclass import label_text
from ..verdicts import worst
from .base import Finding, Section
from .uncertainty import NAME, calibration_shortfall, coverage_criteria, training_conditional_bound

SCORES = ("lac", "aps")
SCORE_LABELS = {"lac": "LAC (1 − P(true class))",
                "aps": "APS (cumulative probability, non-randomised: MAPIE's score without its random term, include_last_label=True)"}


def sets_of(P_cal, y_cal, P_eval, levels: list[float], score: str) -> np.ndarray:
    """``stats.conformal.conformal_sets`` on probabilities renormalised to sum to 1 (the task accepts rows within 1e-3,
    MAPIE within 1e-5)."""
    def unit(P):
        P = np.asarray(P, dtype=float)
        return P / P.sum(axis=1, keepdims=True)

    return conformal_sets(unit(P_cal), y_cal, unit(P_eval), levels, score)


def calibration_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split, stratified by class when every class present has at least two patients."""
    counts = np.bincount(np.asarray(y, dtype=int))
    stratify = y if counts[counts > 0].min() >= 2 else None
    return train_test_split(np.arange(y.size), train_size=share, stratify=stratify, random_state=seed)


def set_summary(sets: np.ndarray, y: np.ndarray, confidence: float, labels: list[str] | None = None) -> dict:
    """Coverage (Wilson), mean set size (Wald), empty and single-class shares; with ``labels``, per true class too."""
    n = y.size
    if n == 0:
        return {}
    covered = sets[np.arange(n), y]
    size = sets.sum(axis=1)
    half = ndtri(0.5 + confidence / 2) * (size.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan)
    out = {
        "coverage": proportion(int(covered.sum()), n, confidence).to_dict(),
        "mean_set_size": Estimate(size.mean(), (size.mean() - half, size.mean() + half) if np.isfinite(half) else None, "wald", n,
                                  reason=None if np.isfinite(half) else "no interval: one patient").to_dict(),
        "empty": proportion(int((size == 0).sum()), n, confidence).to_dict(),
        "singleton": proportion(int((size == 1).sum()), n, confidence).to_dict(),
    }
    if labels is not None:
        out["by_class"] = {}
        for k, label in enumerate(labels):
            rows = y == k
            if not rows.any():
                out["by_class"][label] = {"n": 0, "coverage": None, "reason": "no patient of this class here"}
                continue
            out["by_class"][label] = {"n": int(rows.sum()),
                                      "coverage": proportion(int(covered[rows].sum()), int(rows.sum()), confidence).to_dict(),
                                      "mean_set_size": float(size[rows].mean())}
    return out


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    labels = [label_text(c) for c in ctx.task.classes(ctx.spec.data)]
    levels = sorted(settings.coverage if isinstance(settings.coverage, list) else [settings.coverage])
    test = ctx.internal
    if ctx.calibration is not None:
        cal_ds, cal_idx, eval_idx = ctx.calibration, np.arange(ctx.calibration.n), np.arange(test.n)
    else:
        cal_ds = test
        cal_idx, eval_idx = calibration_split(np.asarray(test.y), settings.conformal_calibration_share, settings.seed)
    evaluations = {"test": (test, eval_idx)} | {d.name: (d, np.arange(d.n)) for d in ctx.external}
    per_dataset, findings, criteria = {}, [], []
    usable = []
    for level in levels:
        why = calibration_shortfall(int(cal_idx.size), level)
        if why is None:
            usable.append(level)
        else:
            findings.append(Finding(NAME, "warning", f"Conformal sets were not computed at {level:.0%} coverage: {why}."))
    y_cal, P_cal = np.asarray(cal_ds.y)[cal_idx], cal_ds.p[cal_idx]
    present = np.unique(y_cal)
    scores = SCORES if present.size >= 3 else ("lac",)
    aps_reason = None if "aps" in scores else (f"MAPIE's APS score needs at least three classes in the calibration set, "
                                               f"which has {present.size}")
    if aps_reason and usable:
        findings.append(Finding(NAME, "info", f"APS conformal sets were not computed: {aps_reason}; the LAC sets are."))
    absent = [labels[k] for k in range(len(labels)) if k not in set(present.tolist())]
    if absent and usable:
        findings.append(Finding(NAME, "warning", (
            f"The conformal calibration set has no patient of class {', '.join(absent)}: the sets' threshold is learnt from the "
            "other classes only, so coverage of those classes is not guaranteed; give a calibration set (data.calibration) "
            "holding every class.")))
    for name, (ds, rows) in evaluations.items():
        if not usable:
            break
        ctx.report_progress(f"uncertainty: conformal sets on {name}")
        y = np.asarray(ds.y)[rows]
        entry = {"n_evaluated": int(rows.size), "levels": [], "aps": []}
        for score in scores:
            sets = sets_of(P_cal, y_cal, ds.p[rows], usable, score)
            for j, level in enumerate(usable):
                overall = set_summary(sets[:, :, j], y, settings.confidence, labels)
                groups = group_coverage(ctx, ds, rows, sets[:, :, j], cal_ds, cal_idx, level, score) if score == "lac" else []
                entry["levels" if score == "lac" else "aps"].append({"target": level, "score": score, "overall": overall, "groups": groups})
                findings += class_findings(name, level, score, overall, settings.confidence)
                if score == "lac":
                    criteria += coverage_criteria(name, level, overall, settings.confidence)[:1]
        main = entry["levels"][-1]["overall"]
        entry["metrics"] = {"coverage": main["coverage"], "mean_set_size": main["mean_set_size"]}
        per_dataset[name] = entry
        findings.append(Finding(NAME, "info", summary_sentence(name, entry)))
    evidence = shown("uncertainty.conformal", *(["uncertainty.subgroups"] if ctx.spec.data.sensitive or ctx.spec.data.site else []))
    if not usable:
        evidence = {key: THIN for key in evidence}
    return Section(
        name=NAME,
        title="Conformal uncertainty",
        status=worst(c["verdict"] for c in criteria) if criteria else "insufficient evidence",
        data={
            "task": "multiclass",
            "method": "split conformal over the K classes (MAPIE SplitConformalClassifier): LAC, and APS non-randomised",
            "scores": {s: SCORE_LABELS[s] for s in scores},
            **({"aps_reason": aps_reason} if aps_reason else {}),
            "calibration": {
                "dataset": "calibration" if ctx.calibration is not None else "test",
                "share": None if ctx.calibration is not None else settings.conformal_calibration_share,
                "n": int(cal_idx.size),
                "training_conditional": {str(level): training_conditional_bound(int(cal_idx.size), level) for level in usable},
                "training_conditional_delta": 0.05,
            },
            "criteria": criteria,
            "mondrian": settings.mondrian,
            "confidence": settings.confidence,
            "classes": labels,
            "datasets": per_dataset,
        },
        findings=findings,
        figures={"coverage": plots.coverage_figure(per_dataset, settings.confidence)} if per_dataset else {},
        evidence=evidence,
    )


def group_coverage(ctx, ds: EvaluatedDataset, rows, sets, cal_ds: EvaluatedDataset, cal_idx, level: float, score: str) -> list[dict]:
    """Coverage per group of each attribute and site: with the marginal sets, and Mondrian (calibrated within the group)."""
    settings = ctx.spec.settings
    attributes, site = list(ctx.spec.data.sensitive), ctx.spec.data.site
    if not attributes and site is None:
        return []
    cal_parts = {p.name: p for p in build_partitions(cal_ds, attributes, site, False)}
    y = np.asarray(ds.y)[rows]
    out = []
    for part in build_partitions(ds, attributes, site, False):
        labels = part.labels[rows]
        cal_labels = cal_parts[part.name].labels[cal_idx]
        for label in np.unique(labels):
            g = labels == label
            entry = {"partition": part.name, "group": str(label), "n": int(g.sum()),
                     "small": bool(too_small(int(g.sum()), None, settings)),
                     "marginal": set_summary(sets[g], y[g], settings.confidence), "mondrian": None}
            in_cal = cal_labels == label
            short = calibration_shortfall(int(in_cal.sum()), level)
            if settings.mondrian and short is None:
                own = sets_of(cal_ds.p[cal_idx][in_cal], np.asarray(cal_ds.y)[cal_idx][in_cal], ds.p[rows][g], [level], score)[:, :, 0]
                entry["mondrian"] = set_summary(own, y[g], settings.confidence)
            elif settings.mondrian:
                entry["mondrian_reason"] = f"not calibrated within the group: {short}"
            out.append(entry)
    return out


def class_findings(name: str, level: float, score: str, overall: dict, confidence: float) -> list[Finding]:
    """A warning for each class whose coverage interval lies wholly below the target."""
    lvl = f"{confidence:.0%}"
    out = []
    for label, s in (overall.get("by_class") or {}).items():
        cov = s.get("coverage")
        if not cov or not cov.get("ci") or cov["ci"][1] >= level:
            continue
        out.append(Finding(NAME, "warning", (
            f"{score.upper()} conformal sets on {name} cover patients of class {label} in {cov['value']:.2f} of cases ({lvl} CI "
            f"{cov['ci'][0]:.2f} to {cov['ci'][1]:.2f}, n = {cov['n']}), below the {level:.2f} target, although the marginal "
            f"coverage is {overall['coverage']['value']:.2f}: split conformal guarantees coverage on average over classes, not "
            "for each; calibrating per class (class-conditional conformal) gives each class its own guarantee."), name))
    return out


def summary_sentence(name: str, entry: dict) -> str:
    parts = []
    for key in ("levels", "aps"):
        for lv in entry[key]:
            o = lv["overall"]
            parts.append(f"{lv['score'].upper()} at {lv['target']:.2f}: coverage {o['coverage']['value']:.2f}, mean set size "
                         f"{o['mean_set_size']['value']:.2f}, single-class sets {o['singleton']['value']:.0%}")
    return f"Conformal sets on {name}: " + "; ".join(parts) + "."
