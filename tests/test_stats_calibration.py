"""Calibration statistics against independent implementations and simulated truths."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from audit.stats import ResamplingEngine, resample_counts, strata_codes
from audit.stats.calibration import (
    ECEStatistic,
    brier_decomposition,
    calibration_intercept,
    calibration_slope,
    ece,
    hosmer_lemeshow,
    oe_ratio,
    smoothed_calibration,
    spiegelhalter_z,
)


def simulated(n, seed, stretch=1.0, shift=0.0):
    """True risk expit(lp); the model reports expit(stretch * lp + shift)."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.5, 1.2, n)
    y = (rng.random(n) < expit(lp)).astype(int)
    return y, expit(stretch * lp + shift)


def newton_logistic(y, X, offset):
    """Plain Newton–Raphson for a logistic model (an implementation independent of statsmodels)."""
    beta = np.zeros(X.shape[1])
    for _ in range(50):
        mu = expit(X @ beta + offset)
        grad = X.T @ (y - mu)
        hess = X.T @ (X * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    cov = np.linalg.inv(X.T @ (X * (mu * (1 - mu))[:, None]))
    return beta, np.sqrt(np.diag(cov))


def test_intercept_and_slope_equal_a_newton_raphson_fit_on_reference_data(refdata):
    d = pd.read_csv(refdata / "synpm_validation.csv")
    lp = -3.995452 + 0.011509 * d.Age + 0.267381 * d.SexM + 0.751189 * d.Smoking_Status + 0.523100 * d.Diabetes + 0.578124 * d.Creatinine
    y, p = d["Y"].to_numpy(), expit(lp.to_numpy())
    b, se = newton_logistic(y, np.ones((y.size, 1)), logit(p))
    a = calibration_intercept(y, p)
    assert a.value == pytest.approx(b[0], abs=1e-8)
    assert a.ci == pytest.approx((b[0] - 1.959964 * se[0], b[0] + 1.959964 * se[0]), abs=1e-6)
    b2, se2 = newton_logistic(y, np.column_stack([np.ones(y.size), logit(p)]), np.zeros(y.size))
    s = calibration_slope(y, p)
    assert s.value == pytest.approx(b2[1], abs=1e-8)
    assert s.ci == pytest.approx((b2[1] - 1.959964 * se2[1], b2[1] + 1.959964 * se2[1]), abs=1e-6)


def test_perfectly_calibrated_model_gives_intercept_0_and_slope_1_within_their_cis():
    y, p = simulated(20_000, 1)
    a, s = calibration_intercept(y, p), calibration_slope(y, p)
    assert a.ci[0] <= 0 <= a.ci[1] and s.ci[0] <= 1 <= s.ci[1]
    o = oe_ratio(y, p)
    assert o.ci[0] <= 1 <= o.ci[1]


def test_over_confident_model_logit_times_two_gives_slope_one_half():
    y, p = simulated(20_000, 2, stretch=2.0)
    s = calibration_slope(y, p)
    assert s.value == pytest.approx(0.5, abs=0.03) and s.ci[1] < 1


def test_too_high_risks_give_a_negative_intercept_and_oe_below_one():
    y, p = simulated(20_000, 3, shift=1.0)
    assert calibration_intercept(y, p).ci[1] < 0 and oe_ratio(y, p).ci[1] < 1


def reference_ece(y, p, edges):
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = [i for i in range(len(p)) if lo <= p[i] < hi or (hi == edges[-1] and p[i] == hi)]
        if rows:
            total += len(rows) / len(p) * abs(np.mean(y[rows]) - np.mean(p[rows]))
    return total


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_equals_a_plain_loop_and_bootstraps_with_weights(strategy):
    y, p = simulated(700, 4, stretch=1.5)
    stat = ECEStatistic(y, p, 10, strategy)
    assert ece(y, p, 10, strategy) == pytest.approx(reference_ece(y, p, stat.edges), abs=1e-12)
    W = next(resample_counts(strata_codes(y), 3, 1, "ece"))
    for b in range(3):
        idx = np.repeat(np.arange(y.size), W[b])
        assert stat(W[b : b + 1])[0, 0] == pytest.approx(reference_ece(y[idx], p[idx], stat.edges), abs=1e-12)
    # why no interval is reported: resampled ECEs lie mostly above the estimate
    res = ResamplingEngine(seed=1, n_resamples=200, method="percentile").bootstrap(stat, y, "ece")
    assert np.mean(res.replicates[:, 0] > res.estimate[0]) > 0.75


def test_ici_is_small_for_a_calibrated_model_and_large_for_a_miscalibrated_one():
    good = smoothed_calibration(*simulated(5000, 5))
    bad = smoothed_calibration(*simulated(5000, 5, stretch=2.5, shift=0.5))
    assert good.ici < 0.02 < bad.ici and good.e50 <= good.e90 <= good.emax


def test_spiegelhalter_and_hosmer_lemeshow_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.3, 0.5, 0.6, 0.6, 0.7, 0.8, 0.9])
    z, _ = spiegelhalter_z(y, p)
    num = sum((yi - pi) * (1 - 2 * pi) for yi, pi in zip(y, p))
    den = np.sqrt(sum((1 - 2 * pi) ** 2 * pi * (1 - pi) for pi in p))
    assert z == pytest.approx(num / den, abs=1e-12)
    c, df, _ = hosmer_lemeshow(y, p, groups=2)  # groups {first 5}, {last 5}
    o1, e1, o2, e2 = 2, 1.4, 4, 3.6
    assert c == pytest.approx((o1 - e1) ** 2 / (e1 * (1 - e1 / 5)) + (o2 - e2) ** 2 / (e2 * (1 - e2 / 5)), abs=1e-12)
    assert df == 2  # validation data: g degrees of freedom
    assert hosmer_lemeshow(y, p, groups=2, validation=False)[1] == 1  # apparent (development) data: g - 2, at least 1


