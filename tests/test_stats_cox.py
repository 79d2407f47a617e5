"""Cox regression (audit.stats.cox) against statsmodels' PHReg (Efron's ties), lifelines, plain loops and hand
calculations of Harrell's restricted cubic splines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsmodels.duration.hazard_regression import PHReg

from audit.stats.cox import KNOT_QUANTILES, baseline_cumhaz, cox_fit, rcs_basis, rcs_knots


def data(n=250, p=3, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t = rng.exponential(np.exp(-X @ np.linspace(0.5, -0.3, p)))
    c = rng.uniform(0.3, 3, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    if ties:
        time = np.ceil(time * 5) / 5  # about 15 distinct times: many tied events, and censorings tied with events
    return X, time, event


def phreg(X, time, event):
    return PHReg(time, X, status=event, ties="efron").fit()


# ---------------------------------------------------------------------------------------------- cox_fit


@pytest.mark.parametrize("ties", [True, False])
@pytest.mark.parametrize("p", [1, 3])
def test_cox_fit_equals_statsmodels_phreg_efron(p, ties):
    X, time, event = data(p=p, ties=ties)
    if ties:
        assert np.unique(time[event == 1], return_counts=True)[1].max() > 10
    fit = cox_fit(X, time, event)
    ref = phreg(X, time, event)
    assert fit.beta.shape == (1, p) and fit.cov.shape == (1, p, p) and fit.converged.tolist() == [True]
    np.testing.assert_allclose(fit.beta[0], ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.cov[0], ref.cov_params(), rtol=0, atol=1e-10)
    assert fit.loglik[0] == pytest.approx(ref.llf, abs=1e-8)


def test_each_row_of_counts_is_the_fit_on_the_data_with_rows_repeated():
    X, time, event = data(n=120, p=2)
    W = np.random.default_rng(1).multinomial(120, np.full(120, 1 / 120), size=5)  # zeros and repeats, tied copies
    fit = cox_fit(X, time, event, W)
    assert fit.beta.shape == (5, 2) and fit.converged.all()
    for b in range(5):
        rows = np.repeat(np.arange(120), W[b])
        ref = phreg(X[rows], time[rows], event[rows])
        np.testing.assert_allclose(fit.beta[b], ref.params, rtol=0, atol=1e-8)
        np.testing.assert_allclose(fit.cov[b], ref.cov_params(), rtol=0, atol=1e-10)
        assert fit.loglik[b] == pytest.approx(ref.llf, abs=1e-8)


def test_the_order_of_rows_and_of_resamples_does_not_matter():
    X, time, event = data(n=80, p=2)
    W = np.random.default_rng(2).multinomial(80, np.full(80, 1 / 80), size=4)
    fit = cox_fit(X, time, event, W)
    perm = np.random.default_rng(3).permutation(80)
    shuffled = cox_fit(X[perm], time[perm], event[perm], W[::-1][:, perm])
    np.testing.assert_allclose(shuffled.beta[::-1], fit.beta, rtol=0, atol=1e-10)
    alone = cox_fit(X, time, event, W[2:3])
    np.testing.assert_allclose(alone.beta[0], fit.beta[2], rtol=0, atol=1e-12)


def test_non_integer_weights_follow_rs_convention_constant_weights_scale_the_likelihood():
    # R coxph with case weights: m tied rows, each Efron term times the rows' mean weight. Constant weights 1.5
    # therefore give 1.5 (log L - d log 1.5) (d events) and 1.5 times the information, and the same coefficients.
    X, time, event = data(n=150, p=2)
    plain, weighted = cox_fit(X, time, event), cox_fit(X, time, event, np.full((1, 150), 1.5))
    np.testing.assert_allclose(weighted.beta, plain.beta, rtol=0, atol=1e-9)
    np.testing.assert_allclose(weighted.cov * 1.5, plain.cov, rtol=1e-8)
    assert weighted.loglik[0] == pytest.approx(1.5 * (plain.loglik[0] - event.sum() * np.log(1.5)), rel=1e-10)


def weighted_efron_loglik_loop(X, time, event, w, beta):
    """R coxph's weighted Efron log partial likelihood (coxfit6.c), event time by event time: m tied event rows,
    each of the m log terms times their mean weight."""
    eta = X @ beta
    total = 0.0
    for t in np.unique(time[event == 1]):
        tied = (time == t) & (event == 1) & (w > 0)
        m = int(tied.sum())
        S0 = np.sum(w[time >= t] * np.exp(eta[time >= t]))
        S0D = np.sum(w[tied] * np.exp(eta[tied]))
        mean_w = w[tied].sum() / m
        total += np.sum(w[tied] * eta[tied]) - sum(mean_w * np.log(S0 - l / m * S0D) for l in range(m))
    return total


def test_real_weights_maximise_rs_weighted_efron_likelihood():
    X, time, event = data(n=90, p=2)
    w = np.random.default_rng(8).uniform(0.2, 2.0, size=90)
    fit = cox_fit(X, time, event, w[None, :])
    beta = fit.beta[0]
    assert fit.loglik[0] == pytest.approx(weighted_efron_loglik_loop(X, time, event, w, beta), abs=1e-10)
    loglik = lambda b: weighted_efron_loglik_loop(X, time, event, w, b)  # noqa: E731
    h, E = 1e-5, np.eye(2)
    grad = [(loglik(beta + h * e) - loglik(beta - h * e)) / (2 * h) for e in E]
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)
    hess = [[(loglik(beta + h * (e + f)) - loglik(beta + h * (e - f)) - loglik(beta - h * (e - f)) + loglik(beta - h * (e + f)))
             / (4 * h * h) for f in E] for e in E]
    np.testing.assert_allclose(np.linalg.inv(-np.array(hess)), fit.cov[0], rtol=1e-4)


def test_impossible_fits_give_nan_not_an_error():
    X, time, event = data(n=60, p=1)
    W = np.ones((3, 60))
    W[1, event == 1] = 0  # a resample without events
    W[2] = 0  # an empty resample
    fit = cox_fit(X, time, event, W)
    assert fit.converged.tolist() == [True, False, False]
    assert np.isfinite(fit.beta[0]).all() and np.isnan(fit.beta[1:]).all() and np.isnan(fit.cov[1:]).all()
    assert np.isnan(fit.loglik[1:]).all()

    constant = cox_fit(np.column_stack([X[:, 0], np.full(60, 0.1)]), time, event)  # not identifiable
    assert np.isnan(constant.beta).all() and np.isnan(constant.cov).all() and not constant.converged[0]

    no_events = cox_fit(X, time, np.zeros(60, dtype=int))
    assert np.isnan(no_events.beta).all() and not no_events.converged[0]


def test_a_diverging_coefficient_is_not_reported_as_a_fit():
    # monotone likelihood: the group g = 1 has no events, so its log hazard ratio runs to -infinity
    rng = np.random.default_rng(3)
    g = (rng.random(100) < 0.3).astype(float)
    time, event = rng.exponential(1, size=100), (rng.random(100) < 0.7).astype(int)
    event[g == 1] = 0
    fit = cox_fit(np.column_stack([g, rng.normal(size=100)]), time, event)
    assert not fit.converged[0] and np.isnan(fit.beta).all()


def test_bootstrap_rows_fail_exactly_when_the_likelihood_is_monotone():
    rng = np.random.default_rng(5)
    g = np.r_[np.ones(6), np.zeros(34)]
    time, event = rng.exponential(1, size=40), np.ones(40, dtype=int)
    event[g == 1] = [1, 1, 0, 0, 0, 0]
    W = rng.multinomial(40, np.full(40, 1 / 40), size=300)
    fit = cox_fit(g, time, event, W)
    monotone = W[:, (g == 1) & (event == 1)].sum(axis=1) == 0  # no event of the group g = 1 drawn
    assert 0 < monotone.sum() < 300
    np.testing.assert_array_equal(~fit.converged, monotone)
    for b in np.flatnonzero(~monotone)[:3]:
        rows = np.repeat(np.arange(40), W[b])
        assert fit.beta[b, 0] == pytest.approx(phreg(g[rows, None], time[rows], event[rows]).params[0], abs=1e-7)


def test_bad_inputs_raise():
    X, time, event = data(n=30, p=2)
    with pytest.raises(ValueError):
        cox_fit(X[:20], time, event)
    with pytest.raises(ValueError):
        cox_fit(X, time, event, -np.ones((1, 30)))
    with pytest.raises(ValueError):
        cox_fit(X, time, event, np.ones((2, 29)))
    with pytest.raises(ValueError):
        cox_fit(X, -time, event)


def test_cox_fit_equals_lifelines_on_its_bundled_rossi_data():
    lifelines = pytest.importorskip("lifelines")  # an optional cross-check: lifelines pins pandas < 3
    from lifelines.datasets import load_rossi

    rossi = load_rossi()  # recidivism (Rossi, Berk & Lenihan 1980), shipped with lifelines: ties of up to 5 events
    covariates = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    fit = cox_fit(rossi[covariates].to_numpy(float), rossi["week"].to_numpy(float), rossi["arrest"].to_numpy())
    ref = lifelines.CoxPHFitter().fit(rossi, "week", "arrest")  # Efron's ties
    np.testing.assert_allclose(fit.beta[0], ref.params_[covariates].to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.cov[0], ref.variance_matrix_.loc[covariates, covariates].to_numpy(), rtol=0, atol=1e-8)
    assert fit.loglik[0] == pytest.approx(ref.log_likelihood_, abs=1e-6)


# ---------------------------------------------------------------------------------------------- baseline_cumhaz


def efron_baseline_loop(time, event, lp, at):
    """Efron's baseline cumulative hazard written out event time by event time."""
    H = 0.0
    risk = np.exp(lp)
    for t in np.unique(time[(event == 1) & (time <= at)]):
        tied = (time == t) & (event == 1)
        d = int(tied.sum())
        S0, S0D = risk[time >= t].sum(), risk[tied].sum()
        H += sum(1.0 / (S0 - l / d * S0D) for l in range(d))
    return H


