"""Robustness metrics: how a model's decisions and ranking change when its inputs are stressed.

For labels ``y``, clean P(positive) ``p0`` and stressed P(positive) ``p1`` at decision threshold
``t`` (decision: ``p ≥ t``):

- ``accuracy``      share of patients whose stressed decision matches the label (Wilson interval);
- ``auroc``         AUROC of ``p1`` (DeLong interval);
- ``flip_rate``     share of patients whose decision changed, ``d(p1) ≠ d(p0)`` (Wilson);
- ``success_rate``  among patients the model got right on clean input, the share it gets wrong
  when stressed — the attack success rate (Wilson).

For a multiclass model ``p0`` and ``p1`` are ``(n, K)`` probability matrices, ``y`` holds class codes and
the decision is the most probable class (``decisions``); the AUROC is then not computed here (the
performance section gives the clean multiclass AUROCs).

Groups with fewer than ``min_group_size`` patients get exact Clopper–Pearson intervals instead
of Wilson ones and are marked small. Intervals describe sampling of patients; a random stress
(noise, random starts) is drawn once from a seeded generator.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

from ..stats import Estimate, proportion
from ..stats.auroc import auroc_interval

POINT_METRICS = ("accuracy", "auroc", "flip_rate", "success_rate")


def _share(k: int, n: int, confidence: float, exact: bool) -> dict | None:
    if n == 0:
        return None
    return proportion(int(k), int(n), confidence, "clopper-pearson" if exact else "auto").to_dict()


def _auroc(y: np.ndarray, p: np.ndarray, confidence: float) -> dict:
    """The AUROC by the audit's one rule (``stats.auroc.auroc_interval``): not estimable with too few events."""
    return auroc_interval(y, p, confidence).to_dict()


def decisions(p, threshold: float) -> np.ndarray:
    """The decision of every row: ``p >= threshold`` for P(positive), the most probable class for K probabilities."""
    p = np.asarray(p)
    return np.argmax(p, axis=1) if p.ndim == 2 else p >= threshold


def _labels(y, p) -> np.ndarray:
    """Labels comparable with ``decisions``: booleans for a binary outcome, class codes for a multiclass one."""
    return np.asarray(y).astype(np.int64) if np.asarray(p).ndim == 2 else np.asarray(y).astype(bool)


def stress_point(y, p0, p1, threshold: float, confidence: float, *, exact: bool = False, auroc: bool = True) -> dict:
    """Accuracy, AUROC, flip rate and success rate of stressed predictions ``p1`` against clean ``p0``."""
    y = _labels(y, p0)
    d0, d1 = decisions(p0, threshold), decisions(p1, threshold)
    right0, right1 = d0 == y, d1 == y
    out = {
        "accuracy": _share(int(right1.sum()), y.size, confidence, exact),
        "flip_rate": _share(int((d0 != d1).sum()), y.size, confidence, exact),
        "success_rate": _share(int((right0 & ~right1).sum()), int(right0.sum()), confidence, exact),
    }
    if auroc and np.asarray(p1).ndim == 1:
        out["auroc"] = _auroc(y, np.asarray(p1, dtype=float), confidence)
    return {m: out[m] for m in POINT_METRICS if m in out}


def clean_point(y, p0, threshold: float, confidence: float, *, exact: bool = False, auroc: bool = True) -> dict:
    """Accuracy (and AUROC) on the clean inputs."""
    y = _labels(y, p0)
    out = {"accuracy": _share(int((decisions(p0, threshold) == y).sum()), y.size, confidence, exact)}
    if auroc and np.asarray(p0).ndim == 1:
        out["auroc"] = _auroc(y, np.asarray(p0, dtype=float), confidence)
    return out


def success_counts(y, p0, p1, threshold: float) -> tuple[int, int]:
    """(decisions the stress made wrong, decisions right on clean input)."""
    y = _labels(y, p0)
    right0 = decisions(p0, threshold) == y
    right1 = decisions(p1, threshold) == y
    return int((right0 & ~right1).sum()), int(right0.sum())


def compare_success(k1: int, n1: int, k0: int, n0: int, confidence: float) -> dict:
    """Success-rate difference group − reference: Newcombe's hybrid score interval and the score test p-value."""
    diff = k1 / n1 - k0 / n0
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff", alpha=1 - confidence)
    if (k1 == 0 and k0 == 0) or (k1 == n1 and k0 == n0):
        p_value = 1.0
    else:
        p_value = float(test_proportions_2indep(k1, n1, k0, n0, method="score", compare="diff").pvalue)
    return {
        "difference": Estimate(diff, (float(lo), float(hi)), "newcombe", n1 + n0).to_dict(),
        "p_value": p_value,
    }


def adjust(p_values: list[float], method: str) -> list[float]:
    """Holm or Benjamini–Hochberg adjusted p-values (statsmodels)."""
    if not p_values:
        return []
    return [float(v) for v in multipletests(p_values, method=method)[1]]
