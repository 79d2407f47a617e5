"""Simultaneous inference for a family of differences: the single-step max-|T| bootstrap.

Westfall & Young, *Resampling-Based Multiple Testing* (1993), single-step max-T; the same
construction as Hothorn, Bretz & Westfall's simultaneous intervals (Biom J 2008), with the joint
distribution taken from the bootstrap instead of a multivariate normal.

For comparisons ``k = 1..K`` with estimates ``d_k``, replicates ``d*_bk`` from one bootstrap (so
their dependence is kept) and standard errors ``s_k``:

- ``T*_bk = (d*_bk - d_k) / s_k`` and ``M*_b = max_k |T*_bk|``;
- the critical value ``c`` is the ``ceil((1 - alpha)(B + 1))``-th smallest ``M*_b``;
- simultaneous intervals ``centre_k +- c s_k``: all ``K`` cover their true differences together
  with probability ``1 - alpha`` (asymptotically);
- adjusted p-values ``p_k = (1 + #{b: M*_b >= |centre_k| / s_k}) / (B + 1)``.

An interval excludes 0 exactly when ``p_k <= alpha``: one question, one answer.

**Standard errors that cannot vanish.** A bootstrap standard error is 0 when every resample gives
the same value (a group whose 5 patients with the outcome are all flagged has sensitivity 1 in
every resample), and a Wald statistic with it is infinite. So ``s_k`` is the larger of the
bootstrap standard error and an analytic one computed from counts: Agresti–Caffo's for a
difference of proportions (Agresti & Caffo, Am Stat 2000: ``p~ = (x + 1) / (n + 2)``,
``se = sqrt(sum p~(1 - p~)/(n + 2))``, with the difference of the ``p~`` as the centre), and
for AUROC differences the groups' score-interval standard errors (the longer half of Newcombe's
score interval over z; Stat Med 2006), which stay positive at an AUROC of 1. The bootstrap standard
error wins when the rows are clustered or the groups correlated.

**The spread of several groups** (max − min, and fairlearn's disparities) is non-negative and
not smooth at 0, where the bootstrap is inconsistent; its estimate is biased upward. We report it
with a one-sided upper bound: with ``c`` the max-|T| critical value over *all pairs* of groups,
``max_ij (|centre_ij| + c s_ij)``, which covers the true spread whenever every pairwise interval
covers, so with probability at least ``1 - alpha``. Equalised odds takes the pairs of sensitivity
and of false positive rate in one family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bootstrap import nan_std


@dataclass(frozen=True)
class MaxT:
    """Simultaneous intervals and adjusted p-values of ``K`` comparisons."""

    estimate: np.ndarray  # (K,) the differences as estimated
    centre: np.ndarray  # (K,) the interval centres (Agresti–Caffo adjusted for proportions)
    se: np.ndarray  # (K,)
    critical: float  # c: the (1 - alpha) quantile of max_k |T*_k|
    low: np.ndarray
    high: np.ndarray
    p_adjusted: np.ndarray
    p_unadjusted: np.ndarray  # 2 Phi(-|centre / se|), per comparison, for reference
    n_comparisons: int


def standard_errors(replicates: np.ndarray, analytic: np.ndarray) -> np.ndarray:
    """``max(bootstrap SE, analytic SE)`` per column; nan where neither is positive and finite."""
    boot = nan_std(replicates)
    se = np.fmax(boot, np.asarray(analytic, dtype=float))
    return np.where(np.isfinite(se) & (se > 0), se, np.nan)


def max_t(estimate, replicates, se, confidence: float = 0.95, centre=None) -> MaxT:
    """Single-step max-|T| simultaneous intervals and adjusted p-values (module docstring).

    Comparisons whose ``se`` is nan take no part (their outputs are nan); replicates that are nan
    (a comparison undefined in a resample) count as ``|T*| = 0`` in that resample.
    """
    from scipy.special import ndtr

    d = np.asarray(estimate, dtype=float)
    reps = np.atleast_2d(np.asarray(replicates, dtype=float))
    se = np.asarray(se, dtype=float)
    centre = d if centre is None else np.asarray(centre, dtype=float)
    usable = np.isfinite(se) & np.isfinite(d) & np.isfinite(centre)
    k = int(usable.sum())
    nan = np.full(d.shape, np.nan)
    if k == 0:
        return MaxT(d, centre, se, math.nan, nan, nan.copy(), nan.copy(), nan.copy(), 0)
    t_star = np.abs(reps[:, usable] - d[usable]) / se[usable]
    m_star = np.max(np.nan_to_num(t_star, nan=0.0), axis=1)
    b = m_star.size
    rank = min(b, int(math.ceil(confidence * (b + 1))))
    critical = float(np.sort(m_star)[rank - 1])
    low, high, p_adj, p_raw = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    t_obs = np.abs(centre[usable]) / se[usable]
    low[usable] = centre[usable] - critical * se[usable]
    high[usable] = centre[usable] + critical * se[usable]
    sorted_m = np.sort(m_star)
    at_least = b - np.searchsorted(sorted_m, t_obs, side="left")
    p_adj[usable] = (1.0 + at_least) / (b + 1.0)
    p_raw[usable] = 2.0 * ndtr(-t_obs)
    return MaxT(d, centre, se, critical, low, high, p_adj, p_raw, k)


@dataclass(frozen=True)
class SpreadBound:
    """The spread (max − min) of group values with its one-sided simultaneous upper bound."""

    value: float
    upper: float
    n_pairs: int


def pairwise(values, centres, group_se, replicates) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of ``G`` groups: differences, centres, analytic SEs and replicates ``(B, P)``."""
    values, centres, group_se = (np.asarray(a, dtype=float) for a in (values, centres, group_se))
    i, j = np.triu_indices(values.size, k=1)
    reps = np.asarray(replicates, dtype=float)
    return values[i] - values[j], centres[i] - centres[j], np.hypot(group_se[i], group_se[j]), reps[:, i] - reps[:, j]


def spread_upper_bound(blocks: list[tuple], confidence: float = 0.95, upper_limit: float = math.inf) -> SpreadBound:
    """Max − min over groups, and its simultaneous upper bound, over one or more metrics jointly.

    Each block is ``(values (G,), centres (G,), group_se (G,), replicates (B, G))`` for one metric;
    the spread is the largest spread of any block (equalised odds: of sensitivity and FPR).
    """
    diffs, centres, ses, reps = [], [], [], []
    for values, cents, gse, rep in blocks:
        d, c, s, r = pairwise(values, cents, gse, rep)
        se = np.fmax(nan_std(r), s) if r.shape[0] > 1 else s
        diffs.append(d), centres.append(c), ses.append(np.where(se > 0, se, np.nan)), reps.append(r)
    d, c, s, r = (np.concatenate(x, axis=-1) for x in (diffs, centres, ses, reps))
    if d.size == 0 or not np.any(np.isfinite(d)):
        return SpreadBound(math.nan, math.nan, 0)
    value = float(np.nanmax(np.abs(d)))
    result = max_t(d, r, s, confidence, centre=c)
    if result.n_comparisons == 0:
        return SpreadBound(value, math.nan, 0)
    upper = float(np.nanmax(np.abs(c) + result.critical * s))
    return SpreadBound(value, min(upper, upper_limit), result.n_comparisons)
