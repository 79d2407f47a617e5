"""Calibration of predicted risks, as clinical prediction-model statisticians report it.

- **Logistic recalibration** (Cox, Biometrika 1958; Steyerberg, *Clinical Prediction Models*
  2019, ch. 15), fitted with statsmodels' binomial GLM on ``lp = logit(p)``:
  *calibration-in-the-large* is the intercept ``a`` of ``logit P(y=1) = a + lp`` (``lp`` as an
  offset, slope fixed at 1): 0 is ideal, negative means risks are too high on average;
  the *calibration slope* is ``b`` of ``logit P(y=1) = a + b lp``: 1 is ideal, below 1 means
  predictions are too extreme (overfitting). Wald intervals. Predictions of exactly 0 or 1 are
  clipped to ``[1e-12, 1 - 1e-12]`` before the logit.
- **O:E ratio** ``sum(y) / sum(p)`` with the interval ``exp(ln(O/E) +- z sqrt((1 - O/n) / O))``
  (Debray et al., BMJ 2017).
- **ECE** (expected calibration error; Naeini et al., AAAI 2015): ``sum_k (n_k / n) |ybar_k - pbar_k|``
  over equal-width bins of ``[0, 1]`` or equal-mass (quantile) bins of the predictions.
  ``ECEStatistic`` evaluates it on weight blocks like every engine statistic, but its bootstrap
  distribution is shifted far above the estimate (binning noise only adds), so the calibration
  check reports the ECE without an interval.
- **ICI, E50, E90, Emax** (Austin & Steyerberg, Stat Med 2019): mean, median, 90th percentile and
  maximum of ``|p_c - p|``, where ``p_c`` is a lowess smooth of ``y`` on ``p`` (span 0.75, no
  robustness iterations; ``audit.stats.lowess``, statsmodels' lowess as a linear operator).
- **Spiegelhalter's z** (Stat Med 1986): ``sum (y - p)(1 - 2p) / sqrt(sum (1 - 2p)^2 p (1 - p))``.
- **Hosmer–Lemeshow** ``C`` over ``g`` groups of predicted risk, ``chi2(g - 2)``; its p-value
  depends on ``g`` and on n (almost every model fails at large n), so it is reported, not judged.
- **Brier decomposition** (Murphy, J Appl Meteorol 1973) over bins: reliability − resolution +
  uncertainty, which equals the Brier score up to the within-bin variance of the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from scipy.special import logit, ndtr, ndtri
from scipy.stats import chi2

from .estimate import Estimate

EPS = 1e-12
#: Rows from which a finished statsmodels fit is collected at once (see ``release_fits``).
LARGE_FIT_ROWS = 50_000


def release_fits(n: int) -> None:
    """Collect finished statsmodels fits of ``n`` rows now. A statsmodels result sits in reference cycles
    (result, model, data), so its n-sized arrays live until the garbage collector visits them, which for
    older objects Python does rarely: at n = 1,000,000 the calibration check's fits held over 1 GB of dead
    arrays. A collection of the two young generations (about 6 ms; a full one takes 0.1 s) right after the
    fit finds them, and keeps the peak memory to one fit's."""
    if n >= LARGE_FIT_ROWS:
        import gc

        gc.collect(1)


def _lp(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS))


def _fit_kwargs(clusters) -> dict:
    """Cluster-robust (sandwich) covariance when rows are clustered (Liang & Zeger, Biometrika 1986)."""
    if clusters is None:
        return {}
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    return {"cov_type": "cluster", "cov_kwds": {"groups": codes}}


def _intercept_llf(y: np.ndarray, offset: np.ndarray, clusters=None) -> tuple[float, float, float]:
    """Fit an intercept-only logistic model with ``offset``: (intercept, its SE, log-likelihood)."""
    fit = GLM(y, np.ones((y.size, 1)), family=Binomial(), offset=offset).fit(**_fit_kwargs(clusters))
    return float(fit.params[0]), float(fit.bse[0]), float(fit.llf)


