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

How it is fast
--------------
Rows are laid out once as *cells* (a cell is the whole dataset or one subgroup): the negatives
sorted by score, then the positives sorted by score. The engine draws the resample counts
directly in that layout (``layout``), so a cell's negatives and positives are contiguous column
blocks of ``W``. Then, for a block of replicates, everything comes from two running sums:
``CN`` over the negatives' counts and ``CP`` over the positives' counts. For each positive ``i``
with score ``s_i``, ``CN`` read at the first and last negative position of ``s_i`` gives the
negatives scored below it and tied with it — the AUROC is ``sum_i w_i (below_i + tied_i / 2)
/ (P N)``, integer arithmetic until the final division; the positives and negatives scored at
least ``s_i`` give the precision at ``s_i``, and the average precision is
``sum_i w_i precision_i / P``; the counts at the threshold are ``CN`` and ``CP`` read at the
threshold's position. Only the Brier score needs one more pass (a matrix-vector product).
"""

from __future__ import annotations

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
#: Further metrics for subgroup analyses: ``fnr = FN / P`` (underdiagnosis rate), ``fpr = FP / N``,
#: ``selection_rate = (TP + FP) / (P + N)`` and ``prevalence = P / (P + N)``.
METRICS: tuple[str, ...] = PERFORMANCE_METRICS + ("fnr", "fpr", "selection_rate", "prevalence")
RANKING_METRICS = frozenset({"auroc", "auprc"})


def ratio_or_nan(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise (broadcast), NaN where ``den`` is 0: an undefined rate, not an error."""
    num = np.asarray(num, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _running_sum(W: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sums with a leading zero column: ``C[:, k]`` sums the first ``k`` columns."""
    out = np.empty((W.shape[0], W.shape[1] + 1), dtype=np.result_type(W.dtype, np.int64))
    out[:, 0] = 0
    np.cumsum(W, axis=1, out=out[:, 1:])
    return out


def _columns(W: np.ndarray, where) -> np.ndarray:
    return W[:, where] if isinstance(where, slice) else np.take(W, where, axis=1)


def _rowdot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.einsum("bi,bi->b", A, B)


THRESHOLD_METRICS = frozenset(METRICS) - RANKING_METRICS - {"brier", "prevalence"}


class _Cell:
    """The rows of one cell, split by outcome and sorted by score, with positions precomputed.

    ``neg`` and ``pos`` locate the cell's negatives and positives in the laid-out columns of
    ``W``: a ``slice`` when they are contiguous (no copy), else an index array (one gather).
    """

    def __init__(self, p_neg: np.ndarray, p_pos: np.ndarray, neg, pos, threshold: float):
        self.neg, self.pos = neg, pos
        # per positive: negatives strictly below, and at or below, its score; positives strictly below
        self.neg_below = np.searchsorted(p_neg, p_pos, side="left")
        self.neg_upto = np.searchsorted(p_neg, p_pos, side="right")
        self.ties = bool(np.any(self.neg_below != self.neg_upto))  # a positive scored like a negative
        self.pos_below = np.searchsorted(p_pos, p_pos, side="left")
        # rows below the threshold (predicted negative) come first in each sorted block
        self.neg_under_t = int(np.searchsorted(p_neg, threshold, side="left"))
        self.pos_under_t = int(np.searchsorted(p_pos, threshold, side="left"))
        self.sq_err_neg = p_neg**2
        self.sq_err_pos = (1.0 - p_pos) ** 2

    def evaluate(self, W: np.ndarray, names) -> dict[str, np.ndarray]:
        """The named metrics for every row (replicate) of ``W``; only what they need is computed."""
        Wn, Wp = _columns(W, self.neg), _columns(W, self.pos)
        out: dict[str, np.ndarray] = {}
        CN = CP = None
        if "auroc" in names or "auprc" in names:
            CN = _running_sum(Wn)
            below = np.take(CN, self.neg_below, axis=1)
            N = CN[:, -1]
        if "auprc" in names or THRESHOLD_METRICS & set(names):
            CP = _running_sum(Wp)
            P = CP[:, -1]
        if CN is None:
            N = Wn.sum(axis=1)
        if CP is None:
            P = Wp.sum(axis=1)
        if "auroc" in names:
            twice = 2 * _rowdot(Wp, below)
            if self.ties:
                twice = twice - _rowdot(Wp, below - np.take(CN, self.neg_upto, axis=1))
            out["auroc"] = ratio_or_nan(twice, 2.0 * P * N)
        if "auprc" in names:
            tp_ge = P[:, None] - np.take(CP, self.pos_below, axis=1)
            ge = tp_ge + (N[:, None] - below)
            # ge is zero only where the positive's own weight is zero, so its term vanishes anyway
            precision = tp_ge / np.maximum(ge, np.finfo(np.float64).tiny)
            out["auprc"] = ratio_or_nan(_rowdot(Wp, precision), P)
        if THRESHOLD_METRICS & set(names):
            fn, tn = CP[:, self.pos_under_t], (CN[:, self.neg_under_t] if CN is not None else Wn[:, : self.neg_under_t].sum(axis=1))
            tp, fp = P - fn, N - tn
            sens, spec = ratio_or_nan(tp, P), ratio_or_nan(tn, N)
            out.update(
                sensitivity=sens,
                specificity=spec,
                ppv=ratio_or_nan(tp, tp + fp),
                npv=ratio_or_nan(tn, tn + fn),
                accuracy=ratio_or_nan(tp + tn, P + N),
                balanced_accuracy=(sens + spec) / 2.0,
                f1=ratio_or_nan(2 * tp, 2 * tp + fp + fn),
                fnr=ratio_or_nan(fn, P),
                fpr=ratio_or_nan(fp, N),
                selection_rate=ratio_or_nan(tp + fp, P + N),
            )
        if "prevalence" in names:
            out["prevalence"] = ratio_or_nan(P, P + N)
        if "brier" in names:
            # einsum, not BLAS: its summation order does not depend on the number of BLAS threads,
            # so replicates are bit-identical in any process (BLAS gemv is not)
            sq = np.einsum("bi,i->b", Wn, self.sq_err_neg) + np.einsum("bi,i->b", Wp, self.sq_err_pos)
            out["brier"] = ratio_or_nan(sq, P + N)
        return out


def check_names(names) -> tuple[str, ...]:
    names = tuple(names)
    unknown = set(names) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {METRICS}")
    return names


class BinaryMetrics:
    """Weighted binary metrics of labels ``y`` and scores ``p``, on whole blocks of replicates.

    ``layout`` is the column order the engine draws replicates in (negatives by score, then
    positives by score); ``laid_out(W)`` evaluates a block in that order, ``__call__(W)`` a block
    in the original row order. Both return an array of shape ``(B, len(names))``.
    """

    def __init__(self, y, p, threshold: float = 0.5, names=PERFORMANCE_METRICS):
        y = np.asarray(y).astype(bool)
        p = np.asarray(p, dtype=np.float64)
        self.names = check_names(names)
        self.threshold = float(threshold)
        self.layout = np.lexsort((p, y))
        n_neg = int((~y).sum())
        p_sorted = p[self.layout]
        self._cell = _Cell(p_sorted[:n_neg], p_sorted[n_neg:], slice(0, n_neg), slice(n_neg, y.size), self.threshold)
        self.n = int(y.size)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.names

    def laid_out(self, W: np.ndarray) -> np.ndarray:
        values = self._cell.evaluate(np.atleast_2d(W), self.names)
        return np.column_stack([values[m] for m in self.names])

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return self.laid_out(np.atleast_2d(np.asarray(W))[:, self.layout])

    def point(self) -> np.ndarray:
        """The metrics on the data as observed (all weights one), shape ``(len(names),)``."""
        return self.laid_out(np.ones((1, self.n), dtype=np.int64))[0]


def _as_slice(positions: np.ndarray):
    """A slice when ``positions`` is a contiguous increasing run (no copy needed), else the array."""
    if positions.size and positions[-1] - positions[0] + 1 == positions.size and np.all(np.diff(positions) == 1):
        return slice(int(positions[0]), int(positions[-1]) + 1)
    return positions


class GroupedBinaryMetrics:
    """The metrics overall and within every group of one or more partitions, from one block of replicates.

    ``partitions`` maps a partition's name to an integer group code per row (``0 .. G-1``); a
    single array is one partition called ``"group"``. Rows are laid out by the finest partition
    (the combination of all codes), then outcome, then score: the cells of the finest partition
    are contiguous column blocks, coarser groups (an attribute's groups when the finest partition
    is their intersection) and the overall cell gather their columns once per block. Stratify the
    bootstrap by outcome x finest cell, and every group of every partition keeps its size and
    event count in every replicate.

    Output columns are cell-major, ``[overall..., partition 1 group 0..., ...]``; ``columns``
    names them ``(partition, group code, metric)``, with ``(None, None, metric)`` for overall.
    """

    def __init__(self, y, p, partitions, threshold: float = 0.5, names=PERFORMANCE_METRICS, overall: bool = True):
        y = np.asarray(y).astype(bool)
        p = np.asarray(p, dtype=np.float64)
        if not isinstance(partitions, dict):
            partitions = {"group": np.asarray(partitions)}
        self.partitions = {k: np.asarray(v) for k, v in partitions.items()}
        self.names = check_names(names)
        self.threshold = float(threshold)
        self.n = int(y.size)
        finest = _finest(list(self.partitions.values()))
        self.layout = np.lexsort((p, y, finest))
        y_l, p_l = y[self.layout], p[self.layout]
        self._cells: list[_Cell] = []
        self._labels: list[tuple[object, object]] = []
        if overall:
            self._add_cell(None, None, np.arange(self.n), y_l, p_l)
        for name, codes in self.partitions.items():
            codes_l = codes[self.layout]
            for g in np.unique(codes):
                self._add_cell(name, g.item() if hasattr(g, "item") else g, np.flatnonzero(codes_l == g), y_l, p_l)

    def _add_cell(self, partition, group, positions: np.ndarray, y_l: np.ndarray, p_l: np.ndarray) -> None:
        order = positions[np.lexsort((p_l[positions], y_l[positions]))]
        n_neg = int((~y_l[order]).sum())
        neg, pos = order[:n_neg], order[n_neg:]
        self._cells.append(_Cell(p_l[neg], p_l[pos], _as_slice(neg), _as_slice(pos), self.threshold))
        self._labels.append((partition, group))

    @property
    def columns(self) -> list[tuple[object, object, str]]:
        return [(part, group, m) for part, group in self._labels for m in self.names]

    def laid_out(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(W)
        out = []
        for cell in self._cells:
            values = cell.evaluate(W, self.names)
            out.extend(values[m] for m in self.names)
        return np.column_stack(out)

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return self.laid_out(np.atleast_2d(np.asarray(W))[:, self.layout])


def _finest(codes: list[np.ndarray]) -> np.ndarray:
    """One integer code per combination of the partitions' codes (the intersection cells)."""
    combined = np.zeros(np.asarray(codes[0]).size, dtype=np.int64)
    for c in codes:  # mixed-radix: the combinations in the lexicographic order of the partitions' codes
        values, inverse = np.unique(c, return_inverse=True)
        combined = combined * values.size + inverse.ravel()
    return np.unique(combined, return_inverse=True)[1].ravel()


def binary_metrics(y, p, threshold: float = 0.5, names: tuple[str, ...] = PERFORMANCE_METRICS) -> dict[str, float]:
    """Point estimates of the named metrics, ``{name: value}``."""
    kernel = BinaryMetrics(y, p, threshold, names)
    return dict(zip(kernel.names, map(float, kernel.point())))
