"""Averages over the labels of a multilabel model, computed from weights on blocks of resamples.

``Y`` is the ``(n, K)`` 0/1 matrix of labels and ``P`` the ``(n, K)`` predicted probabilities, one
column per label (each label is its own binary outcome). As in scikit-learn's ``roc_auc_score`` and
``average_precision_score`` for a label-indicator matrix:

- ``auroc_macro`` / ``auprc_macro``: the unweighted mean over labels of each label's AUROC / average
  precision (labels without both outcomes in a resample are left out there);
- ``auroc_micro`` / ``auprc_micro``: one AUROC / average precision of all ``n K`` (label, score) pairs
  pooled, each patient's pairs carrying the patient's weight.

Every per-label number comes from the binary kernel (:class:`audit.stats.metrics.BinaryMetrics`), so a
label's AUROC here is the binary task's on that label alone.
"""

from __future__ import annotations

import numpy as np

from .metrics import BinaryMetrics

MULTILABEL_METRICS: tuple[str, ...] = ("auroc_macro", "auroc_micro", "auprc_macro", "auprc_micro")


class MultilabelMetrics:
    """Macro and micro AUROC and AUPRC of ``Y`` and ``P`` on blocks of replicates ``W`` (shape ``(B, n)``)."""

    def __init__(self, Y, P, names=MULTILABEL_METRICS):
        Y = np.asarray(Y).astype(bool)
        P = np.asarray(P, dtype=np.float64)
        if Y.shape != P.shape or Y.ndim != 2:
            raise ValueError(f"Y and P must have the same shape (n, K), not {Y.shape} and {P.shape}")
        unknown = [m for m in names if m not in MULTILABEL_METRICS]
        if unknown:
            raise ValueError(f"unknown multilabel metrics {unknown}; known: {MULTILABEL_METRICS}")
        self.names = tuple(names)
        self.n, self.k = Y.shape
        self._labels = [BinaryMetrics(Y[:, j], P[:, j], 0.5, ("auroc", "auprc")) if 0 < Y[:, j].sum() < self.n else None
                        for j in range(self.k)]
        flat = Y.ravel()
        self._micro = BinaryMetrics(flat, P.ravel(), 0.5, ("auroc", "auprc")) if 0 < flat.sum() < flat.size else None

    def __call__(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        b = W.shape[0]
        per_label = np.stack([k(W) if k is not None else np.full((b, 2), np.nan) for k in self._labels], axis=1)  # (B, K, 2)
        micro = self._micro(np.repeat(W, self.k, axis=1)) if self._micro is not None else np.full((b, 2), np.nan)
        usable = np.isfinite(per_label)
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample with no usable label: nan, not a warning
            macro = np.where(usable, per_label, 0.0).sum(axis=1) / usable.sum(axis=1)
        out = {"auroc_macro": macro[:, 0], "auprc_macro": macro[:, 1], "auroc_micro": micro[:, 0], "auprc_micro": micro[:, 1]}
        return np.column_stack([out[m] for m in self.names])

    def point(self) -> np.ndarray:
        return self(np.ones((1, self.n)))[0]
