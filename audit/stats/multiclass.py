"""Multiclass and ordinal metrics computed from weights, for the multiclass task (issue 18, Part 2).

Like :mod:`audit.stats.metrics`, every metric is a function of weighted sums, so a whole block of
bootstrap replicates ``W`` (shape ``(B, n)``: how often each row was drawn) is evaluated at once; the
point estimate is the same function at ``w = 1``. ``y`` holds class codes ``0 .. K-1`` (the order of
``data.classes``; for ordinal outcomes the grades in order) and ``P`` the predicted probabilities,
shape ``(n, K)``. The decision is the arg-max class, ties to the first class.

Definitions (``C`` is the weighted confusion matrix, rows the true class, columns the decision; ``w``
the weights; ``1[.]`` an indicator):

- ``accuracy = trace(C) / sum(C)``; ``balanced_accuracy`` = the mean over the classes present of
  ``C_kk / sum_j C_kj`` (``sklearn.metrics.balanced_accuracy_score``); ``macro_f1`` = the mean over
  classes present of ``2 C_kk / (sum_j C_kj + sum_j C_jk)`` (``f1_score(average="macro")``).
- ``top2_accuracy``: the share whose true class is among the two most probable.
- ``auroc_hand_till``: Hand & Till (Machine Learning 2001), ``2 / (K (K - 1)) sum_{i<j} (A(i|j) +
  A(j|i)) / 2``, where ``A(i|j)`` is the AUROC of ``P[:, i]`` separating class ``i`` from class ``j``
  on the rows of those two classes (pROC's ``multiclass.roc``; ``roc_auc_score(multi_class="ovo")``);
  pairs with a class absent are left out (the average runs over the available pairs).
- ``auroc_ovr_macro`` / ``auroc_ovr_weighted``: each class's one-vs-rest AUROC of ``P[:, k]``, averaged
  equally or by the classes' weighted prevalence (``roc_auc_score(multi_class="ovr")``).
- ``brier = sum_i w_i sum_k (P_ik - 1[y_i = k])^2 / sum_i w_i``: the multiclass Brier score, summed
  over the classes (Brier 1950; between 0 and 2), not divided by K.
- ``log_loss = -sum_i w_i log P_{i, y_i} / sum_i w_i`` (infinite when a patient's true class has
  probability 0; the check reports that as not estimable, with the count).
- Ordinal: ``kappa_quadratic`` and ``kappa_linear``, Cohen's weighted kappa of the decision against the
  grade (``cohen_kappa_score(weights=...)``); ``rps``, the ranked probability score ``sum_{k<K}
  (F_ik - O_ik)^2 / (K - 1)`` averaged over patients, with ``F`` and ``O`` the predicted and observed
  cumulative distributions over the grades (Epstein, J Appl Meteor 1969); ``mae_grade``, the mean
  absolute difference between the decided and the true grade.

Per-class columns are named ``metric[k]`` for class code ``k``: the one-vs-rest ``sensitivity``,
``specificity``, ``ppv`` and ``npv`` of the decision "class k" (from the confusion matrix), ``auroc`` of
``P[:, k]`` for class ``k`` against the rest, and, for ordered grades, ``auroc_cumulative[k]``: the
AUROC of ``P[:, k:].sum(axis=1)`` for grade ``>= k`` against grade ``< k`` (k = 1 .. K-1). A class absent
from a resample makes its columns NaN there. ``log_loss_clipped`` is the log loss with each true-class
probability clipped below at ``LOG_LOSS_CLIP``, reported beside an infinite log loss.

Every AUROC comes from the binary kernel (:class:`audit.stats.metrics.BinaryMetrics`) run on the rows
it concerns, so ties count one half exactly as in the binary task.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from .metrics import BinaryMetrics, _rowdot, _running_sum, ratio_or_nan

MULTICLASS_METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "macro_f1", "top2_accuracy",
    "auroc_hand_till", "auroc_ovr_macro", "auroc_ovr_weighted", "brier", "log_loss",
)
ORDINAL_METRICS: tuple[str, ...] = ("kappa_quadratic", "kappa_linear", "rps", "mae_grade")
#: Per-class one-vs-rest metrics, named ``metric[k]``.
PER_CLASS_METRICS: tuple[str, ...] = ("auroc", "sensitivity", "specificity", "ppv", "npv")
#: The smallest true-class probability ``log_loss_clipped`` uses (a probability of 0 makes the log loss infinite).
LOG_LOSS_CLIP = 1e-15
_INDEXED = re.compile(r"(auroc|sensitivity|specificity|ppv|npv|auroc_cumulative)\[(\d+)\]")


def per_class_name(metric: str, k: int) -> str:
    """The kernel's column name of ``metric`` for class code ``k``."""
    return f"{metric}[{k}]"


