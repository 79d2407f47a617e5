"""Time-to-event validation statistics: Kaplan–Meier, censoring weights, concordance, time-dependent AUC,
the IPCW Brier score, IPA, observed/expected risk and net benefit at a horizon.

Data are follow-up times ``T_i > 0`` and event indicators ``e_i`` (1 event, 0 censored); a model gives
each patient a risk ``r_i`` of the event by the horizon ``t`` (or a risk score ranking patients).
Every statistic that carries a bootstrap interval is computed from resample counts ``W`` (shape
``(B, n)``), so one call evaluates a block of replicates (as ``metrics.BinaryMetrics``); the point
estimate is the same function at ``w = 1``. Each replicate equals the statistic computed on the data
set with each row repeated ``w`` times (tested).

Conventions (stated in the report)
----------------------------------
- **Kaplan–Meier** ``S(t) = prod_{s <= t} (1 - d(s) / n(s))``: ``d(s)`` events at ``s``, ``n(s)``
  patients with ``T >= s`` (Kaplan & Meier, JASA 1958).
- **Censoring distribution** ``G``: the reverse Kaplan–Meier of the validation data itself, with events
  before censorings at tied times (a patient censored at ``s`` is still at risk of the events at ``s``):
  ``G(t) = prod_{s <= t} (1 - c(s) / (n(s) - d(s)))``. A case's weight uses ``G(T_i-)``, the value
  just before its event time; a control's uses ``G(t)``.
- **Cases and controls at ``t``** (cumulative/dynamic): cases ``T_i <= t, e_i = 1`` with weight
  ``1 / G(T_i-)``; controls ``T_j > t`` with weight ``1 / G(t)``; patients censored at or before ``t``
  weigh 0 (Uno et al., JASA 2007; Blanche, Dartigues & Jacqmin-Gadda, Stat Med 2013 — R ``timeROC``
  with ``weighting = "marginal"``). So an audit of data censored administratively at 5 years
  evaluates these at 4.99 (McLernon et al., Ann Intern Med 2023).

Statistics
----------
- ``auc_t``: ``sum_{i case, j control} w_i w_j ([r_i > r_j] + [r_i = r_j] / 2) / (sum w_i sum w_j)``.
- ``brier`` (Graf et al., Stat Med 1999): ``(1/n) [sum_cases (1 - r_i)^2 / G(T_i-) + sum_controls
  r_j^2 / G(t)]``.
- ``ipa``, the index of prediction accuracy (Kattan & Gerds, Diagn Progn Res 2018):
  ``1 - brier / brier_null``, the null model predicting the Kaplan–Meier risk ``1 - S(t)`` to everyone.
- ``sensitivity`` ``= sum_cases w_i [r_i >= c] / sum_cases w_i`` and ``specificity``
  ``= #controls with r_j < c / #controls`` at the decision threshold ``c`` (IPCW, as ``timeROC``).
- ``observed_risk`` ``= 1 - S(t)``, ``expected_risk`` ``= mean r_i``, ``oe_ratio = observed / expected``; its interval
  ``oe exp(+-z / sqrt(d_t))`` with ``d_t`` the events by ``t`` (McLernon et al. 2023, from the Poisson
  variance of the observed count; Debray et al., J Clin Epidemiol 2015).
- **Harrell's C** and **Uno's C** (:func:`concordance`), truncated at ``tau``: follow-up is censored at
  ``tau``; a pair ``(i, j)`` is comparable when ``i`` had an event and ``j`` was followed longer
  (``T_j > T_i``, or ``T_j = T_i`` with ``j`` censored); it is concordant when ``r_i > r_j``, tied
  risks count one half, pairs of tied event times are not comparable (R ``survival::concordance``).
  Uno's C weighs each comparable pair by ``1 / G(T_i-)^2`` (Uno et al., Stat Med 2011). Standard
  errors by the infinitesimal jackknife, ``se^2 = sum_k (dC / dv_k)^2`` over the observation weights
  ``v`` at 1, as ``survival::concordance`` computes them (the censoring weights held fixed).
- **Net benefit at t** (Vickers, Cronin, Elkin et al., BMC Med Inform Decis Mak 2008): treating those
  with ``r >= p_t``, ``TP/n = (1 - S_+(t)) q``, ``FP/n = S_+(t) q``, ``q`` the share treated and
  ``S_+`` the Kaplan–Meier curve among them; ``NB = TP/n - FP/n p_t / (1 - p_t)``; treat-all uses the
  whole cohort's ``S(t)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

#: Metrics at each horizon, in the kernel's column order for one horizon.
HORIZON_METRICS: tuple[str, ...] = (
    "auc_t", "brier", "ipa", "sensitivity", "specificity", "observed_risk", "expected_risk", "oe_ratio",
)
#: Metrics at a horizon that need the predicted risk itself (a risk score gives only the AUC).
RISK_METRICS = frozenset(HORIZON_METRICS) - {"auc_t"}
#: Fewer patients than this still at risk at a horizon make its metrics not estimable.
MIN_AT_RISK = 10
#: A censoring survival G(t) below this makes a horizon's metrics not estimable (weights above 10).
MIN_CENSORING_SURVIVAL = 0.1


def horizon_key(horizon: float) -> str:
    """The horizon written as the shortest decimal that reads back as the same float: ``5.0`` -> ``"5"``,
    ``4.99`` -> ``"4.99"`` (results.json's ``horizons.<h>``, DESIGN.md)."""
    text = repr(float(horizon))
    if "e" in text or "inf" in text or "nan" in text:
        return text
    return text[:-2] if text.endswith(".0") else text


def check_survival_data(time, event) -> tuple[np.ndarray, np.ndarray]:
    """``time`` as positive finite floats and ``event`` as 0/1 int8, equal lengths (``ValueError`` otherwise)."""
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event)
    if t.ndim != 1 or e.shape != t.shape:
        raise ValueError(f"time and event must be 1-d arrays of equal length; got shapes {t.shape} and {e.shape}")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("follow-up times must be finite and positive")
    if not np.all((e == 0) | (e == 1)):
        raise ValueError("event indicators must be 0 (censored) or 1 (event)")
    return t, e.astype(np.int8)


