"""Confidence intervals for the AUROC that stay inside [0, 1] and say when there are too few events.

- Inside (0, 1): DeLong's variance (DeLong, DeLong & Clarke-Pearson, Biometrics 1988) on the logit
  scale, back-transformed (Pepe, *The Statistical Evaluation of Medical Tests for Classification
  and Prediction*, OUP 2003, p. 107; Qin & Hotilovac, Stat Methods Med Res 2008).
- At perfect separation (AUROC exactly 0 or 1) DeLong's variance is 0; the bound then comes from
  Newcombe's score interval (Stat Med 2006; 25:559-573, method 5), one-sided.
- With fewer than ``MIN_CLASS`` events or non-events no interval is given, with the reason.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit, ndtri
from scipy.stats import rankdata

from .delong import placements
from .estimate import Estimate, not_estimable

#: Fewest events (and non-events) for which an AUROC interval is given.
MIN_CLASS = 5


def _variance_over_one_minus(theta, n_pos, n_neg):
    """``V(theta) / (1 - theta)`` of :func:`newcombe_auc_variance`, finite at ``theta = 1``."""
    n_star = (n_pos + n_neg) / 2.0 - 1.0
    bracket = 1.0 + n_star * (1.0 - theta) / (2.0 - theta) + n_star * theta / (1.0 + theta)
    return theta * bracket / (n_pos * n_neg)


def newcombe_auc_variance(auc, n_pos, n_neg):
    """Newcombe's Hanley–McNeil-type variance of the AUROC, with ``N* = (n_pos + n_neg)/2 - 1``.

    Parameters
    ----------
    auc : float or array_like
        The AUROC ``theta`` at which the variance is evaluated, in [0, 1].
    n_pos, n_neg : int or array_like
        Numbers of events ``m`` and non-events ``n``; broadcast elementwise.

    Returns
    -------
    float or ndarray
        ``V(theta) = theta (1 - theta) / (m n) * [1 + N* (1 - theta)/(2 - theta) + N* theta/(1 + theta)]``.

    Notes
    -----
    Hanley & McNeil (Radiology 1982) approximate ``Q1 = theta/(2 - theta)`` and
    ``Q2 = 2 theta^2/(1 + theta)``, which gives
    ``V = theta(1-theta)/(mn) [1 + (m-1)(1-theta)/(2-theta) + (n-1) theta/(1+theta)]``. Newcombe
    (Stat Med 2006; 25:559-573, "Confidence intervals for an effect size measure based on the
    Mann–Whitney statistic. Part 2: Asymptotic methods and evaluation", section 2.2, methods 4
    and 5) replaces both ``m - 1`` and ``n - 1`` by ``N* = (m + n)/2 - 1``, which makes ``V``
    symmetric, ``V(theta) = V(1 - theta)``, and equal to Hanley–McNeil's when ``m = n``.
    """
    auc = np.asarray(auc, dtype=float)
    v = (1.0 - auc) * _variance_over_one_minus(auc, np.asarray(n_pos, float), np.asarray(n_neg, float))
    return float(v) if np.ndim(v) == 0 else v


def _score_lower(auc: float, n_pos: int, n_neg: int, z: float) -> float:
    """Lower end of ``{theta <= auc : (auc - theta)^2 <= z^2 V(theta)}``, by Brent's method.

    Both sides are divided by ``1 - theta`` so the root is bracketed also at ``auc = 1``, where
    ``V(1) = 0`` would make ``theta = 1`` a spurious root.
    """
    if auc <= 0.0:
        return 0.0

    def excess(theta: float) -> float:
        d = auc - theta
        return (0.0 if d == 0 else d * d / (1.0 - theta)) - z * z * _variance_over_one_minus(theta, n_pos, n_neg)

    return float(brentq(excess, 0.0, auc, xtol=1e-12))


def auroc_score_interval(
    auc: float, n_pos: int, n_neg: int, confidence: float = 0.95, sides: str = "two"
) -> tuple[float, float]:
    """Newcombe's method-5 score interval for the AUROC.

    Parameters
    ----------
    auc : float
        Empirical AUROC, in [0, 1].
    n_pos, n_neg : int
        Numbers of events and non-events (at least 1 each).
    confidence : float
        Confidence level: two-sided for ``sides="two"``, one-sided otherwise.
    sides : {"two", "lower", "upper"}
        ``"lower"`` gives ``(bound, nan)`` with ``z = Phi^-1(confidence)``, ``"upper"`` gives
        ``(nan, bound)``; ``"two"`` gives both ends with ``z = Phi^-1(1/2 + confidence/2)``.

    Returns
    -------
    (lo, hi) : tuple[float, float]

    Notes
    -----
    The interval is the set of ``theta`` with ``|auc - theta| <= z sqrt(V(theta))``, ``V`` from
    :func:`newcombe_auc_variance` (Newcombe, Stat Med 2006; 25:559-573, method 5), like Wilson's
    interval for a proportion: the variance is taken at the candidate ``theta``, not at the
    estimate, so the interval has positive width even at ``auc = 0`` or 1. Each end is a root
    found with ``scipy.optimize.brentq``; the upper end is ``1 - lower(1 - auc)`` by the symmetry
    ``V(theta) = V(1 - theta)``.
    """
    if sides not in ("two", "lower", "upper"):
        raise ValueError(f"sides must be 'two', 'lower' or 'upper'; got {sides!r}")
    if not 0.0 <= auc <= 1.0:
        raise ValueError(f"an AUROC lies in [0, 1]; got {auc}")
    z = float(ndtri(0.5 + confidence / 2.0) if sides == "two" else ndtri(confidence))
    lo = _score_lower(auc, n_pos, n_neg, z) if sides != "upper" else math.nan
    hi = 1.0 - _score_lower(1.0 - auc, n_pos, n_neg, z) if sides != "lower" else math.nan
    return lo, hi


def _mann_whitney_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """``(R_pos - m(m+1)/2) / (m n)`` with midranks ``R``: the AUROC, ties counting one half."""
    m, n = int(y.sum()), int((~y).sum())
    return float((rankdata(scores)[y].sum() - m * (m + 1) / 2.0) / (m * n))


def _too_few_reason(n_pos: int, n_neg: int, min_class: int) -> str:
    """``"not estimable: 3 events (at least 5 needed)"``, naming each class that is short."""
    short = [f"{k} {name}{'' if k == 1 else 's'}" for k, name in ((n_pos, "event"), (n_neg, "non-event")) if k < min_class]
    return f"not estimable: {' and '.join(short)} (at least {min_class} needed)"


def _one_sided_at_separation(auc: float, n_pos: int, n_neg: int, confidence: float, n: int) -> Estimate:
    """AUROC 1 (0): Newcombe's one-sided lower (upper) score bound at level ``confidence``."""
    sides = "lower" if auc == 1.0 else "upper"
    ci = auroc_score_interval(auc, n_pos, n_neg, confidence, sides)
    return Estimate(auc, ci, "newcombe-score-one-sided", n, sides=sides)


