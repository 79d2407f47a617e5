"""Cox proportional-hazards regression with Efron's ties, vectorised over resamples, and restricted cubic splines.

Used to judge calibration at a horizon (``survival_calibration``) and to fit the Rotterdam example's model.

Partial likelihood (Efron, JASA 1977). Rows are sorted by time; at each distinct event time ``t_k`` the
tied events ``D_k`` (``d_k`` of them, counting a row with resample count ``c`` as ``c`` copies) share the
risk set ``R_k = {T >= t_k}``. With ``r_j = c_j exp(x_j' b)``, ``S0 = sum_{R_k} r_j``, ``S0D = sum_{D_k} r_j``
and ``a_l = l / d_k``::

    log L(b) = sum_k [ sum_{D_k} c_i x_i' b - sum_{l=0}^{d_k - 1} log(S0 - a_l S0D) ]

Its score and information use ``S1, S2`` (the sums of ``r_j x_j`` and ``r_j x_j x_j'``) the same way.
Newton–Raphson with step-halving maximises it for every row of counts at once (``cox_fit``); the Wald
covariance is the inverse information at the maximum (as R ``coxph`` and statsmodels ``PHReg`` report).
With real (non-integer) weights the tied set is weighted as R does: ``m_k`` tied rows, ``a_l = l / m_k``,
and the log terms multiplied by the tied rows' mean weight.

The Efron-adjusted baseline cumulative hazard (R ``survival::basehaz(centered = FALSE)``;
``survfit.coxph`` with ``ties = "efron"``) at ``lp = 0`` is ``H0(t) = sum_{t_k <= t} sum_{l} 1 / (S0 -
a_l S0D)`` with ``r_j = c_j exp(lp_j)`` (``baseline_cumhaz``); statsmodels' ``baseline_cumulative_hazard``
is Breslow's (the same without ties).

Restricted cubic splines (Harrell, *Regression Modeling Strategies*, 2nd ed., sec. 2.4.5; Hmisc
``rcspline.eval(norm = 2)``): for knots ``t_1 < ... < t_k`` the nonlinear terms ``j = 1 .. k - 2`` are
``[(x - t_j)_+^3 - (x - t_{k-1})_+^3 (t_k - t_j) / (t_k - t_{k-1}) + (x - t_k)_+^3 (t_{k-1} - t_j) /
(t_k - t_{k-1})] / (t_k - t_1)^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Hmisc's default knot quantiles for 3 to 7 knots.
KNOT_QUANTILES = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.50, 0.6583, 0.8167, 0.975),
}


def rcs_knots(x, n_knots: int = 3) -> np.ndarray:
    """Hmisc's default knots: quantiles ``KNOT_QUANTILES[n_knots]`` of ``x`` (type 7); with fewer than 100 values
    the outer knots are the 5th smallest and 5th largest value. ``ValueError`` when the knots are not distinct."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    if n_knots not in KNOT_QUANTILES:
        raise ValueError(f"n_knots must be 3 to 7, not {n_knots}")
    knots = np.quantile(x, KNOT_QUANTILES[n_knots])
    if x.size < 100 and x.size >= 10:
        knots[0], knots[-1] = x[4], x[-5]
    if np.any(np.diff(knots) <= 0):
        raise ValueError("the spline knots are not distinct (too few distinct values)")
    return knots


