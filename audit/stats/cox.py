"""Cox proportional-hazards regression with Efron's ties, vectorised over resamples, and restricted cubic splines.

Used to judge calibration at a horizon (``survival_calibration``) and to fit the Rotterdam example's model.

Partial likelihood with Efron's ties
------------------------------------
Rows are sorted by time once. At each distinct event time ``t_k`` the tied events ``D_k`` share the risk set
``R_k = {j : T_j >= t_k}`` (a row censored at ``t_k`` is still at risk). With resample counts ``c_j`` (a row
counted ``c_j`` times), ``r_j = c_j exp(x_j' b)``, ``S0 = sum_{R_k} r_j``, ``S0D = sum_{D_k} r_j``, ``d_k =
sum_{D_k} c_j`` tied events and ``a_l = l / d_k`` (Efron, JASA 1977; Therneau & Grambsch, *Modeling Survival
Data*, 2000, sec. 3.3)::

    log L(b) = sum_k [ sum_{D_k} c_i x_i' b - sum_{l=0}^{d_k - 1} log(S0 - a_l S0D) ]
    U(b)     = sum_k [ sum_{D_k} c_i x_i   - sum_l (S1 - a_l S1D) / (S0 - a_l S0D) ]
    I(b)     = sum_k sum_l [ (S2 - a_l S2D) / (S0 - a_l S0D) - m_l m_l' ],  m_l = (S1 - a_l S1D) / (S0 - a_l S0D)

with ``S1, S2`` (``S1D, S2D``) the sums of ``r_j x_j`` and ``r_j x_j x_j'`` over ``R_k`` (``D_k``). So a row
with an integer count ``c`` is exactly ``c`` identical copies, ties between copies included: each row of
counts gives the unweighted Efron fit of the expanded data set. Newton–Raphson with step-halving maximises
``log L`` for every row of counts at once (:func:`cox_fit`); the Wald covariance is ``I(b)^-1`` at the
maximum (as R ``coxph`` and statsmodels ``PHReg`` report).

Non-integer weights follow R ``coxph`` (``coxfit6.c``) instead: ``d_k`` is the number of tied event rows of
positive weight, ``a_l = l / d_k``, and each of the ``d_k`` terms is multiplied by the tied rows' mean weight
``sum_{D_k} c_i / d_k``. The choice is made per row of counts (integer counts are copies).

Computation. ``sum_k sum_l w (S2 - a_l S2D) / den_l`` is ``sum_j v_j x_j x_j'`` with ``v_j = r_j (A_j - [j in
D_k] G_k)``, ``A_j`` the cumulated ``sum_l w / den_l`` over the event times at which ``j`` is at risk and ``G_k =
sum_l w a_l / den_l``; the same ``v`` gives the score, and the ``m_l m_l'`` part needs only ``S1, S1D`` and
three sums over ``l`` per event time. Risk-set and tied sums are differences of one cumulative sum over the
rows in decreasing time order; Efron's terms beyond the first (ties only) are laid out flat, so heavy ties cost
their number, not ``B K max d``. Memory is ``O(B n p + n p^2 + B p^2)``, never ``B n p^2``. Covariates are
centred and scaled internally (which changes neither the coefficients, reported on the original scale, nor the
likelihood).

Baseline cumulative hazard
--------------------------
The Efron-adjusted (Breslow–Efron) estimator at ``lp = 0`` (R ``survival::basehaz(fit, centered = FALSE)``,
i.e. ``survfit.coxph`` with ``ties = "efron"``), with ``r_j = c_j exp(lp_j)``::

    H0(t) = sum_{t_k <= t} sum_{l=0}^{d_k - 1} 1 / (S0 - a_l S0D)

(non-integer weights: R's ``agsurv``, each term times the tied rows' mean weight, ``d_k`` tied rows).
Without ties it is Breslow's estimator ``sum_{t_k <= t} d_k / S0``, which statsmodels' ``PHReg`` reports
(statsmodels' table is left-continuous: its value at ``t_k`` excludes the jump at ``t_k``).

Restricted cubic splines
------------------------
Harrell, *Regression Modeling Strategies*, 2nd ed. (2015), sec. 2.4.5, eq. 2.25 (Stone & Koo 1985; Devlin &
Weeks 1986); Hmisc ``rcspline.eval(x, knots, inclx = FALSE, norm = 2)``: for knots ``t_1 < ... < t_k`` the
nonlinear terms ``j = 1 .. k - 2`` are::

    [(x - t_j)_+^3 - (x - t_{k-1})_+^3 (t_k - t_j) / (t_k - t_{k-1})
                   + (x - t_k)_+^3 (t_{k-1} - t_j) / (t_k - t_{k-1})] / (t_k - t_1)^2

linear beyond the outer knots; the full design is ``[x, rcs_basis(x, knots)]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .survival import check_survival_data

#: Hmisc's default knot quantiles: ``seq(outer, 1 - outer, length = k)`` with ``outer`` 0.10 for 3 knots,
#: 0.05 for 4 to 6 and 0.025 for 7 (Harrell 2015, table 2.3 rounds them).
KNOT_QUANTILES = {k: tuple(np.linspace(0.10 if k == 3 else 0.05 if k <= 6 else 0.025,
                                       0.90 if k == 3 else 0.95 if k <= 6 else 0.975, k)) for k in range(3, 8)}


def rcs_knots(x, n_knots: int = 3) -> np.ndarray:
    """Hmisc's default knots for a restricted cubic spline of ``x``.

    Parameters
    ----------
    x : array of shape (n,)
        Values (nan dropped, as Hmisc drops NA).
    n_knots : int
        3 to 7.

    Returns
    -------
    ndarray of shape (n_knots,)
        The quantiles :data:`KNOT_QUANTILES` ``[n_knots]`` of ``x`` (type 7, numpy's default; Hyndman & Fan,
        Am Stat 1996); with fewer than 100 values the outer knots are the 5th smallest and the 5th largest
        value (Hmisc ``rcspline.eval``).

    Raises
    ------
    ValueError
        ``n_knots`` outside 3..7, fewer than 6 values, infinite values, or knots that are not strictly
        increasing (too few distinct values). Hmisc's fallbacks for such data (knots at the interior unique
        values, or at the second smallest/largest value when an extreme value holds at least 5% of the data,
        argument ``fractied``) are not reproduced: the caller decides what to do instead.
    """
    if n_knots not in KNOT_QUANTILES:
        raise ValueError(f"n_knots must be 3 to 7, not {n_knots}")
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = np.sort(x[~np.isnan(x)])
    if not np.all(np.isfinite(x)):
        raise ValueError("spline knots need finite values")
    if x.size < 6:
        raise ValueError(f"spline knots need at least 6 values, not {x.size}")
    knots = np.quantile(x, KNOT_QUANTILES[n_knots])
    if x.size < 100:
        knots[0], knots[-1] = x[4], x[-5]
    if np.any(np.diff(knots) <= 0):
        raise ValueError(f"the {n_knots} spline knots are not distinct (too few distinct values): {knots.tolist()}")
    return knots


def rcs_basis(x, knots) -> np.ndarray:
    """The nonlinear terms of a restricted cubic spline (module docstring; Harrell 2015, eq. 2.25).

    Parameters
    ----------
    x : array of shape (n,)
        Values to evaluate at.
    knots : array of shape (k,)
        Strictly increasing knots, ``k >= 3`` (e.g. from :func:`rcs_knots`).

    Returns
    -------
    ndarray of shape (n, k - 2)
        Hmisc ``rcspline.eval(x, knots, inclx = FALSE, norm = 2)``; the full design is ``[x, rcs_basis(x, knots)]``.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    t = np.asarray(knots, dtype=np.float64).reshape(-1)
    if t.size < 3:
        raise ValueError("a restricted cubic spline needs at least 3 knots")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError("spline knots must be finite and strictly increasing")
    last, before = t[-1], t[-2]
    pos3 = lambda u: np.maximum(u, 0.0) ** 3  # noqa: E731
    tail_last, tail_before = pos3(x - last), pos3(x - before)
    cols = [(pos3(x - tj) - tail_before * (last - tj) / (last - before) + tail_last * (before - tj) / (last - before))
            for tj in t[:-2]]
    return np.column_stack(cols) / (last - t[0]) ** 2