def auroc_score_se(auc: float, n_pos: int, n_neg: int, confidence: float = 0.95) -> float:
    """A standard error of the AUROC that does not vanish at 0 or 1: the longer half of Newcombe's
    score interval (:func:`auroc_score_interval`) divided by z. At AUROC 1 with 5 events and 25
    non-events it is 0.12, where DeLong's and the bootstrap's are 0; used to studentise group
    comparisons (``simultaneous.py``)."""
    if n_pos < 1 or n_neg < 1:
        return math.nan
    lo, hi = auroc_score_interval(auc, n_pos, n_neg, confidence, "two")
    return float(max(auc - lo, hi - auc) / ndtri(0.5 + confidence / 2.0))


#: Below this many events or non-events the AUROC gets Newcombe's score interval, above it logit-DeLong:
#: chosen by coverage (benchmarks/coverage.py and a 3,000-study check per cell, binormal, 9 non-events per
#: event, AUROC 0.7 / 0.8 / 0.9): at 10 and 20 events logit-DeLong covered 91.0-94.8% (low at high AUROC),
#: Newcombe's score interval 95.0-97.2%; at 50 and 100 events logit-DeLong 94.1-95.0%, Newcombe 94.4-96.8%.
#: DeLong's variance is distribution-free, Newcombe's assumes the Hanley-McNeil shape, so with enough
#: events DeLong is preferred.
SMALL_SAMPLE = 50


def auroc_interval(y, scores, confidence: float = 0.95, min_class: int = MIN_CLASS, small_sample: int = SMALL_SAMPLE) -> Estimate:
    """The AUROC with a confidence interval that respects [0, 1] and small samples.

    Parameters
    ----------
    y : array_like of bool or {0, 1}
        Outcome, 1 for an event.
    scores : array_like of float
        Model scores, higher meaning more likely an event.
    confidence : float
        Confidence level (two-sided, or one-sided for the bound at perfect separation).
    min_class : int
        Fewest events and non-events for which an interval is given (at least 2).

    Returns
    -------
    Estimate
        - fewer than ``min_class`` events or non-events: not estimable, method
          ``"delong-logit"``, reason like ``"not estimable: 3 events (at least 5 needed)"``, value
          the empirical AUROC when both classes are present, else ``nan``;
        - AUROC exactly 1 (0): method ``"newcombe-score-one-sided"``, ``sides="lower"`` with
          ``ci = (lo, nan)`` (``sides="upper"`` with ``ci = (nan, hi)``), from
          :func:`auroc_score_interval`;
        - fewer than ``small_sample`` (50) events or non-events: Newcombe's score interval
          (:func:`auroc_score_interval`), method ``"newcombe-score"`` — it holds its coverage with
          10-20 events where logit-DeLong's falls to 91% (``SMALL_SAMPLE``);
        - otherwise method ``"delong-logit"``: ``expit(logit(A) +- z se / (A (1 - A)))`` with
          DeLong's standard error ``se`` (the delta method on the logit scale; Pepe 2003,
          p. 107; Qin & Hotilovac, Stat Methods Med Res 2008; 17:207-221). If DeLong's
          variance is 0 inside (0, 1) (every score tied), Newcombe's two-sided score interval,
          method ``"newcombe-score"``.
    """
    if min_class < 2:
        raise ValueError("DeLong's variance needs min_class >= 2")
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    n_pos, n_neg, n = int(y.sum()), int((~y).sum()), int(y.size)
    if n_pos < min_class or n_neg < min_class:
        value = _mann_whitney_auroc(y, scores) if n_pos and n_neg else math.nan
        return not_estimable(_too_few_reason(n_pos, n_neg, min_class), "delong-logit", n, value)
    pl = placements(y, scores)
    auc = pl.auroc
    if auc in (0.0, 1.0):
        return _one_sided_at_separation(auc, n_pos, n_neg, confidence, n)
    if pl.variance <= 0.0 or min(n_pos, n_neg) < small_sample:
        return Estimate(auc, auroc_score_interval(auc, n_pos, n_neg, confidence), "newcombe-score", n)
    half = float(ndtri(0.5 + confidence / 2.0)) * math.sqrt(pl.variance) / (auc * (1.0 - auc))
    return Estimate(auc, (float(expit(logit(auc) - half)), float(expit(logit(auc) + half))), "delong-logit", n)