def test_baseline_cumulative_hazard_is_efrons():
    X, time, event = data(p=2)
    lp = X @ cox_fit(X, time, event).beta[0]
    at = [0.1, 0.4, 1.0, 1.1, 2.2, 10.0]  # before the first event, at event times, between them, after the last
    expected = [efron_baseline_loop(time, event, lp, a) for a in at]
    np.testing.assert_allclose(baseline_cumhaz(time, event, lp, at), expected, rtol=1e-13, atol=0)
    assert baseline_cumhaz(time, event, lp, at).shape == (6,)
    assert baseline_cumhaz(time, event, lp, 0.4) == pytest.approx(expected[1], rel=1e-13)


def test_baseline_cumulative_hazard_with_counts_is_the_one_on_repeated_rows():
    X, time, event = data(n=100, p=2)
    W = np.random.default_rng(4).multinomial(100, np.full(100, 1 / 100), size=3)
    fit = cox_fit(X, time, event, W)
    lp = fit.beta @ X.T  # (3, n): each resample's own linear predictor
    at = [0.6, 1.4, 3.0]
    ours = baseline_cumhaz(time, event, lp, at, counts=W)
    assert ours.shape == (3, 3)
    for b in range(3):
        rows = np.repeat(np.arange(100), W[b])
        expected = [efron_baseline_loop(time[rows], event[rows], lp[b, rows], a) for a in at]
        np.testing.assert_allclose(ours[b], expected, rtol=1e-12, atol=0)


