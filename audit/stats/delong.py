"""DeLong's variance of the AUROC, with the fast O(n log n) algorithm of Sun & Xu.

DeLong, DeLong & Clarke-Pearson, Biometrics 1988: the AUROC is the mean of the *placement
values* ``V10_i = (1/N) sum_j psi(x_i, y_j)`` of the positives and ``V01_j = (1/P) sum_i
psi(x_i, y_j)`` of the negatives, with ``psi = 1`` if the positive scores higher, ``1/2`` on a
tie, ``0`` otherwise; ``Var(AUC) = s10^2 / P + s01^2 / N`` with the sample variances of the
placement values. Sun & Xu, IEEE Signal Processing Letters 2014, obtain the placement values
from midranks in O(n log n): ``V10_i = (T_z(i) - T_x(i)) / N`` and
``V01_j = 1 - (T_z(j) - T_y(j)) / P``, where ``T_z`` ranks within all scores, ``T_x`` within the
positives and ``T_y`` within the negatives. The interval is Wald on the AUROC scale, clipped to
[0, 1], as R's pROC does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from .estimate import Estimate


@dataclass(frozen=True)
class Placements:
    """Placement values of the positives (``v10``) and negatives (``v01``)."""

    v10: np.ndarray
    v01: np.ndarray

    @property
    def auroc(self) -> float:
        return float(self.v10.mean())

    @property
    def variance(self) -> float:
        return float(self.v10.var(ddof=1) / self.v10.size + self.v01.var(ddof=1) / self.v01.size)


def placements(y, scores) -> Placements:
    """Placement values by midranks (Sun & Xu 2014), O(n log n)."""
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    pos, neg = scores[y], scores[~y]
    if pos.size < 2 or neg.size < 2:
        raise ValueError("DeLong's variance needs at least two positives and two negatives")
    tz = rankdata(np.r_[pos, neg])
    tx, ty = rankdata(pos), rankdata(neg)
    v10 = (tz[: pos.size] - tx) / neg.size
    v01 = 1.0 - (tz[pos.size :] - ty) / pos.size
    return Placements(v10, v01)


def delong_variance(y, scores) -> float:
    """DeLong's variance of the empirical AUROC."""
    return placements(y, scores).variance


def auroc_delong(y, scores, confidence: float = 0.95) -> Estimate:
    """AUROC with DeLong's Wald interval on the AUROC scale, clipped to [0, 1]."""
    pl = placements(y, scores)
    half = ndtri(0.5 + confidence / 2.0) * np.sqrt(pl.variance)
    auc = pl.auroc
    return Estimate(auc, (max(0.0, auc - half), min(1.0, auc + half)), "delong", int(np.size(y)))


def auroc_difference_independent(y_a, scores_a, y_b, scores_b, confidence: float = 0.95) -> tuple[Estimate, float | None]:
    """AUROC of sample b minus sample a (different patients), DeLong's variances added; with its two-sided p."""
    from scipy.stats import norm

    a, b = placements(y_a, scores_a), placements(y_b, scores_b)
    d = b.auroc - a.auroc
    se = float(np.sqrt(a.variance + b.variance))
    half = ndtri(0.5 + confidence / 2.0) * se
    p = float(2 * norm.sf(abs(d) / se)) if se > 0 else None
    return Estimate(d, (d - half, d + half), "delong-unpaired", int(np.size(y_a) + np.size(y_b))), p