def decisions(P: np.ndarray) -> np.ndarray:
    """The arg-max class of every row, ties to the first class (``numpy.argmax``)."""
    return np.argmax(np.asarray(P, dtype=np.float64), axis=1)


class MulticlassMetrics:
    """Weighted multiclass (and ordinal) metrics of class codes ``y`` and probabilities ``P`` on blocks of replicates.

    ``__call__(W)`` takes a block in row order and returns shape ``(B, len(names))``.
    """

    def __init__(self, y, P, names=MULTICLASS_METRICS):
        P = np.asarray(P, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if P.ndim != 2 or P.shape[0] != y.size:
            raise ValueError(f"P must have shape (n, K) with n = {y.size}, not {P.shape}")
        known = MULTICLASS_METRICS + ORDINAL_METRICS + ("log_loss_clipped",)
        unknown = [m for m in names if m not in known and not _valid_indexed(m, P.shape[1])]
        if unknown:
            raise ValueError(f"unknown multiclass metrics {unknown}; known: {known} and metric[k] for {PER_CLASS_METRICS}, auroc_cumulative")
        self.names = tuple(names)
        self.n, self.k = y.size, P.shape[1]
        self.y, self.P = y, P
        self.decision = decisions(P)
        onehot = np.eye(self.k)[y]
        cell = y * self.k + self.decision  # confusion-matrix cell of every row
        # rows grouped by cell once: a block's confusion matrices are one gather and one reduceat
        self._by_cell = np.argsort(cell, kind="stable")
        self._cells, starts = np.unique(cell[self._by_cell], return_index=True)
        self._cell_starts = starts
        self._squared = ((P - onehot) ** 2).sum(axis=1)
        true_p = P[np.arange(self.n), y]
        with np.errstate(divide="ignore"):
            self._neg_log = -np.log(true_p)
        self._neg_log_clipped = -np.log(np.maximum(true_p, LOG_LOSS_CLIP))
        top2 = np.argsort(-P, axis=1, kind="stable")[:, :2]
        self._in_top2 = (top2 == y[:, None]).any(axis=1).astype(np.float64)
        cdf_pred, cdf_obs = np.cumsum(P, axis=1)[:, :-1], np.cumsum(onehot, axis=1)[:, :-1]
        self._rps = ((cdf_pred - cdf_obs) ** 2).sum(axis=1) / max(self.k - 1, 1)
        self._grade_error = np.abs(self.decision - y).astype(np.float64)
        needed = set(self.names)
        self._wants_ovr = bool(needed & {"auroc_ovr_macro", "auroc_ovr_weighted"} or any(n.startswith("auroc[") for n in needed))
        self._scores = [_ScoreColumn(y, P[:, i], i, self.k) for i in range(self.k)] \
            if self._wants_ovr or "auroc_hand_till" in needed else []
        self._cumulative = {}
        for name in self.names:
            match = _INDEXED.fullmatch(name)
            if match and match.group(1) == "auroc_cumulative":
                k = int(match.group(2))
                self._cumulative[k] = self._binary(y >= k, P[:, k:].sum(axis=1), np.ones(self.n, bool))

    @staticmethod
    def _binary(positive: np.ndarray, score: np.ndarray, rows: np.ndarray):
        """(columns, AUROC kernel) for ``score`` separating ``positive`` on ``rows`` (a mask); None when a side is
        empty. ``columns`` are the rows in the kernel's layout, so a block is gathered once for it."""
        if not positive[rows].any() or positive[rows].all():
            return None
        kernel = BinaryMetrics(positive[rows], score[rows], 0.5, ("auroc",))
        return np.flatnonzero(rows)[kernel.layout], kernel

    @staticmethod
    def _auroc(entry, W: np.ndarray) -> np.ndarray:
        if entry is None:
            return np.full(W.shape[0], np.nan)
        columns, kernel = entry
        return kernel.laid_out(np.take(W, columns, axis=1))[:, 0]

    def confusion(self, W: np.ndarray) -> np.ndarray:
        """The weighted confusion matrices, shape ``(B, K, K)`` (true class × decision)."""
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        cells = np.zeros((W.shape[0], self.k * self.k))
        cells[:, self._cells] = np.add.reduceat(np.take(W, self._by_cell, axis=1), self._cell_starts, axis=1)
        return cells.reshape(-1, self.k, self.k)

    def __call__(self, W: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # an average over no estimable class is NaN, which says so: no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._evaluate(W)

    def _evaluate(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        total = W.sum(axis=1)
        C = self.confusion(W)
        row, col, diag = C.sum(axis=2), C.sum(axis=1), np.diagonal(C, axis1=1, axis2=2)
        present = row > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(present, diag / row, np.nan)
            f1 = np.where(present, 2 * diag / (row + col), np.nan)
            out = {
                "accuracy": diag.sum(axis=1) / total,
                "balanced_accuracy": np.nanmean(recall, axis=1),
                "macro_f1": np.nanmean(f1, axis=1),
                "top2_accuracy": W @ self._in_top2 / total,
                "brier": W @ self._squared / total,
                "log_loss": _weighted_mean(W, self._neg_log, total),
                "log_loss_clipped": W @ self._neg_log_clipped / total,
                "rps": W @ self._rps / total,
                "mae_grade": W @ self._grade_error / total,
            }
        needed = set(self.names)
        ovr = None
        pair = {}
        if self._scores:  # one gather per score column gives its one-vs-rest and every pairwise AUROC
            columns = []
            for column in self._scores:
                one_vs_rest, pairs = column.aurocs(W)
                columns.append(one_vs_rest)
                pair.update(pairs)
            ovr = np.column_stack(columns)
        if self._wants_ovr:
            prevalence = row / total[:, None]
            with np.errstate(invalid="ignore"):
                out["auroc_ovr_macro"] = np.nanmean(ovr, axis=1)
                usable = np.isfinite(ovr)
                out["auroc_ovr_weighted"] = (np.where(usable, ovr, 0) * prevalence).sum(axis=1) / (prevalence * usable).sum(axis=1)
        if "auroc_hand_till" in needed:
            means = [(pair[(i, j)] + pair[(j, i)]) / 2 for i in range(self.k) for j in range(i + 1, self.k)]
            with np.errstate(invalid="ignore"):
                out["auroc_hand_till"] = np.nanmean(np.column_stack(means), axis=1) if means else np.full(W.shape[0], np.nan)
        for name, power in (("kappa_quadratic", 2), ("kappa_linear", 1)):
            if name in needed:
                out[name] = weighted_kappa(C, power)
        for name in self.names:
            match = _INDEXED.fullmatch(name)
            if match:
                out[name] = self._per_class(match.group(1), int(match.group(2)), W, row, col, diag, total, ovr)
        return np.column_stack([out[m] for m in self.names])

    def _per_class(self, metric, k, W, row, col, diag, total, ovr) -> np.ndarray:
        """One per-class column: one-vs-rest proportions from the confusion matrix, or an AUROC."""
        if metric == "auroc":
            return ovr[:, k]
        if metric == "auroc_cumulative":
            return self._auroc(self._cumulative[k], W)
        tp, pos, flagged = diag[:, k], row[:, k], col[:, k]
        tn = total - pos - flagged + tp
        num, den = {"sensitivity": (tp, pos), "specificity": (tn, total - pos),
                    "ppv": (tp, flagged), "npv": (tn, total - flagged)}[metric]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def point(self) -> np.ndarray:
        """The metrics on the data as observed (all weights one), shape ``(len(names),)``."""
        return self(np.ones((1, self.n)))[0]


class _ScoreColumn:
    """The AUROCs of one probability column ``P[:, i]``: class ``i`` against each other class ``j`` (the pairs of
    Hand & Till) and against the rest, from one gather of a block.

    The layout holds the rows class by class, each class sorted by ``P[:, i]``, so every class is a contiguous
    slice. For each ``j``, the running sum of class ``j``'s weights read at each class-``i`` row's score gives
    twice the pair's Mann–Whitney numerator ``2 sum_r w_r (below_j(r) + tied_j(r) / 2)``; the one-vs-rest
    numerator is the sum of these over ``j`` (the rest is the union of the other classes), so
    ``AUROC(i|rest) = sum_j num_ij / (P sum_j N_j)``. Weights are resample counts, so the sums are exact and
    each value is the one ``BinaryMetrics`` gives on the same rows.
    """

    def __init__(self, y: np.ndarray, score: np.ndarray, i: int, k: int):
        self.i, self.n = i, y.size
        self.layout = np.lexsort((score, y))
        counts = np.bincount(y, minlength=k)
        bounds = np.r_[0, np.cumsum(counts)]
        self.slices = [slice(int(bounds[c]), int(bounds[c + 1])) for c in range(k)]
        ordered = score[self.layout]
        positives = ordered[self.slices[i]]
        self.others = []  # (j, below, upto or None when no score of j ties one of i)
        for j in range(k):
            if j == i or counts[j] == 0:
                continue
            negatives = ordered[self.slices[j]]
            below = np.searchsorted(negatives, positives, side="left")
            upto = np.searchsorted(negatives, positives, side="right")
            self.others.append((j, below, upto if np.any(below != upto) else None))
        self.k = k
        self.has_positives = bool(counts[i]) and bool(self.others)

    def aurocs(self, W: np.ndarray) -> tuple[np.ndarray, dict[tuple[int, int], np.ndarray]]:
        """``(one-vs-rest AUROC, {(i, j): AUROC of class i against class j})`` for every replicate of ``W``."""
        B = W.shape[0]
        missing = np.full(B, np.nan)
        pairs = {(self.i, j): missing for j in range(self.k) if j != self.i}
        if not self.has_positives:
            return missing, pairs
        Wl = np.take(W, self.layout, axis=1)
        Wp = Wl[:, self.slices[self.i]]
        P = Wp.sum(axis=1)
        twice_all, N_all = np.zeros(B), np.zeros(B)
        for j, below, upto in self.others:
            CN = _running_sum(Wl[:, self.slices[j]])
            under = np.take(CN, below, axis=1)
            twice = 2 * _rowdot(Wp, under)
            if upto is not None:
                twice = twice - _rowdot(Wp, under - np.take(CN, upto, axis=1))
            N = CN[:, -1]
            pairs[(self.i, j)] = ratio_or_nan(twice, 2.0 * P * N)
            twice_all += twice
            N_all += N
        return ratio_or_nan(twice_all, 2.0 * P * N_all), pairs


def _valid_indexed(name: str, k: int) -> bool:
    match = _INDEXED.fullmatch(name)
    if not match:
        return False
    index = int(match.group(2))
    return 1 <= index < k if match.group(1) == "auroc_cumulative" else index < k


def _weighted_mean(W: np.ndarray, values: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``W @ values / total``, infinite where a row with infinite value has positive weight (0 x inf is 0 here)."""
    finite = np.isfinite(values)
    out = W[:, finite] @ values[finite] / total
    return np.where((W[:, ~finite] > 0).any(axis=1), np.inf, out)


def weighted_kappa(C: np.ndarray, power: int) -> np.ndarray:
    """Cohen's weighted kappa of confusion matrices ``C`` (shape ``(B, K, K)``), disagreement weights
    ``|i - j| ** power / (K - 1) ** power``: ``1 - sum(v * C) / sum(v * E)`` with ``E`` the expected
    matrix under independence (Cohen, Psychol Bull 1968)."""
    k = C.shape[1]
    grades = np.arange(k)
    v = np.abs(grades[:, None] - grades[None, :]) ** power / max(k - 1, 1) ** power
    total = C.sum(axis=(1, 2))
    expected = C.sum(axis=2)[:, :, None] * C.sum(axis=1)[:, None, :] / total[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (v * C).sum(axis=(1, 2)) / (v * expected).sum(axis=(1, 2))


class GroupedMulticlassMetrics:
    """``MulticlassMetrics`` of every group of several partitions, from one weight block.

    ``partitions`` maps a partition's name to each row's group code (``0 .. G-1``). ``columns`` lists
    ``(partition, code, metric)`` in the output's column order, each group's metrics in ``names`` order.
    A group's metrics read only its rows' weights, so all groups come from the same resampled patients.
    """

    def __init__(self, y, P, partitions: dict[str, np.ndarray], names):
        y = np.asarray(y, dtype=np.int64)
        P = np.asarray(P, dtype=np.float64)
        self.n = y.size
        self.names = tuple(names)
        self._groups, self.columns = [], []
        for part, codes in partitions.items():
            codes = np.asarray(codes)
            for code in range(int(codes.max()) + 1 if codes.size else 0):
                rows = np.flatnonzero(codes == code)
                self._groups.append((rows, MulticlassMetrics(y[rows], P[rows], self.names)))
                self.columns += [(part, code, m) for m in self.names]

    def __call__(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W))  # counts stay integers until each group is gathered
        blocks = []
        for rows, kernel in self._groups:
            with np.errstate(invalid="ignore", divide="ignore"):
                sub = np.take(W, rows, axis=1)
                empty = sub.sum(axis=1) == 0
                if empty.any():  # rare but for small groups: give those replicates weights, then discard them
                    sub[empty] = 1
                values = kernel(sub)
                values[empty] = np.nan  # a group absent from a resample has no metrics there
            blocks.append(values)
        return np.hstack(blocks) if blocks else np.empty((W.shape[0], 0))