def rcs_basis(x, knots) -> np.ndarray:
    """The nonlinear terms of a restricted cubic spline of ``x`` (Hmisc ``rcspline.eval(inclx=FALSE, norm=2)``),
    shape ``(n, k - 2)``; the full design is ``[x, rcs_basis(x, knots)]``."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(knots, dtype=np.float64)
    k = t.size
    if k < 3:
        raise ValueError("a restricted cubic spline needs at least 3 knots")
    cube = lambda u: np.maximum(u, 0.0) ** 3  # noqa: E731
    last, before = t[-1], t[-2]
    cols = [(cube(x - t[j]) - cube(x - before) * (last - t[j]) / (last - before)
             + cube(x - last) * (before - t[j]) / (last - before)) / (last - t[0]) ** 2 for j in range(k - 2)]
    return np.column_stack(cols)


@dataclass(frozen=True)
class CoxFit:
    """Coefficients ``beta`` (B, p), Wald covariance ``cov`` (B, p, p), log partial likelihood ``loglik`` (B,) and
    ``converged`` (B,) of one Cox fit per row of counts (nan where a fit is impossible)."""

    beta: np.ndarray
    cov: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray


class _Risksets:
    """Time order, distinct event times, and the tied events of each, computed once for a data set."""

    def __init__(self, time, event):
        time = np.asarray(time, dtype=np.float64)
        event = np.asarray(event).astype(bool)
        self.order = np.argsort(time, kind="stable")
        t, e = time[self.order], event[self.order]
        self.n = t.size
        first = np.searchsorted(t, t, side="left")  # the first sorted row at each row's time
        self.event_rows = np.flatnonzero(e)
        event_times, self.group_of_event = np.unique(t[self.event_rows], return_inverse=True)
        self.event_times = event_times
        self.starts = first[self.event_rows][np.r_[0, np.flatnonzero(np.diff(self.group_of_event)) + 1]]
        self.group_starts = np.r_[0, np.flatnonzero(np.diff(self.group_of_event)) + 1]

    def suffix_at_starts(self, A: np.ndarray) -> np.ndarray:
        """``sum_{j >= start_k} A[:, j, ...]`` for each distinct event time (risk-set sums), along axis 1."""
        rev = np.cumsum(A[:, ::-1], axis=1)[:, ::-1]
        return rev[:, self.starts]

    def tied(self, A: np.ndarray) -> np.ndarray:
        """Sums over each distinct event time's tied events, along axis 1."""
        return np.add.reduceat(A[:, self.event_rows], self.group_starts, axis=1)


def _counts(counts, n: int) -> np.ndarray:
    C = np.ones((1, n)) if counts is None else np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if C.shape[1] != n:
        raise ValueError(f"counts have {C.shape[1]} columns for {n} rows")
    return C


