"""Binary classification metrics computed from weights, so that one call evaluates many resamples.

A bootstrap replicate is a vector of resample counts ``w`` (how often each row was drawn). Every
metric here is a function of weighted sums, so a whole block of replicates ``W`` (shape
``(B, n)``) is evaluated at once, without materialising resampled copies of the data. The point
estimate is the same function at ``w = 1``. Each replicate equals scikit-learn's metric called
with ``sample_weight=w`` on the original rows (tested to 1e-12).

Definitions (``TP``, ``FP``, ``TN``, ``FN`` are weighted counts at ``p >= threshold``; ``P`` and
``N`` the weighted numbers of positives and negatives):

- ``auroc``: area under the ROC curve, trapezoidal over the distinct score values, so tied scores
  count one half (``sklearn.metrics.roc_auc_score``). Hanley & McNeil, Radiology 1982.
- ``auprc``: average precision, ``sum_k (R_k - R_{k-1}) P_k`` over decreasing distinct thresholds
  (``sklearn.metrics.average_precision_score``; no interpolation).
- ``sensitivity = TP / P``, ``specificity = TN / N``, ``ppv = TP / (TP + FP)``,
  ``npv = TN / (TN + FN)``, ``accuracy = (TP + TN) / (P + N)``,
  ``balanced_accuracy = (sensitivity + specificity) / 2``, ``f1 = 2TP / (2TP + FP + FN)``.
  A ratio whose denominator is zero is ``nan`` (scikit-learn's ``zero_division=np.nan``).
- ``brier = sum w (p - y)^2 / sum w``. Brier, Monthly Weather Review 1950.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PERFORMANCE_METRICS: tuple[str, ...] = (
    "auroc",
    "auprc",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "brier",
)
RANKING_METRICS = frozenset({"auroc", "auprc"})


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class BinaryMetrics:
    """Weighted binary metrics of fixed labels ``y`` and scores ``p``, evaluated on weight blocks.

    Prepares once what every replicate shares (the descending sort of the scores, the last
    position of each distinct score, the thresholded predictions); ``__call__(W)`` then returns
    an array of shape ``(B, len(names))`` for a weight block ``W`` of shape ``(B, n)``.
    """

    y: np.ndarray
    p: np.ndarray
    threshold: float = 0.5
    names: tuple[str, ...] = PERFORMANCE_METRICS
    _order: np.ndarray = field(init=False, repr=False)
    _y_sorted: np.ndarray = field(init=False, repr=False)
    _last_of_tie: np.ndarray = field(init=False, repr=False)
    _pred: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        y = np.asarray(self.y, dtype=np.float64)
        p = np.asarray(self.p, dtype=np.float64)
        unknown = set(self.names) - set(PERFORMANCE_METRICS)
        if unknown:
            raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {PERFORMANCE_METRICS}")
        order = np.argsort(-p, kind="stable")
        p_sorted = p[order]
        last = np.flatnonzero(np.diff(p_sorted)).astype(np.intp)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_y_sorted", y[order])
        object.__setattr__(self, "_last_of_tie", np.r_[last, p.size - 1])
        object.__setattr__(self, "_pred", (p >= self.threshold).astype(np.float64))

    @property
    def n(self) -> int:
        return int(self.y.size)

    def point(self) -> np.ndarray:
        """The metrics on the data as observed (all weights one), shape ``(len(names),)``."""
        return self(np.ones((1, self.n)))[0]

    def __call__(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        out = np.empty((W.shape[0], len(self.names)))
        values: dict[str, np.ndarray] = {}
        if RANKING_METRICS & set(self.names):
            values.update(self._ranking(W))
        values.update(self._thresholded(W))
        for j, name in enumerate(self.names):
            out[:, j] = values[name]
        return out

    def _ranking(self, W: np.ndarray) -> dict[str, np.ndarray]:
        Ws = W[:, self._order]
        tp = np.cumsum(Ws * self._y_sorted, axis=1)[:, self._last_of_tie]
        total = np.cumsum(Ws, axis=1)[:, self._last_of_tie]
        fp = total - tp
        pos, neg = tp[:, -1:], fp[:, -1:]
        tpr, fpr = _ratio(tp, pos), _ratio(fp, neg)
        zeros = np.zeros((W.shape[0], 1))
        tpr0, fpr0 = np.hstack([zeros, tpr]), np.hstack([zeros, fpr])
        auroc = np.sum(np.diff(fpr0, axis=1) * (tpr0[:, 1:] + tpr0[:, :-1]), axis=1) / 2.0
        precision = np.zeros_like(tp)
        np.divide(tp, total, out=precision, where=total != 0)
        auprc = np.sum(np.diff(tpr0, axis=1) * precision, axis=1)
        undefined = (pos[:, 0] == 0) | (neg[:, 0] == 0)
        auroc[undefined] = np.nan
        auprc[pos[:, 0] == 0] = np.nan
        return {"auroc": auroc, "auprc": auprc}

    def _thresholded(self, W: np.ndarray) -> dict[str, np.ndarray]:
        y, pred = self.y, self._pred
        tp = W @ (y * pred)
        fn = W @ (y * (1.0 - pred))
        fp = W @ ((1.0 - y) * pred)
        tn = W @ ((1.0 - y) * (1.0 - pred))
        total = tp + fn + fp + tn
        sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
        return {
            "sensitivity": sens,
            "specificity": spec,
            "ppv": _ratio(tp, tp + fp),
            "npv": _ratio(tn, tn + fn),
            "accuracy": _ratio(tp + tn, total),
            "balanced_accuracy": (sens + spec) / 2.0,
            "f1": _ratio(2.0 * tp, 2.0 * tp + fp + fn),
            "brier": _ratio(W @ (self.p - y) ** 2, total),
        }


def binary_metrics(y, p, threshold: float = 0.5, names: tuple[str, ...] = PERFORMANCE_METRICS) -> dict[str, float]:
    """Point estimates of the named metrics, ``{name: value}``."""
    kernel = BinaryMetrics(np.asarray(y), np.asarray(p), threshold, tuple(names))
    return dict(zip(kernel.names, map(float, kernel.point())))
