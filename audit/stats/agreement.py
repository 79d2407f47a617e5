"""Agreement between readers who labelled the same patients: Fleiss' and Cohen's kappa, resampled.

Readers' binary labels form an ``(n, m)`` matrix ``R`` (complete rows only). For resample weights
``w`` (a row of the engine's weight block ``W``), with ``S = sum(w)``:

- Cohen's kappa of readers ``a`` and ``b``: observed agreement ``p_o = sum(w [a = b]) / S``,
  chance agreement ``p_e = p_a p_b + (1 - p_a)(1 - p_b)`` with ``p_a = sum(w a) / S``;
  ``kappa = (p_o - p_e) / (1 - p_e)`` (Cohen 1960; ``sklearn.metrics.cohen_kappa_score``).
- Fleiss' kappa of all ``m`` readers: per patient ``k`` positive reads, agreement
  ``P_i = (k(k - 1) + (m - k)(m - k - 1)) / (m(m - 1))``; ``P = sum(w P_i) / S``,
  ``p = sum(w k) / (m S)``, ``P_e = p^2 + (1 - p)^2``; ``kappa = (P - P_e) / (1 - P_e)``
  (Fleiss 1971; ``statsmodels.stats.inter_rater.fleiss_kappa``).

Every quantity is a weighted mean, so a whole block of resamples is a few matrix products, and the
intervals come from the shared resampling engine like every other statistic. A kappa whose chance
agreement is 1 (everyone always says the same single class) is undefined: NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .metrics import ratio_or_nan


@dataclass(frozen=True, eq=False)
class ReaderAgreement:
    """Weighted statistic: Fleiss' kappa, Cohen's kappa per pair of readers, and each reader against a reference.

    ``names`` gives each output column: ``"fleiss"``, ``"a|b"`` for a pair, ``"a|reference"``.
    """

    reads: np.ndarray  # (n, m) 0/1
    readers: tuple[str, ...]
    reference: np.ndarray | None = None  # (n,) 0/1, e.g. the reference standard

    @property
    def n(self) -> int:
        """Rows (patients) the statistic reads."""
        return int(self.reads.shape[0])

    @property
    def names(self) -> list[str]:
        pairs = [f"{a}|{b}" for a, b in combinations(self.readers, 2)]
        return ["fleiss", *pairs, *([f"{r}|reference" for r in self.readers] if self.reference is not None else [])]

    def __call__(self, W: np.ndarray) -> np.ndarray:
        W = np.asarray(W, dtype=np.float64)
        R = np.asarray(self.reads, dtype=np.float64)
        columns = [fleiss_kappa_weighted(W, R)]
        columns += [cohen_kappa_weighted(W, R[:, i], R[:, j]) for i, j in combinations(range(R.shape[1]), 2)]
        if self.reference is not None:
            ref = np.asarray(self.reference, dtype=np.float64)
            columns += [cohen_kappa_weighted(W, R[:, i], ref) for i in range(R.shape[1])]
        return np.column_stack(columns)


def cohen_kappa_weighted(W: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cohen's kappa of two binary raters for each row of weights ``W`` (shape ``(B, n)``)."""
    total = W.sum(axis=1)
    p_o = ratio_or_nan(W @ (a == b).astype(np.float64), total)
    p_a, p_b = ratio_or_nan(W @ a, total), ratio_or_nan(W @ b, total)
    p_e = p_a * p_b + (1 - p_a) * (1 - p_b)
    return ratio_or_nan(p_o - p_e, _nonzero(1 - p_e))


def fleiss_kappa_weighted(W: np.ndarray, reads: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of ``m`` binary raters for each row of weights ``W``."""
    m = reads.shape[1]
    k = reads.sum(axis=1)
    per_patient = (k * (k - 1) + (m - k) * (m - k - 1)) / (m * (m - 1))
    total = W.sum(axis=1)
    observed = ratio_or_nan(W @ per_patient, total)
    p = ratio_or_nan(W @ k, m * total)
    chance = p**2 + (1 - p) ** 2
    return ratio_or_nan(observed - chance, _nonzero(1 - chance))


def _nonzero(x: np.ndarray) -> np.ndarray:
    """``x`` with values that are zero up to rounding set to exactly 0 (so the ratio is NaN, not huge)."""
    return np.where(np.abs(x) < 1e-12, 0.0, x)