def separated(y, p) -> bool:
    """Perfect separation: every patient with the outcome is scored above every patient without it
    (or below), so the maximum-likelihood calibration slope is infinite (Albert & Anderson 1984)."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    if y.all() or not y.any():
        return False
    return bool(p[y].min() > p[~y].max() or p[y].max() < p[~y].min())


def profile_interval(profile_llf, estimate: float, se: float, max_llf: float, confidence: float) -> tuple[float, float]:
    """Profile-likelihood interval ``{t : 2 (max_llf - profile_llf(t)) <= chi2_1(confidence)}``.

    Each bound is the root of the deviance difference, bracketed by stepping out from the
    estimate in multiples of the Wald standard error (Venzon & Moolgavkar, Appl Stat 1988).
    """
    from scipy.optimize import brentq

    cut = chi2.ppf(confidence, 1) / 2.0
    gap = lambda t: max_llf - profile_llf(t) - cut  # noqa: E731 - negative inside the interval
    bounds = []
    for direction in (-1.0, 1.0):
        step = max(se, 1e-6)
        outer = estimate + direction * 2 * step
        for _ in range(60):
            if gap(outer) > 0:
                break
            outer = estimate + direction * (abs(outer - estimate) * 2)
        else:
            bounds.append(float("nan"))
            continue
        bounds.append(float(brentq(gap, *sorted((estimate, outer)), xtol=1e-10)))
    return bounds[0], bounds[1]


def calibration_intercept(y, p, confidence: float = 0.95, method: str = "wald", clusters=None) -> Estimate:
    """Calibration-in-the-large: intercept of a logistic model with ``logit(p)`` as offset.

    ``method="profile"`` gives the profile-likelihood interval instead of Wald's; ``clusters``
    (rows of one patient) gives Wald with the cluster-robust standard error.
    """
    y = np.asarray(y, dtype=float)
    lp = _lp(p)
    a, se, llf = _intercept_llf(y, lp, clusters)
    release_fits(y.size)
    if clusters is not None:
        z = ndtri(0.5 + confidence / 2)
        return Estimate(a, (a - z * se, a + z * se), "wald-glm-cluster", y.size)
    if method == "profile":
        def loglik(t):
            eta = t + lp
            return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

        return Estimate(a, profile_interval(loglik, a, se, llf, confidence), "profile-likelihood", y.size)
    z = ndtri(0.5 + confidence / 2)
    return Estimate(a, (a - z * se, a + z * se), "wald-glm", y.size)


def calibration_slope(y, p, confidence: float = 0.95, method: str = "wald", clusters=None) -> Estimate:
    """Calibration slope: coefficient of ``logit(p)`` in a logistic model with an intercept.

    ``method="profile"`` profiles the intercept out (one intercept-only fit with offset ``b lp`` per
    evaluation) and gives the profile-likelihood interval; ``clusters`` gives Wald with the
    cluster-robust standard error. Under perfect separation the slope does not exist (the
    likelihood grows without bound): not estimable, with the reason.
    """
    y = np.asarray(y, dtype=float)
    if separated(y, p):
        return Estimate(np.nan, None, "wald-glm", y.size,
                        reason="not estimable: the predictions separate the outcomes perfectly, so the calibration slope is infinite")
    lp = _lp(p)
    X = np.column_stack([np.ones(y.size), lp])
    fit = GLM(y, X, family=Binomial()).fit(**_fit_kwargs(clusters))
    b, se, llf = float(fit.params[1]), float(fit.bse[1]), float(fit.llf)
    del fit
    release_fits(y.size)
    if clusters is not None:
        z = ndtri(0.5 + confidence / 2)
        return Estimate(b, (b - z * se, b + z * se), "wald-glm-cluster", y.size)
    if method == "profile":
        return Estimate(b, profile_interval(lambda t: _intercept_llf(y, t * lp)[2], b, se, llf, confidence), "profile-likelihood", y.size)
    z = ndtri(0.5 + confidence / 2)
    return Estimate(b, (b - z * se, b + z * se), "wald-glm", y.size)


def oe_ratio(y, p, confidence: float = 0.95, clusters=None) -> Estimate:
    """Observed over expected events with the log-scale interval of Debray et al. (BMJ 2017).

    With ``clusters``, the standard error of ``log(O/E)`` is the ratio estimator's cluster-robust
    one: ``sqrt(C/(C-1) sum_c (O_c - R E_c)^2) / (R E)`` with ``R = O/E`` and ``O_c``, ``E_c``
    the cluster totals (Cochran, *Sampling Techniques* 1977, sec. 6.4).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    o, e, n = y.sum(), float(np.sum(p)), y.size
    if o == 0 or e == 0:
        why = "not estimable: no expected events" if e == 0 else "no interval: no observed events (O:E is 0)"
        return Estimate(np.nan if e == 0 else 0.0, None, "log-wald", n, reason=why)
    z = ndtri(0.5 + confidence / 2)
    if clusters is not None:
        codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
        oc, ec = np.bincount(codes, weights=y), np.bincount(codes, weights=p)
        c, r = oc.size, o / e
        se = float(np.sqrt(c / max(c - 1, 1) * np.sum((oc - r * ec) ** 2)) / (r * e))
        return Estimate(r, (r * np.exp(-z * se), r * np.exp(z * se)), "log-wald-cluster", n)
    se = np.sqrt((1 - o / n) / o)
    return Estimate(o / e, (o / e * np.exp(-z * se), o / e * np.exp(z * se)), "log-wald", n)