def _ties(rs: _Risksets, C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per replicate and event time: the number of Efron terms ``m``, the terms' weight ``wbar``, and the tied weight ``d``."""
    d = rs.tied(C)
    integral = bool(np.all(C == np.round(C)))
    if integral:
        m = np.round(d)
        wbar = np.ones_like(d)
    else:
        rows = rs.tied((C > 0).astype(np.float64))
        m = rows
        wbar = np.where(rows > 0, d / np.where(rows > 0, rows, 1.0), 0.0)
    return m, wbar, d


def _efron(rs: _Risksets, X: np.ndarray, C: np.ndarray, beta: np.ndarray, m, wbar, need: int = 2):
    """Log partial likelihood, score and information at ``beta`` (B, p) for counts ``C`` (B, n) in time order."""
    eta = beta @ X.T  # (B, n)
    r = C * np.exp(eta)
    loglik = rs.tied(C * eta).sum(axis=1)
    S0, S0D = rs.suffix_at_starts(r), rs.tied(r)
    score = info = None
    if need >= 1:
        rx = r[:, :, None] * X[None, :, :]
        S1, S1D = rs.suffix_at_starts(rx), rs.tied(rx)
        score = rs.tied(C[:, :, None] * X[None, :, :]).sum(axis=1)
    if need >= 2:
        rxx = rx[:, :, :, None] * X[None, :, None, :]
        S2, S2D = rs.suffix_at_starts(rxx), rs.tied(rxx)
        info = np.zeros((beta.shape[0], X.shape[1], X.shape[1]))
    top = int(m.max()) if m.size else 0
    for l in range(top):
        live = l < m
        a = np.where(live, l / np.where(m > 0, m, 1.0), 0.0)
        den = S0 - a * S0D
        ok = live & (den > 0)
        safe = np.where(ok, den, 1.0)
        w = np.where(ok, wbar, 0.0)
        loglik -= (w * np.log(safe)).sum(axis=1)
        if need >= 1:
            mean1 = (S1 - a[:, :, None] * S1D) / safe[:, :, None]
            score -= (w[:, :, None] * mean1).sum(axis=1)
        if need >= 2:
            mean2 = (S2 - a[:, :, None, None] * S2D) / safe[:, :, None, None]
            info += (w[:, :, None, None] * (mean2 - mean1[:, :, :, None] * mean1[:, :, None, :])).sum(axis=1)
    return loglik, score, info


def cox_fit(X, time, event, counts=None, max_iter: int = 50, tol: float = 1e-9) -> CoxFit:
    """Fit a Cox model with Efron's ties to every row of resample ``counts`` at once.

    Parameters
    ----------
    X : array of shape (n, p)
        Covariates.
    time, event : array of shape (n,)
        Follow-up times and event indicators.
    counts : array of shape (B, n), optional
        Resample counts (a row counted ``c`` times); default every row once (B = 1).

    Returns
    -------
    CoxFit
        One fit per row of counts; a row without events, or whose information is singular, or that did not
        converge, gives nan.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    rs = _Risksets(time, event)
    Xs = X[rs.order]
    centre = Xs.mean(axis=0)
    Xc = Xs - centre  # centring changes no coefficient, only the stability of exp()
    C = _counts(counts, rs.n)[:, rs.order]
    B, p = C.shape[0], X.shape[1]
    m, wbar, d = _ties(rs, C)
    beta = np.zeros((B, p))
    loglik, score, info = _efron(rs, Xc, C, beta, m, wbar)
    converged = np.zeros(B, dtype=bool)
    has_events = d.sum(axis=1) > 0
    for _ in range(max_iter):
        usable = _invertible(info)
        safe_info = np.where(usable[:, None, None], info, np.eye(p)[None])
        step = np.linalg.solve(safe_info, score[:, :, None])[:, :, 0]
        step = np.where((usable & ~converged)[:, None], step, 0.0)
        scale = np.ones(B)
        for _half in range(30):
            trial = beta + scale[:, None] * step
            new_loglik, _, _ = _efron(rs, Xc, C, trial, m, wbar, need=0)
            worse = ~(new_loglik >= loglik - 1e-12 * np.abs(loglik)) & (step != 0).any(axis=1)
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        beta = beta + scale[:, None] * step
        change = np.abs(new_loglik - loglik)
        loglik, score, info = _efron(rs, Xc, C, beta, m, wbar)
        moved = np.abs(scale[:, None] * step).max(axis=1)
        converged |= usable & ((change <= tol * (np.abs(loglik) + 1.0)) | (moved <= 1e-10))
        if converged.all():
            break
    usable = _invertible(info)
    cov = np.full((B, p, p), np.nan)
    if usable.any():
        cov[usable] = np.linalg.inv(info[usable])
    bad = ~(usable & converged & has_events)
    beta = np.where(bad[:, None], np.nan, beta)
    cov[bad] = np.nan
    loglik = np.where(bad, np.nan, loglik)  # centring shifts each event's two terms equally: the same likelihood
    return CoxFit(beta, cov, loglik, ~bad)


def _invertible(info: np.ndarray) -> np.ndarray:
    """Rows whose (symmetric, positive semi-definite) information is well conditioned enough to invert."""
    eig = np.linalg.eigvalsh(info)
    return np.isfinite(eig).all(axis=1) & (eig[:, 0] > 1e-10 * np.maximum(eig[:, -1], 1e-300))


def baseline_cumhaz(time, event, lp, at, counts=None) -> np.ndarray:
    """The Efron-adjusted baseline cumulative hazard at ``lp = 0`` (module docstring) at the times ``at``.

    ``lp`` is each row's linear predictor ``x' b`` (shape ``(n,)``, or ``(B, n)`` with one row per row of
    ``counts``). Returns shape ``(len(at),)`` without counts, else ``(B, len(at))``.
    """
    rs = _Risksets(time, event)
    C = _counts(counts, rs.n)[:, rs.order]
    L = np.atleast_2d(np.asarray(lp, dtype=np.float64))[:, rs.order]
    m, wbar, _ = _ties(rs, C)
    r = C * np.exp(L)
    S0, S0D = rs.suffix_at_starts(r), rs.tied(r)
    dH = np.zeros_like(S0)
    top = int(m.max()) if m.size else 0
    for l in range(top):
        live = l < m
        a = np.where(live, l / np.where(m > 0, m, 1.0), 0.0)
        den = S0 - a * S0D
        ok = live & (den > 0)
        dH += np.where(ok, wbar / np.where(ok, den, 1.0), 0.0)
    H = np.cumsum(dH, axis=1)
    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    k = np.searchsorted(rs.event_times, at, side="right") - 1
    out = np.where(k >= 0, H[:, np.maximum(k, 0)], 0.0)
    return out[0] if counts is None and np.ndim(lp) == 1 else out