@dataclass(frozen=True)
class CoxFit:
    """One Cox fit per row of counts.

    Attributes
    ----------
    beta : ndarray of shape (B, p)
        Coefficients (log hazard ratios).
    cov : ndarray of shape (B, p, p)
        Wald covariance: the inverse observed information at ``beta``.
    loglik : ndarray of shape (B,)
        Log partial likelihood (Efron) at ``beta``.
    converged : ndarray of shape (B,), bool
        False where no fit exists (no events, singular information, no convergence within ``max_iter``);
        those rows are nan in ``beta``, ``cov`` and ``loglik``.
    """

    beta: np.ndarray
    cov: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray


class _Risksets:
    """Rows in decreasing time order, events before censorings at a tied time, so that a risk set is a prefix and
    the tied events of a time are contiguous: both are differences of one forward cumulative sum. Also the
    distinct event times (decreasing) and their tied events. Computed once for a data set."""

    def __init__(self, time, event):
        time, event = check_survival_data(time, event)
        self.order = np.lexsort((1 - event, -time))
        t, e = time[self.order], event[self.order].astype(bool)
        self.n = t.size
        self.event_rows = np.flatnonzero(e)  # positions of the events in the sorted rows
        te = t[self.event_rows]
        new = np.r_[True, te[1:] != te[:-1]] if te.size else np.zeros(0, dtype=bool)
        self.group_starts = np.flatnonzero(new)  # positions in event_rows where a new event time begins
        self.group = np.cumsum(new) - 1  # each event row's event time
        self.event_times = te[self.group_starts]  # decreasing
        self.K = self.event_times.size
        self.tied_first = self.event_rows[self.group_starts]  # the sorted rows of the tied events: [first, last]
        self.tied_last = self.event_rows[np.r_[self.group_starts[1:], te.size] - 1] if te.size else self.group_starts
        self.last = self.n - 1 - np.searchsorted(t[::-1], self.event_times, side="left")  # last row at risk at t_k
        # the first event time (in decreasing order) at or before each row's time: the row is at risk from there on
        self.first_at_risk = np.searchsorted(-self.event_times, -t, side="left")
        self._work: dict[str, np.ndarray] = {}

    def buffer(self, name: str, shape: tuple) -> np.ndarray:
        """A work array reused across Newton iterations (fresh large arrays cost a page fault per 4 kB)."""
        buf = self._work.get(name)
        if buf is None or buf.shape != shape:
            buf = self._work[name] = np.empty(shape)
        return buf

    def sums(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Risk-set sums ``sum_{T_j >= t_k} A[:, j]`` and tied-event sums ``sum_{D_k} A[:, j]`` (along axis 1) for
        each event time, ``(B, K)`` each, from one cumulative sum."""
        cs = self.buffer("cumsum", (A.shape[0], self.n + 1))
        cs[:, 0] = 0.0
        np.cumsum(A, axis=1, out=cs[:, 1:])
        return cs[:, self.last + 1], cs[:, self.tied_last + 1] - cs[:, self.tied_first]

    def cumulate(self, alpha: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``A_j = sum_{k : t_k <= T_j} alpha_k``, the sum over the event times at which row ``j`` is at risk:
        ``(B, K) -> (B, n)``, written into ``out``."""
        tail = np.zeros((alpha.shape[0], self.K + 1))
        tail[:, :-1] = np.cumsum(alpha[:, ::-1], axis=1)[:, ::-1]
        return np.take(tail, self.first_at_risk, axis=1, out=out)


def _counts(counts, n: int) -> np.ndarray:
    C = np.ones((1, n)) if counts is None else np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if C.ndim != 2 or C.shape[1] != n:
        raise ValueError(f"counts must have shape (B, {n}); got {C.shape}")
    if not np.all(np.isfinite(C)) or np.any(C < 0):
        raise ValueError("counts must be finite and non-negative")
    return C


def _ties(rs: _Risksets, C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of counts and event time: the number of Efron terms ``m``, each term's weight ``w`` and the weighted
    events ``d``.

    Integer rows: ``m = d`` copies, ``w = 1``. Other rows (R's convention): ``m`` tied rows of positive weight,
    ``w = d / m``.
    """
    d = rs.sums(C)[1]
    integral = np.all(C == np.rint(C), axis=1)[:, None]
    rows = rs.sums((C > 0).astype(np.float64))[1]
    m = np.where(integral, np.rint(d), rows)
    w = np.where(integral, 1.0, d / np.where(rows > 0, rows, 1.0))
    return m, w, d


class _Terms:
    """Efron's terms ``l = 0 .. m - 1`` of every (row of counts, event time) cell.

    The first terms (``l = 0``, ``den = S0``) are dense ``(B, K)`` arrays; the others (ties only) are laid out
    flat, ``sum max(m - 1, 0)`` of them, so heavy ties cost no more than their number. The layout depends only
    on the counts and is built once per set of rows.
    """

    def __init__(self, m: np.ndarray, w: np.ndarray):
        self.shape, self.size = m.shape, m.size
        self.w0 = np.where(m >= 1, w, 0.0)
        extra = np.maximum(np.rint(m).astype(np.int64).ravel() - 1, 0)
        self.cells = np.repeat(np.arange(self.size), extra)
        first = np.cumsum(extra) - extra
        mc = extra[self.cells] + 1
        self.a = (np.arange(self.cells.size) - first[self.cells] + 1) / np.maximum(mc, 1)  # l / m, l >= 1
        self.w = np.ascontiguousarray(np.broadcast_to(w, self.shape)).ravel()[self.cells]

    def sums(self, S0: np.ndarray, S0D: np.ndarray, full: bool):
        """Sums over the terms with ``den_l = S0 - a_l S0D``, ``a_l = l / m``.

        Returns ``(logsum, bad)`` and, when ``full``, ``(alpha, gamma, u0, u1, u2)``: ``sum_l w log den_l``,
        whether a denominator was not positive and finite, ``sum_l w / den_l``, ``sum_l w a_l / den_l`` and
        ``sum_l w a_l^q / den_l^2`` for ``q = 0, 1, 2``; all of shape ``(B, K)``.
        """
        live = self.w0 != 0
        ok0 = (S0 > 0) & np.isfinite(S0)
        bad = live & ~ok0
        den0 = np.where(ok0, S0, 1.0)
        w0 = np.where(ok0, self.w0, 0.0)
        logsum = w0 * np.log(den0)
        if full:
            alpha = w0 / den0
            u0 = alpha / den0
            gamma, u1, u2 = np.zeros(self.shape), np.zeros(self.shape), np.zeros(self.shape)
        if self.cells.size:
            a, cells = self.a, self.cells
            den = S0.ravel()[cells] - a * S0D.ravel()[cells]
            ok = (den > 0) & np.isfinite(den)
            ww = self.w
            if not ok.all():
                bad |= (np.bincount(cells[~ok], minlength=self.size) > 0).reshape(self.shape)
                den, ww = np.where(ok, den, 1.0), np.where(ok, ww, 0.0)
            total = lambda values: np.bincount(cells, values, minlength=self.size).reshape(self.shape)  # noqa: E731
            logsum += total(ww * np.log(den))
            if full:
                inv = ww / den
                inv2 = inv / den
                a_inv2 = a * inv2
                alpha += total(inv)
                gamma += total(a * inv)
                u0 += total(inv2)
                u1 += total(a_inv2)
                u2 += total(a * a_inv2)
        return (logsum, bad, alpha, gamma, u0, u1, u2) if full else (logsum, bad)


class _Problem:
    """The sorted, centred and scaled data of one fit, and the Efron likelihood of chosen rows of counts."""

    def __init__(self, rs: _Risksets, X: np.ndarray, C: np.ndarray):
        self.rs = rs
        self.X = X  # (n, p), sorted, centred, scaled
        self.XE = np.ascontiguousarray(X[rs.event_rows])  # the events' covariates
        self.XX = (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)  # (n, p * p)
        self.C = C  # (B, n), sorted
        self.CE = np.ascontiguousarray(C[:, rs.event_rows])  # the events' counts
        self.m, self.w, self.d = _ties(rs, C)
        self._cache: dict[bytes, tuple] = {}

    def _rows(self, rows: np.ndarray):
        """Counts, event counts and Efron's terms of the chosen rows (cached for the last few choices)."""
        key = rows.tobytes()
        if key not in self._cache:
            every = rows.size == self.C.shape[0]
            sel = (lambda A: A) if every else (lambda A: A[rows])  # noqa: E731 - all rows: no copies
            if len(self._cache) >= 4:
                self._cache.clear()
            self._cache[key] = (sel(self.C), sel(self.CE), _Terms(sel(self.m), sel(self.w)))
        return self._cache[key]

    def evaluate(self, rows: np.ndarray, beta: np.ndarray, full: bool = True):
        """Log partial likelihood and, when ``full``, score ``(b, p)`` and information ``(b, p, p)`` at ``beta``
        ``(b, p)`` for the rows ``rows`` (increasing) of counts."""
        rs, X = self.rs, self.X
        C, CE, terms = self._rows(rows)
        p = X.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):
            eta = np.matmul(beta, X.T, out=rs.buffer("eta", C.shape))
            loglik = np.einsum("be,be->b", CE, eta[:, rs.event_rows])
            r = np.exp(eta, out=eta)
            r *= C
            S0, S0D = rs.sums(r)
            out = terms.sums(S0, S0D, full)
            logsum, bad = out[0], out[1]
            loglik -= logsum.sum(axis=1)
            loglik = np.where(bad.any(axis=1) | ~np.isfinite(loglik), np.nan, loglik)
            if not full:
                return loglik, None, None
            alpha, gamma, u0, u1, u2 = out[2:]
            v = rs.cumulate(alpha, out=rs.buffer("v", C.shape))
            v *= r
            ev = rs.event_rows
            v[:, ev] -= r[:, ev] * gamma[:, rs.group]
            score = CE @ self.XE - v @ X
            info = (v @ self.XX).reshape(-1, p, p)
            S1 = np.empty(S0.shape + (p,))
            S1D = np.empty(S0.shape + (p,))
            rx = rs.buffer("rx", C.shape)
            for j in range(p):
                S1[:, :, j], S1D[:, :, j] = rs.sums(np.multiply(r, X[:, j], out=rx))
            cross = np.matmul((u1[:, :, None] * S1).transpose(0, 2, 1), S1D)
            info -= np.matmul((u0[:, :, None] * S1).transpose(0, 2, 1), S1)
            info += cross + cross.transpose(0, 2, 1)
            info -= np.matmul((u2[:, :, None] * S1D).transpose(0, 2, 1), S1D)
        return loglik, score, 0.5 * (info + info.transpose(0, 2, 1))


def _usable(info: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Rows whose information (on the standardised covariates) is positive definite and well enough conditioned to
    invert: smallest eigenvalue above ``1e-10`` times the largest and times the number of events (the information's
    scale: each event adds a risk-set covariance matrix). A diverging coefficient drives it below."""
    good = np.isfinite(info).all(axis=(1, 2))
    eig = np.linalg.eigvalsh(np.where(good[:, None, None], info, 0.0))
    return good & (eig[:, 0] > 1e-10 * np.maximum(eig[:, -1], events))


def cox_fit(X, time, event, counts=None, max_iter: int = 50, tol: float = 1e-9) -> CoxFit:
    """Fit a Cox model with Efron's ties to every row of resample ``counts`` at once (module docstring).

    Parameters
    ----------
    X : array of shape (n, p) or (n,)
        Covariates (no intercept: a constant column is not identifiable and makes every fit nan).
    time, event : array of shape (n,)
        Follow-up times (> 0) and event indicators (1 event, 0 censored).
    counts : array of shape (B, n), optional
        Non-negative resample counts (a row counted ``c`` times) or weights; default every row once (B = 1).
        Callers bound memory by passing blocks of rows.
    max_iter : int
        Newton–Raphson iterations.
    tol : float
        Convergence when a full Newton step (no halving) changes the log partial likelihood by at most
        ``tol |log L|`` (R ``coxph.control(eps)``) and moves no standardised coefficient by more than
        ``sqrt(tol) (1 + max |b|)``; the information and the likelihood are those at the new estimate.

    Returns
    -------
    CoxFit
        ``beta (B, p)``, ``cov (B, p, p)``, ``loglik (B,)`` and ``converged (B,)``. A row without events, whose
        information is singular (e.g. a covariate constant within the resample), or that did not converge
        gives nan (``converged`` False), never an exception. So does a coefficient that diverges (monotone
        likelihood, e.g. a group without events: the maximum likelihood estimate does not exist), where R
        ``coxph`` warns "coefficient may be infinite" and statsmodels returns a large value with a huge variance.

    Notes
    -----
    Newton–Raphson: ``b <- b + s I(b)^-1 U(b)`` with ``s`` halved (at most 30 times) until the likelihood does
    not decrease (R ``coxph``), all rows at once; rows stop as they converge. Each row with integer counts equals
    the unweighted Efron fit of its expanded data set (statsmodels ``PHReg(ties="efron")``, R ``coxph``).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    rs = _Risksets(time, event)
    if X.ndim != 2 or X.shape[0] != rs.n:
        raise ValueError(f"X must have shape ({rs.n}, p); got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("covariates must be finite")
    C = _counts(counts, rs.n)[:, rs.order]
    B, p = C.shape[0], X.shape[1]
    beta_out = np.full((B, p), np.nan)
    cov_out = np.full((B, p, p), np.nan)
    ll_out = np.full(B, np.nan)
    conv = np.zeros(B, dtype=bool)
    if rs.K == 0 or p == 0:
        return CoxFit(beta_out, cov_out, ll_out, conv)

    Xs = X[rs.order]
    centre = Xs.mean(axis=0)
    spread = Xs.std(axis=0)
    constant = np.ptp(Xs, axis=0) == 0
    scale = np.where(constant | (spread == 0), 1.0, spread)
    Xc = np.where(constant, 0.0, (Xs - centre) / scale)  # a constant column gives a singular information: nan
    prob = _Problem(rs, Xc, C)

    beta = np.zeros((B, p))
    loglik, score, info = prob.evaluate(np.arange(B), beta)
    events = prob.d.sum(axis=1)
    done = ~(events > 0)  # no events in the resample: nothing to fit
    for _ in range(max_iter):
        done |= ~(_usable(info, events) & np.isfinite(loglik))
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        step = np.linalg.solve(info[rows], score[rows][:, :, None])[:, :, 0]
        ll0 = loglik[rows]
        floor = ll0 - 1e-13 * np.abs(ll0)  # a step may not lower the likelihood (beyond rounding)
        s = np.ones(rows.size)
        trial = beta[rows] + step
        ll_t, score_t, info_t = prob.evaluate(rows, trial)
        pending = ~(ll_t >= floor)  # nan (overflow) counts as lower
        for _half in range(30):
            if not pending.any():
                break
            k = np.flatnonzero(pending)
            s[k] /= 2
            trial[k] = beta[rows[k]] + s[k, None] * step[k]
            ll_t[k], score_t[k], info_t[k] = prob.evaluate(rows[k], trial[k])
            pending[k] = ~(ll_t[k] >= floor[k])
        moved = ~pending
        mr = rows[moved]
        beta[mr], loglik[mr], score[mr], info[mr] = trial[moved], ll_t[moved], score_t[moved], info_t[moved]
        # R coxph's criterion (a full step that changes log L by at most tol |log L|), and a step that is itself
        # small: a diverging coefficient (monotone likelihood) keeps taking steps of order one and never converges
        small = (moved & (np.abs(ll_t - ll0) <= tol * np.abs(ll_t)) & (s == 1.0)
                 & (np.abs(step).max(axis=1) <= np.sqrt(tol) * (1.0 + np.abs(trial).max(axis=1))))
        conv[rows[small]] = done[rows[small]] = True
        # still lower after 30 halvings: at a maximum to rounding error if the remaining Newton step is negligible
        stuck = rows[pending]
        decrement = np.einsum("bp,bp->b", score[stuck], step[pending])
        conv[stuck[decrement <= 1e-8]] = True
        done[stuck] = True

    ok = conv & _usable(info, events) & np.isfinite(loglik)
    if ok.any():
        cov = np.linalg.inv(info[ok]) / (scale[:, None] * scale[None, :])
        beta_out[ok] = beta[ok] / scale
        cov_out[ok] = 0.5 * (cov + cov.transpose(0, 2, 1))
        ll_out[ok] = loglik[ok]  # centring and scaling leave the likelihood unchanged
    return CoxFit(beta_out, cov_out, ll_out, ok)


def baseline_cumhaz(time, event, lp, at, counts=None) -> np.ndarray:
    """The Efron-adjusted baseline cumulative hazard at ``lp = 0`` (module docstring) at the times ``at``.

    Parameters
    ----------
    time, event : array of shape (n,)
        Follow-up times (> 0) and event indicators.
    lp : array of shape (n,) or (B, n)
        Each row's linear predictor ``x' b`` (uncentred), one row per row of ``counts`` or shared by all.
    at : float or array of shape (m,)
        Times to read the right-continuous step function at (events at exactly ``at`` included; 0 before the
        first event time; nan at a nan time).
    counts : array of shape (B, n), optional
        Resample counts (a row counted ``c`` times) or weights, as in :func:`cox_fit`.

    Returns
    -------
    ndarray of shape (m,) when ``counts`` is None and ``lp`` is 1-d, else (B, m)
        ``H0(t) = sum_{t_k <= t} sum_{l=0}^{d_k - 1} 1 / (S0 - (l / d_k) S0D)`` with ``r_j = c_j exp(lp_j)``
        (R ``basehaz(fit, centered = FALSE)`` for ``coxph(ties = "efron")``); nan where a denominator is not
        positive (e.g. overflow of ``exp(lp)``).
    """
    rs = _Risksets(time, event)
    C = _counts(counts, rs.n)
    L = np.asarray(lp, dtype=np.float64)
    if L.ndim not in (1, 2) or L.shape[-1] != rs.n:
        raise ValueError(f"lp must have shape ({rs.n},) or (B, {rs.n}); got {L.shape}")
    L = np.atleast_2d(L)
    if L.shape[0] != C.shape[0] and 1 not in (L.shape[0], C.shape[0]):
        raise ValueError(f"lp has {L.shape[0]} rows for {C.shape[0]} rows of counts")
    C, L = C[:, rs.order], L[:, rs.order]
    at = np.atleast_1d(np.asarray(at, dtype=np.float64)).reshape(-1)
    B = max(C.shape[0], L.shape[0])
    if rs.K == 0:
        out = np.where(np.isnan(at), np.nan, np.zeros((B, at.size)))
    else:
        m, w, _ = _ties(rs, C)
        with np.errstate(over="ignore", invalid="ignore"):
            r = C * np.exp(L)
            S0, S0D = rs.sums(r)
        m, w = np.broadcast_to(m, S0.shape), np.broadcast_to(w, S0.shape)
        _, bad, alpha, *_ = _Terms(m, w).sums(S0, S0D, full=True)
        H = np.cumsum(np.where(bad, np.nan, alpha)[:, ::-1], axis=1)  # increasing event times
        k = np.searchsorted(rs.event_times[::-1], at, side="right") - 1
        out = np.where(k >= 0, H[:, np.maximum(k, 0)], 0.0)
        out = np.where(np.isnan(at), np.nan, out)
    return out[0] if counts is None and np.ndim(lp) == 1 else out