def test_baseline_cumulative_hazard_without_ties_equals_statsmodels_breslow():
    # statsmodels reports Breslow's estimator (Efron's without ties) at the uncentred linear predictor X beta; its
    # table is left-continuous: the value listed at the i-th event time is ours at the (i-1)-th.
    X, time, event = data(n=200, p=2, ties=False)
    ref = phreg(X, time, event)
    times, H, _ = ref.baseline_cumulative_hazard[0]
    ours = baseline_cumhaz(time, event, X @ ref.params, times)
    assert H[0] == 0.0
    np.testing.assert_allclose(ours[:-1], H[1:], rtol=1e-12, atol=0)


def test_baseline_cumulative_hazard_without_ties_equals_lifelines_breslow():
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd

    X, time, event = data(p=2, ties=False)  # without ties Efron's baseline is Breslow's, which lifelines gives
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(time=time, event=event)
    ref = lifelines.CoxPHFitter(baseline_estimation_method="breslow").fit(frame, "time", "event")
    beta = ref.params_[["a", "b"]].to_numpy()
    centred = (X - X.mean(axis=0)) @ beta  # lifelines' baseline is at the covariates' means
    steps = ref.baseline_cumulative_hazard_
    for a in (0.3, 0.9, 1.7):
        expected = steps.iloc[np.searchsorted(steps.index.to_numpy(), a, side="right") - 1, 0]
        assert baseline_cumhaz(time, event, centred, [a])[0] == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------------------------------- splines