def bin_edges(p, n_bins: int, strategy: str) -> np.ndarray:
    """Bin edges: ``uniform`` (equal width on [0, 1]) or ``quantile`` (equal mass)."""
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.quantile(np.asarray(p, dtype=float), np.linspace(0, 1, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
        return np.unique(edges)
    raise ValueError(f"unknown binning strategy {strategy!r}; use 'uniform' or 'quantile'")


def bin_index(p, edges: np.ndarray) -> np.ndarray:
    """Bin of each prediction; bins are ``[e_k, e_{k+1})``, the last one closed."""
    return np.clip(np.searchsorted(edges, np.asarray(p, dtype=float), side="right") - 1, 0, edges.size - 2)


class ECEStatistic:
    """Expected calibration error for the engine: ``W`` (B, n) of counts → (B, 1).

    Per replicate the bin sums of ``w``, ``w y`` and ``w p`` are one product with a fixed
    (n, 3K) matrix (``einsum``, not BLAS, so results are identical in any process).
    """

    def __init__(self, y, p, n_bins: int = 10, strategy: str = "uniform"):
        p = np.asarray(p, dtype=float)
        y = np.asarray(y, dtype=float)
        self.edges = bin_edges(p, n_bins, strategy)
        k = self.edges.size - 1
        onehot = np.zeros((p.size, k))
        onehot[np.arange(p.size), bin_index(p, self.edges)] = 1.0
        self._M = np.hstack([onehot, onehot * y[:, None], onehot * p[:, None]])
        self._k = k

    def __call__(self, W: np.ndarray) -> np.ndarray:
        sums = np.einsum("bn,nk->bk", np.atleast_2d(W).astype(float), self._M)
        k = self._k
        count, ysum, psum = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k :]
        return (np.abs(ysum - psum).sum(axis=1) / count.sum(axis=1))[:, None]


def ece(y, p, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Point estimate of the ECE."""
    return float(ECEStatistic(y, p, n_bins, strategy)(np.ones((1, np.size(y))))[0, 0])


@dataclass(frozen=True)
class SmoothedCalibration:
    """A lowess calibration curve and the ICI family of summaries."""

    p_sorted: np.ndarray
    smoothed: np.ndarray
    ici: float
    e50: float
    e90: float
    emax: float


def lowess_delta(p: np.ndarray) -> float:
    """The lowess ``delta`` of the calibration curves: 0.5% of the predictions' range above 5,000 points
    (fits between anchors that close are linear interpolations), else 0 (a fit at every point)."""
    return 0.005 * float(np.ptp(p)) if p.size > 5000 else 0.0


def smoothed_calibration(y, p, frac: float = 0.75) -> SmoothedCalibration:
    """Lowess of ``y`` on ``p`` (span ``frac``, no robustness iterations, ``delta`` by :func:`lowess_delta`),
    with ICI / E50 / E90 / Emax of ``|p_c - p|``. The smoother is :class:`audit.stats.lowess.LowessOperator`,
    statsmodels' ``lowess(y, p, frac, it=0, delta)`` to 1e-11 (tested)."""
    from .lowess import LowessOperator

    p = np.asarray(p, dtype=float)
    fitted = LowessOperator(p, frac, lowess_delta(p)).smooth(np.asarray(y, dtype=float))
    return _summaries(p, np.clip(fitted, 0.0, 1.0))


def _summaries(p: np.ndarray, fitted: np.ndarray) -> SmoothedCalibration:
    diff = np.abs(fitted - p)
    order = np.argsort(p, kind="stable")
    return SmoothedCalibration(
        p[order], fitted[order], float(diff.mean()), float(np.median(diff)), float(np.quantile(diff, 0.9)), float(diff.max())
    )


def expected_if_calibrated(p, n_bins: int, rng: np.random.Generator, simulations: int = 40, frac: float = 0.75) -> dict[str, float]:
    """Mean ICI and ECE of a *perfectly calibrated* model with these predictions: outcomes drawn as
    ``Bernoulli(p)`` ``simulations`` times. A binned or smoothed calibration error is never 0 in a
    finite sample, so an observed ECE of 0.109 in a group of 70 means nothing when a calibrated
    model shows 0.115 there; the report prints the two side by side (descriptive, not a test).

    Every simulated outcome vector is smoothed by the same lowess as :func:`smoothed_calibration`
    (:class:`audit.stats.lowess.LowessOperator`: one pass for all simulations instead of one lowess per
    simulation), and its ECE comes from per-bin sums.
    """
    return _with_simulations(None, p, n_bins, rng, simulations, frac)[1]


def smoothed_and_expected(y, p, n_bins: int, rng: np.random.Generator, simulations: int = 40,
                          frac: float = 0.75) -> tuple[SmoothedCalibration, dict[str, float]]:
    """:func:`smoothed_calibration` of ``y`` and :func:`expected_if_calibrated` (the same draws from ``rng``),
    from one pass of the lowess operator over the observed and the simulated outcomes together."""
    return _with_simulations(np.asarray(y, dtype=float), p, n_bins, rng, simulations, frac)


def _with_simulations(y, p, n_bins: int, rng: np.random.Generator, simulations: int, frac: float):
    from .lowess import BLOCK_CELLS, LowessOperator

    p = np.asarray(p, dtype=float)
    # (simulations, n) outcomes: one simulation's uniforms at a time (the same draws, in the same order, as one
    # (simulations, n) call), so no (simulations, n) array of floats is ever held
    draws = np.empty((simulations, p.size), dtype=bool)
    for s in range(simulations):
        np.less(rng.random(p.size), p, out=draws[s])
    smoother = LowessOperator(p, frac, lowess_delta(p))
    order = smoother.order
    sorted_p, sorted_draws = p[order], draws[:, order]
    first = 0 if y is None else 1  # column 0 holds the observed outcomes, when given
    sorted_y = None if y is None else y[order]

    def outcomes(points: slice) -> np.ndarray:
        simulated = sorted_draws[:, points].T
        return simulated if sorted_y is None else np.concatenate([sorted_y[points, None], simulated], axis=1)

    fits = smoother.anchor_fits(outcomes, simulations + first)
    distance = np.zeros(simulations)
    step = max(1, BLOCK_CELLS // (simulations + first))
    for lo in range(0, p.size, step):  # |p_c - p| summed over slices of the points: memory bounded at any n
        points = slice(lo, min(p.size, lo + step))
        distance += np.abs(np.clip(smoother.fitted_at(fits[:, first:], points), 0.0, 1.0) - sorted_p[points, None]).sum(axis=0)
    edges = bin_edges(p, n_bins, "uniform")
    bins = bin_index(p, edges)
    by_bin = np.argsort(bins, kind="stable")
    starts = np.searchsorted(bins[by_bin], np.arange(edges.size - 1))
    present = np.unique(bins)
    observed = np.add.reduceat(draws[:, by_bin].view(np.uint8), starts[present], axis=1, dtype=np.int64)  # events per bin
    expected = np.bincount(bins, weights=p, minlength=edges.size - 1)[present]
    eces = np.abs(observed - expected).sum(axis=1) / p.size
    summary = {"ici": float(np.mean(distance / p.size)), "ece": float(np.mean(eces)), "simulations": simulations}
    smooth = None
    if y is not None:
        fitted = np.empty(p.size)
        fitted[order] = smoother.fitted_at(fits[:, :1], slice(0, p.size))[:, 0]
        smooth = _summaries(p, np.clip(fitted, 0.0, 1.0))
    return smooth, summary


def spiegelhalter_z(y, p) -> tuple[float, float]:
    """Spiegelhalter's z and its two-sided p-value."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    den = np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    if den == 0:
        return float("nan"), float("nan")
    z = float(np.sum((y - p) * (1 - 2 * p)) / den)
    return z, float(2 * ndtr(-abs(z)))


def hosmer_lemeshow(y, p, groups: int = 10, validation: bool = True) -> tuple[float, int, float]:
    """Hosmer–Lemeshow ``C`` over groups of equal size by predicted risk: (statistic, df, p-value).

    On validation data (predictions not fitted to these outcomes) ``C`` is chi-square with ``g``
    degrees of freedom, the number of groups used; ``g - 2`` holds only for the data the model was
    fitted on (Hosmer & Lemeshow, *Applied Logistic Regression*, 2013, sec. 5.2.2). With ``g - 2``
    on external data the test rejected 10.8% of perfectly calibrated models at 5%.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    stat, used = 0.0, 0
    for idx in np.array_split(order, groups):
        if idx.size == 0:
            continue
        o, e, n = y[idx].sum(), p[idx].sum(), idx.size
        denom = e * (1 - e / n)
        if denom > 0:
            stat += (o - e) ** 2 / denom
            used += 1
    df = max(used if validation else used - 2, 1)
    return float(stat), df, float(chi2.sf(stat, df))


def brier_decomposition(y, p, n_bins: int = 10) -> dict[str, float]:
    """Murphy's reliability, resolution and uncertainty over equal-width bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    idx = bin_index(p, bin_edges(p, n_bins, "uniform"))
    n, ybar = y.size, y.mean()
    rel = res = 0.0
    for k in np.unique(idx):
        rows = idx == k
        nk = rows.sum()
        rel += nk * (p[rows].mean() - y[rows].mean()) ** 2
        res += nk * (y[rows].mean() - ybar) ** 2
    return {"reliability": rel / n, "resolution": res / n, "uncertainty": ybar * (1 - ybar), "brier": float(np.mean((p - y) ** 2))}


def binned_points(y, p, n_bins: int = 10, strategy: str = "quantile", confidence: float = 0.95) -> list[dict]:
    """Mean prediction and observed rate (Wilson CI) per bin, for the reliability diagram."""
    from .proportions import wilson_interval

    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    idx = bin_index(p, bin_edges(p, n_bins, strategy))
    out = []
    for k in np.unique(idx):
        rows = idx == k
        n, events = int(rows.sum()), int(y[rows].sum())
        lo, hi = wilson_interval(events, n, confidence)
        out.append({"predicted": float(p[rows].mean()), "observed": events / n, "ci": [lo, hi], "n": n})
    return out


def spline_calibration_curve(y, p, confidence: float = 0.95, df: int = 4, points: int = 60) -> dict[str, list[float]]:
    """Smoothed calibration curve with a pointwise confidence band, from one model fit.

    Logistic regression of ``y`` on a natural (restricted) cubic spline of ``logit(p)`` with ``df``
    degrees of freedom (patsy's ``cr``, centred), fitted with statsmodels' GLM; the curve and its
    Wald band (on the logit scale, mapped back) are evaluated on a grid from the 1st to the 99th
    percentile of ``p`` (Van Calster et al., J Clin Epidemiol 2016). Returns plain lists:
    ``predicted``, ``observed``, ``low``, ``high``; empty lists when the fit fails.
    """
    import warnings

    import patsy

    y = np.asarray(y, dtype=float)
    x = _lp(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            basis = patsy.dmatrix(f"cr(x, df={int(df)}, constraints='center')", {"x": x}, return_type="matrix")
            fit = GLM(y, np.asarray(basis), family=Binomial()).fit()
            grid = np.linspace(*np.quantile(np.asarray(p, dtype=float), [0.01, 0.99]), points)
            design = np.asarray(patsy.build_design_matrices([basis.design_info], {"x": _lp(grid)})[0])
            frame = fit.get_prediction(design).summary_frame(alpha=1 - confidence)
        del fit
    except Exception:  # noqa: BLE001 - separation or too few distinct predictions
        return {"predicted": [], "observed": [], "low": [], "high": []}
    finally:
        release_fits(y.size)
    return {
        "predicted": [float(v) for v in grid],
        "observed": frame["mean"].astype(float).tolist(),
        "low": frame["mean_ci_lower"].astype(float).tolist(),
        "high": frame["mean_ci_upper"].astype(float).tolist(),
    }
