"""Lowess without robustness iterations as a linear operator: one smoother, many outcome vectors.

With ``it=0``, Cleveland's lowess (J Am Stat Assoc 1979) fits, at each *anchor* ``x_a``, a
weighted straight line to the ``k = floor(frac n)`` nearest points, with tricube weights
``w_j = (1 - (|x_j - x_a| / h_a)^3)^3`` (``h_a`` the distance to the farthest of them):

    fit(x_a) = sum_j P_aj y_j,   P_aj = w_j / W (1 + (x_a - xbar)(x_j - xbar) / S_xx)

with ``W = sum w``, ``xbar`` and ``S_xx`` the weighted mean and sum of squares of ``x``. Points
within ``delta`` of the last anchor are linear interpolations between anchors, and points tied
with an anchor take its fit. Everything except ``y`` is a function of ``x``, so the smooth of
any outcome vector is ``L y`` for one matrix ``L``: :class:`LowessOperator` finds the anchors and
windows once and smooths a whole block of outcome vectors (``(n, S)``) in one pass over the points,
one matrix product per slice of them (``anchor_fits``), instead of one lowess call per vector.

It reproduces statsmodels' ``lowess(y, x, frac, it=0, delta)`` (the same anchors, windows,
weights, tie rule and interpolation; Seabold & Perktold 2010) to rounding: sums are in a
different order, so values agree to about 1e-12, not bit for bit. The calibration check uses
statsmodels for the curve of the observed outcomes and this operator where the same smoother
is applied to many simulated outcome vectors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Cells (anchors x points) of the tricube weights held at once: 4 M cells is 32 MiB.
BLOCK_CELLS = 4 * 2**20


class LowessOperator:
    """The lowess smoother (``it=0``) of the points ``x`` as a linear map of outcome vectors.

    Parameters
    ----------
    x : array of shape (n,)
        The predictor (in the calibration check, the predicted risks).
    frac : float
        The span: the share of points in each local fit (``k = floor(frac n)``, at least 2).
    delta : float
        Points within ``delta`` of the last anchor are interpolated, as in statsmodels.
    """

    def __init__(self, x, frac: float = 0.75, delta: float = 0.0):
        x = np.asarray(x, dtype=float)
        n = x.size
        self.n = n
        self.order = np.argsort(x)  # statsmodels' own sort, so tied points sit in the same order
        xs = x[self.order]
        self.xs = xs
        k = min(max(int(frac * n + 1e-10), 2), n)
        self.k = k
        anchors, left, right, alpha = _anchor_plan(xs, delta)
        self.anchors = anchors
        self.left_anchor, self.right_anchor, self.alpha = left, right, alpha
        # window of each anchor: k points starting at the first l whose midpoint (x_l + x_{l+k}) / 2 >= x_a
        if n > k:
            mids = (xs[: n - k] + xs[k:]) / 2.0
            starts = np.minimum(np.searchsorted(mids, xs[anchors], side="left"), n - k)
        else:
            starts = np.zeros(anchors.size, dtype=np.intp)
        self.starts = starts.astype(np.intp)

    def anchor_fits(self, outcomes: Callable[[slice], np.ndarray], n_outcomes: int) -> np.ndarray:
        """The fits at the anchors, shape ``(anchors, S)``, from one pass over slices of the sorted points
        (``outcomes(slice)`` gives those points' outcome vectors, ``(m, S)``).

        Per anchor ``a`` the pass accumulates, with the tricube weights ``w_aj`` (zero outside the window:
        every point outside it lies at least the radius away), the sums ``W = sum w``, ``sum w x``,
        ``sum w x^2``, ``T = sum w y`` and ``U = sum w x y`` as one matrix product per slice; then
        ``fit = (T + (x_a - xbar) / S_xx (U - xbar T)) / W``. ``x`` is centred at its median first (the
        local line does not depend on the origin; the sums stay well conditioned). Memory stays within
        ``BLOCK_CELLS`` cells of weights and ``(m, S)`` of outcomes at any n.
        """
        xs, k, anchors = self.xs, self.k, self.anchors
        centre = float(np.median(xs))
        xa = xs[anchors]
        radius = np.maximum(xa - xs[self.starts], xs[self.starts + k - 1] - xa)
        with np.errstate(divide="ignore"):
            inverse = np.where(radius > 0, 1.0 / radius, 0.0)[:, None]
        sums = np.zeros((anchors.size, 3 + 2 * n_outcomes))
        positive = np.zeros(anchors.size, dtype=np.int64)
        step = max(1, BLOCK_CELLS // anchors.size)
        for lo in range(0, self.n, step):
            points = slice(lo, min(self.n, lo + step))
            x = xs[points]
            w = np.subtract(x[None, :], xa[:, None])
            np.abs(w, out=w)
            w *= inverse
            d3 = w * w
            d3 *= w
            np.subtract(1.0, d3, out=d3)
            np.maximum(d3, 0.0, out=d3)
            np.multiply(d3, d3, out=w)
            w *= d3  # (1 - d^3)^3, zero beyond the radius
            positive += np.count_nonzero(w > 1e-12, axis=1)
            y = np.asarray(outcomes(points), dtype=float)
            xc = x - centre
            terms = np.concatenate([np.ones((xc.size, 1)), xc[:, None], (xc * xc)[:, None], y, xc[:, None] * y], axis=1)
            sums += w @ terms
        S = n_outcomes
        with np.errstate(divide="ignore", invalid="ignore"):
            total = sums[:, 0]
            xbar = sums[:, 1] / total
            sxx = np.maximum(sums[:, 2] / total - xbar * xbar, 1e-12)
            T, U = sums[:, 3 : 3 + S], sums[:, 3 + S :]
            fits = (T + ((xa - centre - xbar) / sxx)[:, None] * (U - xbar[:, None] * T)) / total[:, None]
        own = np.flatnonzero((positive < 2) | (radius == 0))  # no line: the fit is the anchor's own outcome
        for a in own:
            fits[a] = np.asarray(outcomes(slice(int(anchors[a]), int(anchors[a]) + 1)), dtype=float)[0]
        return fits

    def fitted_at(self, fits: np.ndarray, points: slice) -> np.ndarray:
        """The fits at a slice of the *sorted* points (interpolated between anchors, tied points copied)."""
        a = self.alpha[points, None]
        return a * fits[self.right_anchor[points]] + (1.0 - a) * fits[self.left_anchor[points]]

    def smooth(self, Y) -> np.ndarray:
        """The lowess fits of each column of ``Y`` (shape ``(n, S)``, in the order of ``x``); shape ``(n, S)``."""
        Y = np.asarray(Y, dtype=float)
        if Y.ndim == 1:
            return self.smooth(Y[:, None])[:, 0]
        sorted_y = Y[self.order]
        fits = self.anchor_fits(lambda points: sorted_y[points], Y.shape[1])
        out = np.empty_like(sorted_y)
        out[self.order] = self.fitted_at(fits, slice(0, self.n))
        return out


def _anchor_plan(xs: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Anchors of statsmodels' lowess on sorted ``xs``, and for every point the two anchors (as positions
    in the anchor list) and the weight ``alpha`` of the right one in its fit.

    After a fit at ``i``, the points tied with ``x_i`` copy it; the next anchor is the last point
    within ``delta`` of ``x_i`` (or the next point), and the points in between are interpolated
    linearly in ``x`` between the last tied point and the next anchor.
    """
    n = xs.size
    anchors: list[int] = []
    left = np.empty(n, dtype=np.intp)
    right = np.empty(n, dtype=np.intp)
    alpha = np.zeros(n)
    i, last = 0, -1
    while True:
        position = len(anchors)
        anchors.append(i)
        if last < i - 1:  # points last+1 .. i-1 lie between the previous anchor (through its ties) and this one
            between = slice(last + 1, i)
            left[between] = position - 1
            right[between] = position
            alpha[between] = (xs[between] - xs[last]) / (xs[i] - xs[last])
        tied_end = int(np.searchsorted(xs, xs[i], side="right"))  # i .. tied_end-1 share x_i
        left[i:tied_end] = right[i:tied_end] = position
        last = tied_end - 1
        if last >= n - 1:
            break
        beyond = int(np.searchsorted(xs, xs[i] + delta, side="right"))  # first point beyond x_i + delta
        k = beyond if beyond < n else n - 1  # the loop variable where statsmodels' scan stopped
        i = max(k - 1, last + 1)
    return np.asarray(anchors, dtype=np.intp), left, right, alpha