def harrell_term(v, t, j):
    """Harrell (2015) eq. 2.25 for one value and one term, written out."""
    k = len(t)
    pos3 = lambda u: max(u, 0.0) ** 3  # noqa: E731
    return (pos3(v - t[j]) - pos3(v - t[k - 2]) * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
            + pos3(v - t[k - 1]) * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2])) / (t[k - 1] - t[0]) ** 2


def test_restricted_cubic_spline_terms():
    # by hand, knots 0, 1, 9: the term is (x^3 - (x - 1)^3 9/8 + (x - 9)^3 / 8) / 81 with each cube taken for x > knot
    x = np.array([-1.0, 0.0, 0.5, 1.0, 4.0, 9.0, 12.0])
    by_hand = [0.0, 0.0, 0.125 / 81, 1 / 81, (64 - 27 * 9 / 8) / 81, (729 - 512 * 9 / 8) / 81,
               (1728 - 1331 * 9 / 8 + 27 / 8) / 81]
    np.testing.assert_allclose(rcs_basis(x, [0.0, 1.0, 9.0])[:, 0], by_hand, rtol=1e-14, atol=1e-16)
    assert by_hand[4] == pytest.approx(0.41512345679, abs=1e-11)

    knots = np.array([-2.0, -0.5, 0.3, 1.0, 2.5])
    values = np.linspace(-4, 5, 37)
    basis = rcs_basis(values, knots)
    assert basis.shape == (37, 3)
    expected = [[harrell_term(v, knots, j) for j in range(3)] for v in values]
    np.testing.assert_allclose(basis, expected, rtol=1e-12, atol=1e-15)
    # linear beyond the last knot, zero before the first
    tail = rcs_basis(np.array([3.0, 4.0, 5.0]), knots)
    np.testing.assert_allclose(tail[2] - 2 * tail[1] + tail[0], 0.0, atol=1e-12)
    assert np.all(rcs_basis(np.array([-3.0, -2.0]), knots) == 0.0)
    with pytest.raises(ValueError):
        rcs_basis(values, [0.0, 1.0])
    with pytest.raises(ValueError):
        rcs_basis(values, [0.0, 2.0, 1.0])


def test_restricted_cubic_spline_knots_are_hmiscs_defaults():
    assert KNOT_QUANTILES[3] == pytest.approx((0.10, 0.50, 0.90))
    assert KNOT_QUANTILES[4] == pytest.approx((0.05, 0.35, 0.65, 0.95))
    assert KNOT_QUANTILES[5] == pytest.approx((0.05, 0.275, 0.50, 0.725, 0.95))
    assert KNOT_QUANTILES[6] == pytest.approx((0.05, 0.23, 0.41, 0.59, 0.77, 0.95))
    assert KNOT_QUANTILES[7] == pytest.approx((0.025, 0.18333, 0.34167, 0.50, 0.65833, 0.81667, 0.975), abs=1e-5)
    # x = 1..100 (n = 100: plain type-7 quantiles 1 + 99 q)
    np.testing.assert_allclose(rcs_knots(np.arange(1.0, 101.0), 4), [5.95, 35.65, 65.35, 95.05], rtol=1e-14)
    values = np.random.default_rng(6).normal(size=1000)
    np.testing.assert_allclose(rcs_knots(values, 5), np.quantile(values, [0.05, 0.275, 0.5, 0.725, 0.95]), rtol=1e-14)
    # fewer than 100 values: the outer knots are the 5th smallest and the 5th largest value
    np.testing.assert_allclose(rcs_knots(np.arange(1.0, 51.0)[::-1], 3), [5.0, 25.5, 46.0], rtol=1e-14)
    np.testing.assert_allclose(rcs_knots(np.r_[np.arange(1.0, 51.0), np.nan], 3), [5.0, 25.5, 46.0], rtol=1e-14)
    with pytest.raises(ValueError):
        rcs_knots(np.r_[np.zeros(95), np.ones(5)], 3)  # only two distinct values
    with pytest.raises(ValueError):
        rcs_knots(np.arange(5.0), 3)
    with pytest.raises(ValueError):
        rcs_knots(np.arange(100.0), 8)


def test_no_warnings_on_ordinary_use():
    X, time, event = data(n=100, p=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = cox_fit(X, time, event, np.random.default_rng(7).multinomial(100, np.full(100, 0.01), size=10))
        baseline_cumhaz(time, event, fit.beta @ X.T, [1.0], counts=np.ones((10, 100)))