def _as_weights(W, n: int) -> np.ndarray:
    W = np.ones((1, n)) if W is None else np.atleast_2d(np.asarray(W, dtype=np.float64))
    if W.shape[1] != n:
        raise ValueError(f"weights have {W.shape[1]} columns for {n} rows")
    return W


class TimeGrid:
    """The distinct follow-up times of one data set and each row's place among them, computed once.

    :meth:`curves` gives, for a block of weights, the Kaplan–Meier survival ``S`` and the censoring
    survival ``G`` just after each distinct time (shape ``(B, U)``), from per-time weighted counts.
    """

    def __init__(self, time, event):
        self.time, self.event = check_survival_data(time, event)
        self.n = self.time.size
        self.order = np.argsort(self.time, kind="stable")
        self.times, self.index = np.unique(self.time, return_inverse=True)
        sorted_index = self.index[self.order]
        self.starts = np.flatnonzero(np.r_[True, np.diff(sorted_index) != 0])
        self._event_sorted = self.event[self.order].astype(np.float64)

    def _per_time(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted events and weighted rows at each distinct time, ``(B, U)`` each."""
        Ws = W[:, self.order]
        events = np.add.reduceat(Ws * self._event_sorted, self.starts, axis=1)
        rows = np.add.reduceat(Ws, self.starts, axis=1)
        return events, rows

    def curves(self, W=None) -> tuple[np.ndarray, np.ndarray]:
        """``(S, G)`` just after each distinct time: Kaplan–Meier and reverse Kaplan–Meier (events first)."""
        W = _as_weights(W, self.n)
        d, rows = self._per_time(W)
        at_risk = np.cumsum(rows[:, ::-1], axis=1)[:, ::-1]
        censored = rows - d
        with np.errstate(invalid="ignore", divide="ignore"):
            s_factor = np.where(at_risk > 0, 1.0 - d / np.where(at_risk > 0, at_risk, 1.0), 1.0)
            remaining = at_risk - d
            g_factor = np.where(remaining > 0, 1.0 - censored / np.where(remaining > 0, remaining, 1.0), 1.0)
        return np.cumprod(s_factor, axis=1), np.cumprod(g_factor, axis=1)

    def after(self, curve: np.ndarray, at) -> np.ndarray:
        """A right-continuous step curve (values just after each distinct time) read at times ``at``: ``(B, len(at))``."""
        k = np.searchsorted(self.times, np.atleast_1d(np.asarray(at, dtype=np.float64)), side="right") - 1
        return np.where(k >= 0, curve[:, np.maximum(k, 0)], 1.0)

    def before_rows(self, curve: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The curve just before each given row's own time (``G(T_i-)``): ``(B, len(rows))``."""
        k = self.index[rows] - 1
        return np.where(k >= 0, curve[:, np.maximum(k, 0)], 1.0)


def kaplan_meier(time, event, at, weights=None) -> np.ndarray:
    """Kaplan–Meier survival ``S(t)`` at the times ``at`` (right-continuous).

    Parameters
    ----------
    time, event : array of shape (n,)
        Follow-up times (> 0) and event indicators (1 event, 0 censored).
    at : float or array of shape (m,)
        Times to read the curve at.
    weights : array of shape (n,) or (B, n), optional
        Resample counts (a row counted ``w`` times); one curve per row of weights.

    Returns
    -------
    ndarray of shape (m,) for 1-d or no weights, else (B, m)
        ``S(t) = prod_{s <= t} (1 - d(s) / n(s))`` (Kaplan & Meier, JASA 1958).
    """
    grid = TimeGrid(time, event)
    S, _ = grid.curves(weights)
    out = grid.after(S, at)
    return out[0] if weights is None or np.ndim(weights) == 1 else out


def censoring_survival(time, event, at, weights=None, before: bool = False) -> np.ndarray:
    """The censoring survival ``G(t)`` (reverse Kaplan–Meier, events before censorings at tied times) at ``at``;
    ``before=True`` reads ``G(t-)``. Shapes as :func:`kaplan_meier`."""
    grid = TimeGrid(time, event)
    _, G = grid.curves(weights)
    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    if before:
        k = np.searchsorted(grid.times, at, side="left") - 1
        out = np.where(k >= 0, G[:, np.maximum(k, 0)], 1.0)
    else:
        out = grid.after(G, at)
    return out[0] if weights is None or np.ndim(weights) == 1 else out


# --------------------------------------------------------------------------------------------
# Concordance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concordance:
    """A concordance index with its infinitesimal-jackknife standard error and pair counts."""

    value: float
    se: float
    concordant: float
    discordant: float
    tied_risk: float
    comparable: int
    kind: str
    #: each row's infinitesimal-jackknife influence ``U_k = dC / dv_k`` (sums to 0; None when C is undefined)
    influence: np.ndarray | None = None

    def interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """The Wald interval ``C +- z se`` (as ``survival::concordance`` reports it), clipped to [0, 1]."""
        if not (math.isfinite(self.value) and math.isfinite(self.se) and self.se > 0):
            return None
        z = float(ndtri(0.5 + confidence / 2))
        return max(0.0, self.value - z * self.se), min(1.0, self.value + z * self.se)


def truncate(time, event, tau: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up censored at ``tau``: ``(min(T, tau), e [T <= tau])`` (unchanged when ``tau`` is None)."""
    t, e = np.asarray(time, dtype=np.float64), np.asarray(event).astype(np.int8)
    if tau is None:
        return t, e
    return np.minimum(t, tau), (e.astype(bool) & (t <= tau)).astype(np.int8)


def dominance_sums(query_x, query_y, x, y, weight) -> np.ndarray:
    """For each query ``q``: ``sum_j weight_j [x_j >= qx_q and y_j < qy_q]`` over the items ``j``, in
    ``O((n + m) log n log M)`` time and ``O(n + m)`` memory (``M`` distinct ``y`` values), never pair by pair.

    The values of ``y`` are ranked densely; at each bit ``L`` of a rank, an item with bit 0 is below a query
    with bit 1 and the same higher bits, and every item below a query is counted at exactly one bit (the
    highest where their ranks differ). Each bit is one sort of the items by (higher bits, ``x``) and two
    ``searchsorted`` calls: the offline two-dimensional dominance count of a wavelet tree (Navarro,
    *Compact Data Structures*, 2016, ch. 6), vectorised over queries.
    """
    query_x, query_y = np.asarray(query_x), np.asarray(query_y)
    x, y, weight = np.asarray(x), np.asarray(y), np.asarray(weight, dtype=np.float64)
    out = np.zeros(query_x.size)
    if x.size == 0 or query_x.size == 0:
        return out
    _, y_rank = np.unique(np.r_[y, query_y], return_inverse=True)
    _, x_rank = np.unique(np.r_[x, query_x], return_inverse=True)
    width = np.int64(x_rank.max() + 1)
    yi, yq = y_rank[:y.size].astype(np.int64), y_rank[y.size:].astype(np.int64)
    xi, xq = x_rank[:x.size].astype(np.int64), x_rank[x.size:].astype(np.int64)
    for bit in range(max(1, int(y_rank.max()).bit_length())):
        below = ((yi >> bit) & 1) == 0
        above = np.flatnonzero(((yq >> bit) & 1) == 1)
        if not below.any() or above.size == 0:
            continue
        key = (yi[below] >> (bit + 1)) * width + xi[below]
        order = np.argsort(key, kind="stable")
        key = key[order]
        cumulative = np.r_[0.0, np.cumsum(weight[below][order])]
        prefix = yq[above] >> (bit + 1)
        lo = np.searchsorted(key, prefix * width + xq[above], side="left")
        hi = np.searchsorted(key, (prefix + 1) * width, side="left")
        out[above] += cumulative[hi] - cumulative[lo]
    return out


def concordance(time, event, risk, tau: float | None = None, kind: str = "harrell", clusters=None) -> Concordance:
    """Harrell's or Uno's concordance index, truncated at ``tau``, with its infinitesimal-jackknife SE.

    Parameters
    ----------
    time, event : array of shape (n,)
        Follow-up times and event indicators.
    risk : array of shape (n,)
        Higher means the event is expected sooner (a risk, or a linear predictor).
    tau : float, optional
        Truncation time: follow-up is censored at ``tau`` first.
    kind : {"harrell", "uno"}
        Pair weights 1, or ``1 / G(T_i-)^2`` with ``G`` the censoring survival of the (untruncated) data.
    clusters : array of shape (n,), optional
        Rows that belong together (one patient's several rows): their influences are summed before squaring,
        ``se^2 = sum_c (sum_{k in c} U_k)^2`` (the grouped jackknife of ``survival::concordance(cluster=)``).

    Returns
    -------
    Concordance
        ``C = sum w_i (conc_i + tied_i / 2) / sum w_i comparable_i`` over the patients ``i`` with an event
        (Harrell et al., JAMA 1982; Uno et al., Stat Med 2011; R ``survival::concordance``).

    Notes
    -----
    The infinitesimal jackknife differentiates ``C = N / D`` with respect to each observation's weight
    ``v_k`` (as first or second member of its pairs): ``U_k = (dN/dv_k - C dD/dv_k) / D`` and
    ``se^2 = sum_k U_k^2``. Rows are ordered by time with events before censorings at tied times, so the
    patients followed longer than an event ``i`` are those after its time's events; every per-row pair sum is
    then a dominance count over (that order, risk) (:func:`dominance_sums`): time ``O(n log^2 n)``, memory
    ``O(n)``, as ``survival::concordance``'s balanced tree (Therneau, *The survival package*, concordance
    vignette). Tested against all pairs.
    """
    if kind not in ("harrell", "uno"):
        raise ValueError(f"kind must be 'harrell' or 'uno', not {kind!r}")
    t0, e0 = check_survival_data(time, event)
    r = np.asarray(risk, dtype=np.float64)
    if r.shape != t0.shape:
        raise ValueError("risk must have one value per row")
    t, e = truncate(t0, e0, tau)
    n = t.size
    first = np.flatnonzero(e == 1)
    if kind == "uno":
        grid = TimeGrid(t0, e0)
        _, G = grid.curves()
        g = grid.before_rows(G, first)[0]
        w_first = np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0) ** 2, 0.0)
    else:
        w_first = np.ones(first.size)
    # place of each row in time order, events first at a tied time; the patients followed longer than event i
    # are the rows with place >= start_i (later times, and the censorings at its own time)
    _, time_rank = np.unique(t, return_inverse=True)
    place = 2 * time_rank.astype(np.int64) + (1 - e)
    start = place[first] + 1
    sorted_place = np.sort(place)
    comp = (n - np.searchsorted(sorted_place, start, side="left")).astype(np.float64)
    ones = np.ones(n)
    conc = dominance_sums(start, r[first], place, r, ones)  # later rows with a lower risk
    tied = dominance_sums(start, np.nextafter(r[first], np.inf), place, r, ones) - conc
    # as the longer-lived member k: events i with start_i <= place_k, weighted w_i, by risk above / equal to k's
    order = np.argsort(start, kind="stable")
    cumulative = np.r_[0.0, np.cumsum(w_first[order])]
    second_comp = cumulative[np.searchsorted(start[order], place, side="right")]
    second_higher = dominance_sums(-place, -r, -start, -r[first], w_first)
    second_tied = dominance_sums(-place, np.nextafter(-r, np.inf), -start, -r[first], w_first) - second_higher
    second_score = second_higher + 0.5 * second_tied
    discordant = float(w_first @ (comp - conc - tied))
    N = float(w_first @ (conc + 0.5 * tied))
    D = float(w_first @ comp)
    if D <= 0:
        return Concordance(math.nan, math.nan, 0.0, 0.0, 0.0, 0, kind, None)
    C = N / D
    dN, dD = second_score.copy(), second_comp.copy()
    dN[first] += w_first * (conc + 0.5 * tied)
    dD[first] += w_first * comp
    influence = (dN - C * dD) / D
    U = influence
    if clusters is not None:
        _, codes = np.unique(np.asarray(clusters), return_inverse=True)
        U = np.bincount(codes, weights=U)
    se = float(np.sqrt(np.sum(U**2)))
    return Concordance(C, se, float(w_first @ conc), discordant, float(w_first @ tied), int(comp.sum()), kind, influence)


# --------------------------------------------------------------------------------------------
# Metrics at horizons, on blocks of resamples
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HorizonStatus:
    """Whether a data set supports metrics at a horizon, and why not."""

    horizon: float
    at_risk: int
    events: int
    censoring_survival: float
    reason: str | None

    @property
    def estimable(self) -> bool:
        return self.reason is None


def horizon_status(time, event, horizon: float) -> HorizonStatus:
    """The follow-up rules of a horizon: within follow-up, at least ``MIN_AT_RISK`` patients still at risk
    (``T >= t``), censoring survival ``G(t)`` at least ``MIN_CENSORING_SURVIVAL``, an event by ``t``."""
    t, e = check_survival_data(time, event)
    at_risk = int((t >= horizon).sum())
    events = int(((t <= horizon) & (e == 1)).sum())
    g = float(censoring_survival(t, e, horizon)[0])
    reason = None
    if horizon > t.max():
        reason = f"not estimable: the horizon {horizon_key(horizon)} is beyond the longest follow-up ({t.max():g})"
    elif at_risk < MIN_AT_RISK:
        reason = f"not estimable: {at_risk} patients remain at risk at {horizon_key(horizon)} (at least {MIN_AT_RISK} needed)"
    elif g < MIN_CENSORING_SURVIVAL:
        reason = (f"not estimable: the censoring survival G({horizon_key(horizon)}) is {g:.3f}, below {MIN_CENSORING_SURVIVAL:g}; "
                  "inverse-probability-of-censoring weights would exceed 10")
    elif events == 0:
        reason = f"not estimable: no events by {horizon_key(horizon)}"
    return HorizonStatus(float(horizon), at_risk, events, g, reason)


class SurvivalMetrics:
    """Metrics at each horizon (``HORIZON_METRICS``) on blocks of resample counts ``W`` (shape ``(B, n)``).

    ``risks`` is ``(n, H)``: the predicted risk by each horizon (ascending), or ``None`` when only a risk
    ``score`` is given (then only the AUC columns are finite). ``score`` ranks patients for the AUC when
    there are no risks. Columns: for each horizon, ``HORIZON_METRICS`` in order (``names``).
    """

    def __init__(self, time, event, horizons, risks=None, score=None, threshold: float = 0.5):
        self.grid = TimeGrid(time, event)
        self.n = self.grid.n
        self.horizons = tuple(float(h) for h in horizons)
        self.risks = None if risks is None else np.asarray(risks, dtype=np.float64).reshape(self.n, len(self.horizons))
        if self.risks is None and score is None:
            raise ValueError("SurvivalMetrics needs risks by the horizons or a risk score")
        self.score = None if score is None else np.asarray(score, dtype=np.float64)
        self.threshold = float(threshold)
        self.names = tuple(f"{m}@{horizon_key(h)}" for h in self.horizons for m in HORIZON_METRICS)
        t, e = self.grid.time, self.grid.event
        self._cases = [np.flatnonzero((t <= h) & (e == 1)) for h in self.horizons]
        self._controls = [np.flatnonzero(t > h) for h in self.horizons]
        self._ranks = []
        for j, h in enumerate(self.horizons):
            marker = self.risks[:, j] if self.risks is not None else self.score
            self._ranks.append(_RankLayout(marker, self._cases[j], self._controls[j]))

    def __call__(self, W) -> np.ndarray:
        W = _as_weights(W, self.n)
        S, G = self.grid.curves(W)
        total = W.sum(axis=1)
        out = []
        for j, h in enumerate(self.horizons):
            cases, controls = self._cases[j], self._controls[j]
            g_case = self.grid.before_rows(G, cases)
            with np.errstate(invalid="ignore", divide="ignore"):
                a = np.where(g_case > 0, W[:, cases] / g_case, 0.0)  # case weights w_i / G(T_i-)
                g_t = self.grid.after(G, h)[:, 0]
                c = W[:, controls]  # control weights w_j (times 1 / G(t), a constant per replicate)
                auc = self._ranks[j].auc(a, c)
                observed = 1.0 - self.grid.after(S, h)[:, 0]
                if self.risks is None:
                    cols = [auc] + [np.full(W.shape[0], np.nan)] * (len(HORIZON_METRICS) - 1)
                    out.extend(cols)
                    continue
                r = self.risks[:, j]
                rc, rk = r[cases], r[controls]
                inv_g = np.where(g_t > 0, 1.0 / g_t, np.nan)
                brier = (a @ (1.0 - rc) ** 2 + (c @ rk**2) * inv_g) / total
                # the null model predicts `observed` to everyone: cases contribute (1 - observed)^2, controls observed^2
                null = ((1.0 - observed) ** 2 * a.sum(axis=1) + observed**2 * c.sum(axis=1) * inv_g) / total
                ipa = 1.0 - brier / null
                positive = (rc >= self.threshold).astype(np.float64)
                sens = (a @ positive) / a.sum(axis=1)
                spec = (c @ (rk < self.threshold).astype(np.float64)) / c.sum(axis=1)
                expected = (W @ r) / total
                oe = observed / expected
            out.extend([auc, brier, ipa, sens, spec, observed, expected, oe])
        return np.column_stack(out)

    def point(self) -> dict[str, float]:
        return dict(zip(self.names, self(np.ones((1, self.n)))[0]))


class _RankLayout:
    """Cases and controls sorted by their marker once, for a weighted AUC on blocks of weights."""

    def __init__(self, marker: np.ndarray, cases: np.ndarray, controls: np.ndarray):
        values = np.unique(marker[np.r_[cases, controls]]) if cases.size + controls.size else np.empty(0)
        self.case_rank = np.searchsorted(values, marker[cases])
        control_rank = np.searchsorted(values, marker[controls])
        self.control_order = np.argsort(control_rank, kind="stable")
        sorted_rank = control_rank[self.control_order]
        # for each case: the number of controls strictly below its value, and tied with it
        self.below = np.searchsorted(sorted_rank, self.case_rank, side="left")
        self.upto = np.searchsorted(sorted_rank, self.case_rank, side="right")

    def auc(self, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``sum_i a_i (C_below_i + C_tied_i / 2) / (sum a sum c)`` for case weights ``a`` and control weights ``c``."""
        if a.shape[1] == 0 or c.shape[1] == 0:
            return np.full(a.shape[0], np.nan)
        running = np.zeros((c.shape[0], c.shape[1] + 1))
        np.cumsum(c[:, self.control_order], axis=1, out=running[:, 1:])
        below = running[:, self.below]
        tied = running[:, self.upto] - below
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.einsum("bi,bi->b", a, below + 0.5 * tied) / (a.sum(axis=1) * c.sum(axis=1))


def oe_interval(oe: float, events: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """McLernon et al.'s interval for the observed/expected ratio: ``oe exp(+-z / sqrt(events))``."""
    if not (math.isfinite(oe) and oe > 0 and events > 0):
        return None
    z = float(ndtri(0.5 + confidence / 2))
    half = z / math.sqrt(events)
    return oe * math.exp(-half), oe * math.exp(half)


# --------------------------------------------------------------------------------------------
# Net benefit at a horizon
# --------------------------------------------------------------------------------------------


class SurvivalNetBenefit:
    """Net benefit of treating by the predicted risk at ``horizon``, and of treating all, at each threshold
    probability, on blocks of resample counts: columns ``[NB_model(p_1..p_T), NB_all(p_1..p_T)]``
    (Vickers et al. 2008; see the module docstring).

    All thresholds at once: each row falls in a threshold bucket (how many thresholds its risk reaches) and a
    time bucket (how many event times up to the horizon it outlives); per replicate, weighted counts over
    (bucket, time) summed over the buckets give every threshold's treated set, and running sums over time its
    risk sets, so the cost is ``O(B (n + T M))`` for ``M`` event times up to the horizon, in exact integer-valued
    sums (bit-identical wherever it runs).
    """

    #: Replicates processed together (bounds the (B, T, M) temporaries): 1 M cells, 8 MiB per temporary, which the
    #: allocator reuses from block to block. At 4 M cells every temporary was fresh memory: slower on one thread
    #: (``benchmarks/audit.py --components``), and the survival utility check peaked at 817 instead of 540 MiB
    #: (n = 100,000). Replicates are independent, so the block size never changes a value.
    BLOCK_CELLS = 2**20

    def __init__(self, time, event, risk, horizon: float, thresholds):
        t, e = check_survival_data(time, event)
        self.n = t.size
        self.risk = np.asarray(risk, dtype=np.float64)
        self.horizon = float(horizon)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self._times = np.unique(t[(e == 1) & (t <= self.horizon)])  # event times up to the horizon
        M = self._times.size
        # bucket k: the row is treated at thresholds 0..k-1 (risk >= p_j); a: event times the row is at risk for
        self._k = np.searchsorted(self.thresholds, self.risk, side="right")
        self._a = np.searchsorted(self._times, t, side="right")
        self._m = np.where((e == 1) & (t <= self.horizon), np.searchsorted(self._times, t), M)  # M: no event up to t
        self._shape = (self.thresholds.size + 1, M + 1)

    def _buckets(self, W: np.ndarray, column: np.ndarray) -> np.ndarray:
        K, A = self._shape
        flat = (np.arange(W.shape[0])[:, None] * (K * A) + self._k[None, :] * A + column[None, :]).ravel()
        return np.bincount(flat, weights=W.ravel(), minlength=W.shape[0] * K * A).reshape(W.shape[0], K, A)

    def _block(self, W: np.ndarray) -> np.ndarray:
        T = self.thresholds.size
        rows = self._buckets(W, self._a)  # (B, K, M + 1): weight by threshold bucket and number of event times outlived
        events = self._buckets(W, self._m)[:, :, :-1]  # (B, K, M): event weight by bucket and event time
        # treated at threshold j: buckets k > j (a suffix); all patients: every bucket. The sums are of counts, exact
        # in any order, so the suffix over buckets runs bucket by bucket on contiguous (B, M) slabs (an accumulate
        # along the middle axis is several times slower)
        treated_rows = _suffix_sums(rows)  # [:, j] sums buckets >= j
        treated_events = _suffix_sums(events)
        at_risk = np.cumsum(treated_rows[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]  # outlived > m event times: at risk at u_m
        factor = np.zeros_like(treated_events)
        np.divide(treated_events, at_risk, out=factor, where=at_risk > 0)
        np.subtract(1.0, factor, out=factor)  # 1 - d / n; 1 where no one is at risk
        S = np.prod(factor, axis=2)  # (B, K): Kaplan–Meier at the horizon among those treated at threshold j-1 (j=0: all)
        size = treated_rows.sum(axis=2)
        total = size[:, 0]
        share = size[:, 1:] / total[:, None]
        odds = self.thresholds / (1.0 - self.thresholds)
        s_treated = S[:, 1:]
        nb = np.where(share > 0, share * (1.0 - s_treated) - share * s_treated * odds[None, :], 0.0)
        s_all = S[:, 0]
        nb_all = (1.0 - s_all)[:, None] - s_all[:, None] * odds[None, :]
        return np.hstack([nb, nb_all[:, :T]])

    def __call__(self, W) -> np.ndarray:
        W = _as_weights(W, self.n)
        step = max(1, self.BLOCK_CELLS // (self._shape[0] * self._shape[1]))
        return np.vstack([self._block(W[i:i + step]) for i in range(0, W.shape[0], step)])


def _suffix_sums(counts: np.ndarray) -> np.ndarray:
    """``out[:, j] = counts[:, j:].sum(axis=1)`` for ``(B, K, M)`` counts, one contiguous slab at a time."""
    out = np.empty_like(counts)
    out[:, -1] = counts[:, -1]
    for j in range(counts.shape[1] - 2, -1, -1):
        np.add(out[:, j + 1], counts[:, j], out=out[:, j])
    return out


# --------------------------------------------------------------------------------------------
# Subgroups, on blocks of resamples
# --------------------------------------------------------------------------------------------

class LinearisedConcordance:
    """Harrell's C of one group on blocks of resample counts by its first-order (infinitesimal-jackknife) expansion:
    ``C_b = C + sum_k (w_bk - 1) U_k = C + w_b' U`` (the influences ``U`` sum to 0), so replicates cost ``O(n)``
    and their spread is the IJ standard error's (``survival::concordance``). Exact all-pairs replicates would
    cost ``O(n^2)`` each; the expansion is the same approximation the IJ interval makes."""

    def __init__(self, time, event, score, tau: float | None):
        fit = concordance(time, event, score, tau)
        self.value = fit.value
        self.influence = fit.influence if fit.influence is not None else np.zeros(np.size(time))
        self.n = np.size(time)

    def __call__(self, W) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        if not np.isfinite(self.value):
            return np.full(W.shape[0], np.nan)
        return self.value + W @ self.influence


#: Metrics a group gets from the resamples: Harrell's C, and at the largest horizon AUC(t), Brier, IPA and O/E.
GROUP_SURVIVAL_METRICS: tuple[str, ...] = ("harrell_c", "auc_t", "brier", "ipa", "oe_ratio", "observed_risk", "expected_risk")


class GroupedSurvivalMetrics:
    """``GROUP_SURVIVAL_METRICS`` of every group of every partition on blocks of resample counts ``W`` (``(B, n)``).

    ``partitions`` maps a partition's name to each row's group code; ``columns`` lists ``(partition, code, metric)``
    in column order. Each group is its own validation sample: its censoring distribution is estimated within it.
    ``risk`` is the risk by ``horizon`` (None when only a score is given: the risk metrics are nan).
    """

    def __init__(self, time, event, score, risk, horizon: float, partitions: dict[str, np.ndarray], threshold: float = 0.5):
        t, e = check_survival_data(time, event)
        self.n = t.size
        self.columns, self._groups = [], []
        score = np.asarray(score, dtype=np.float64)
        for part, codes in partitions.items():
            codes = np.asarray(codes)
            for code in np.unique(codes):
                rows = np.flatnonzero(codes == code)
                concord = LinearisedConcordance(t[rows], e[rows], score[rows], horizon) if e[rows].any() else None
                metrics = None
                if e[rows].any():
                    metrics = SurvivalMetrics(t[rows], e[rows], [horizon], None if risk is None else np.asarray(risk)[rows, None],
                                              score[rows], threshold)
                self._groups.append((rows, concord, metrics))
                self.columns += [(part, int(code), m) for m in GROUP_SURVIVAL_METRICS]
        self._pick = [HORIZON_METRICS.index(m) for m in GROUP_SURVIVAL_METRICS[1:]]

    def __call__(self, W) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W))
        out = []
        for rows, concord, metrics in self._groups:
            Wg = W[:, rows]
            c = concord(Wg) if concord is not None else np.full(W.shape[0], np.nan)
            if metrics is None:
                rest = np.full((W.shape[0], len(self._pick)), np.nan)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    rest = metrics(Wg)[:, self._pick]
            out.append(np.column_stack([c, rest]))
        return np.hstack(out)