def test_hosmer_lemeshow_with_g_df_rejects_about_5_percent_of_calibrated_models_on_validation_data():
    from audit.stats.calibration import hosmer_lemeshow as hl

    rng = np.random.default_rng(3)
    rejections = []
    for _ in range(400):
        p = rng.beta(2, 5, 500)
        y = (rng.random(500) < p).astype(int)
        rejections.append(hl(y, p)[2] < 0.05)
    assert np.mean(rejections) < 0.085  # with g - 2 df it was about 0.11


def test_brier_decomposition_is_close_to_the_brier_score():
    y, p = simulated(5000, 6, stretch=1.3)
    d = brier_decomposition(y, p, 20)
    assert d["reliability"] - d["resolution"] + d["uncertainty"] == pytest.approx(d["brier"], abs=0.01)


def test_spline_calibration_band_covers_the_diagonal_for_a_calibrated_model_and_not_for_an_overconfident_one():
    from audit.stats.calibration import spline_calibration_curve

    good = spline_calibration_curve(*simulated(4000, 7))
    inside = np.mean([lo <= x <= hi for x, lo, hi in zip(good["predicted"], good["low"], good["high"])])
    assert inside > 0.9
    bad = spline_calibration_curve(*simulated(4000, 7, stretch=2.5))
    outside = np.mean([not (lo <= x <= hi) for x, lo, hi in zip(bad["predicted"], bad["low"], bad["high"])])
    assert outside > 0.5


@pytest.mark.parametrize("which", ["intercept", "slope"])
def test_profile_likelihood_intervals_equal_a_grid_search_of_the_deviance(which):
    y, p = simulated(150, 8, stretch=1.4)
    lp = logit(p)
    fn = calibration_intercept if which == "intercept" else calibration_slope
    est = fn(y, p, method="profile")
    assert est.method == "profile-likelihood"

    def profile(t):  # independent: Newton fits of the nuisance intercept
        if which == "intercept":
            eta = t + lp
        else:
            (a,), _ = newton_logistic(y, np.ones((y.size, 1)), t * lp)
            eta = a + t * lp
        return np.sum(y * eta - np.log1p(np.exp(eta)))

    grid = np.linspace(est.value - 3, est.value + 3, 6001)
    ll = np.array([profile(t) for t in grid])
    inside = grid[2 * (ll.max() - ll) <= 3.841458820694124]
    assert est.ci == pytest.approx((inside.min(), inside.max()), abs=2e-3)
    wald = fn(y, p)
    assert est.ci != pytest.approx(wald.ci, abs=1e-4)  # a different interval, not Wald relabelled


def test_expected_calibration_error_of_a_calibrated_model_matches_what_a_calibrated_model_shows():
    from audit.stats.calibration import expected_if_calibrated, smoothed_calibration

    rng = np.random.default_rng(12)
    observed, expected = [], []
    for _ in range(30):
        p = rng.beta(2, 5, 70)
        y = (rng.random(70) < p).astype(float)
        observed.append(ece(y, p, 10, "uniform"))
        expected.append(expected_if_calibrated(p, 10, rng, simulations=20)["ece"])
    # a calibrated group of 70 has an ECE of about 0.1 by chance alone, and the expectation says so
    assert np.mean(expected) > 0.05 and abs(np.mean(observed) - np.mean(expected)) < 0.02
    p = rng.beta(2, 5, 300)
    y = (rng.random(300) < np.clip(p + 0.25, 0, 1)).astype(float)  # risks 0.25 too low
    assert smoothed_calibration(y, p).ici > 3 * expected_if_calibrated(p, 10, rng)["ici"]
