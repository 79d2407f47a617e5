"""Calibration of predicted risks by a horizon, with censored follow-up (McLernon et al., Ann Intern Med 2023;
Austin, Harrell & van Klaveren, Stat Med 2020).

With ``r_i`` the predicted risk by the horizon ``t`` and follow-up censored at ``t``:

- **Calibration slope**: the coefficient ``b`` of a Cox regression of the outcome on
  ``x_i = cloglog(r_i) = log(-log(1 - r_i))``; 1 is ideal, below 1 predictions too extreme. Wald interval
  ``b +- z se`` from the observed information (Efron's ties). A model ``1 - S_0(t)^{exp(lp)}`` has
  ``cloglog(r) = log H_0(t) + lp``, so the regression recovers the multiplier of the linear predictor.
- **Calibration curve** ("moderate calibration"): a Cox model on a restricted cubic spline of ``x`` with three
  knots at the 10th, 50th and 90th percentiles (Harrell's defaults, ``rms::rcs``); the observed risk of
  patient ``i`` is ``1 - exp(-H_0(t) exp(lp_i))`` with the Efron-adjusted baseline ``H_0`` of that model.
  ``ICI = mean |observed_i - r_i|``, ``E50`` and ``E90`` its median and 90th percentile, ``Emax`` its maximum
  (Austin et al. 2020; McLernon et al. 2023).
- **Risk groups**: patients split at quantiles of ``r``; per group the mean predicted risk and the
  Kaplan–Meier risk by ``t`` (the observed risk that censoring does not bias).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from .cox import baseline_cumhaz, cox_fit, rcs_basis, rcs_knots
from .estimate import Estimate
from .survival import kaplan_meier, truncate

#: Predicted risks are clipped to this distance from 0 and 1 before the complementary log-log.
CLIP = 1e-10


def cloglog(risk) -> np.ndarray:
    """``log(-log(1 - r))``, with ``r`` clipped to ``[CLIP, 1 - CLIP]``."""
    r = np.clip(np.asarray(risk, dtype=np.float64), CLIP, 1 - CLIP)
    return np.log(-np.log1p(-r))


def calibration_slope(time, event, risk, horizon: float, confidence: float = 0.95) -> Estimate:
    """The Cox calibration slope at ``horizon`` with its Wald interval (module docstring).

    Returns
    -------
    Estimate
        ``method="wald-cox"``, ``n`` the number of patients; not estimable (with the reason) when there are no
        events by the horizon or the fit fails.
    """
    t, e = truncate(time, event, horizon)
    n = int(t.size)
    if not e.any():
        return Estimate(math.nan, None, "wald-cox", n, reason="not estimable: no events by the horizon")
    x = cloglog(risk)
    if np.ptp(x) == 0:
        return Estimate(math.nan, None, "wald-cox", n, reason="not estimable: every patient has the same predicted risk")
    fit = cox_fit(x[:, None], t, e)
    b, var = float(fit.beta[0, 0]), float(fit.cov[0, 0, 0])
    if not (math.isfinite(b) and math.isfinite(var) and var > 0):
        return Estimate(math.nan, None, "wald-cox", n, reason="not estimable: the Cox calibration model could not be fitted")
    z = float(ndtri(0.5 + confidence / 2))
    se = math.sqrt(var)
    return Estimate(b, (b - z * se, b + z * se), "wald-cox", n)


@dataclass(frozen=True)
class CalibrationCurve:
    """The Cox–spline calibration curve at a horizon: each patient's observed risk and the summaries of
    ``|observed - predicted|``, plus the curve on a grid of predicted risks for drawing."""

    observed: np.ndarray
    knots: np.ndarray
    ici: float
    e50: float
    e90: float
    emax: float
    grid_predicted: np.ndarray
    grid_observed: np.ndarray


def calibration_curve(time, event, risk, horizon: float, n_knots: int = 3, grid: int = 100) -> CalibrationCurve | None:
    """The restricted-cubic-spline Cox calibration curve of McLernon et al. (module docstring); None when it cannot be
    fitted (no events by the horizon, too few distinct risks for the knots, a failed fit)."""
    t, e = truncate(time, event, horizon)
    r = np.asarray(risk, dtype=np.float64)
    if not e.any():
        return None
    x = cloglog(r)
    try:
        knots = rcs_knots(x, n_knots)
    except ValueError:
        return None
    X = np.column_stack([x, rcs_basis(x, knots)])
    fit = cox_fit(X, t, e)
    beta = fit.beta[0]
    if not np.all(np.isfinite(beta)):
        return None
    lp = X @ beta
    H0 = float(np.asarray(baseline_cumhaz(t, e, lp, [horizon])).reshape(-1)[0])
    observed = -np.expm1(-H0 * np.exp(lp))
    diff = np.abs(observed - r)
    g = np.linspace(np.quantile(r, 0.01), np.quantile(r, 0.99), grid)
    xg = cloglog(g)
    grid_observed = -np.expm1(-H0 * np.exp(np.column_stack([xg, rcs_basis(xg, knots)]) @ beta))
    return CalibrationCurve(observed, knots, float(diff.mean()), float(np.quantile(diff, 0.5)), float(np.quantile(diff, 0.9)),
                            float(diff.max()), g, grid_observed)


def risk_groups(time, event, risk, horizon: float, groups: int = 10) -> list[dict]:
    """Patients split into ``groups`` groups at quantiles of the predicted risk (fewer when risks tie): per group
    ``n``, events by the horizon, the mean predicted risk and the Kaplan–Meier risk by the horizon."""
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event).astype(np.int8)
    r = np.asarray(risk, dtype=np.float64)
    edges = np.unique(np.quantile(r, np.linspace(0, 1, groups + 1)))
    codes = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, max(edges.size - 2, 0))
    out = []
    for g in np.unique(codes):
        rows = codes == g
        out.append({"n": int(rows.sum()), "events": int(((t[rows] <= horizon) & (e[rows] == 1)).sum()),
                    "predicted": float(r[rows].mean()),
                    "observed": float(1 - kaplan_meier(t[rows], e[rows], horizon)[0]) if e[rows].any() else 0.0})
    return out
