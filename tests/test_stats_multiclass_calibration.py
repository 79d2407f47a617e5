"""Multiclass calibration (multinomial intercepts and slopes, top-label and classwise ICI / ECE) against the
binary module, direct minimisation of the likelihood, direct numpy computations and simulated truths."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax, ndtri, softmax

from audit.stats.calibration import calibration_intercept, calibration_slope
from audit.stats.multiclass_calibration import (
    classwise_calibration,
    linear_predictors,
    multinomial_calibration,
    top_label_calibration,
)

Z95 = float(ndtri(0.975))


def simulated(n: int, k: int, seed: int, stretch: float = 1.0, shift=0.0):
    """True probabilities softmax(L); outcomes drawn from them; the model reports softmax(stretch L + shift)."""
    rng = np.random.default_rng(seed)
    L = rng.normal(0.0, 1.0, (n, k)) * np.linspace(0.8, 1.4, k)
    truth = softmax(L, axis=1)
    y = (rng.random(n)[:, None] > truth.cumsum(axis=1)).sum(axis=1).clip(0, k - 1)
    return y, softmax(stretch * L + np.asarray(shift), axis=1)


def se(estimate) -> float:
    return (estimate.ci[1] - estimate.ci[0]) / (2 * Z95)


# -- multinomial calibration: against independent computations ---------------------------------


@pytest.mark.parametrize("reference", [0, 1])
def test_two_classes_give_the_binary_calibration_intercept_and_slope(reference):
    y, P = simulated(1500, 2, seed=3, stretch=1.6, shift=[0.0, -0.4])
    fit = multinomial_calibration(y, P, reference=reference)
    other = 1 - reference
    sign = 1.0 if reference == 0 else -1.0  # log(pi_0 / pi_1) is minus the binary logit
    a, b = calibration_intercept(y, P[:, 1]), calibration_slope(y, P[:, 1])
    assert fit.intercepts[other].value == pytest.approx(sign * a.value, abs=1e-6)
    assert se(fit.intercepts[other]) == pytest.approx(se(a), abs=1e-6)
    assert fit.slopes[other].value == pytest.approx(b.value, abs=1e-6)
    assert fit.slopes[other].ci == pytest.approx(b.ci, abs=1e-6)
    assert fit.slopes[other].method == "wald-multinomial" and fit.slopes[other].n == 1500


def negative_loglik(theta, y, LP, slopes: bool):
    """-sum_i log pi_{i, y_i} with log(pi_k / pi_0) = a_k + b_k LP_k (b_k = 1 without slopes), reference 0."""
    m = LP.shape[1]
    a, b = theta[:m], (theta[m:] if slopes else np.ones(m))
    eta = np.column_stack([np.zeros(len(y)), a + b * LP])
    return -log_softmax(eta, axis=1)[np.arange(len(y)), y].sum()


def numerical_hessian(f, x, h=1e-4):
    """Central second differences."""
    d = x.size
    H = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            ei, ej = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
    return H


@pytest.mark.parametrize("k", [3, 4])
@pytest.mark.parametrize("slopes", [False, True], ids=["intercepts", "slopes"])
def test_estimates_and_standard_errors_equal_a_direct_minimisation_and_a_numerical_hessian(k, slopes):
    y, P = simulated(800, k, seed=10 + k, stretch=1.5, shift=np.linspace(0, 0.6, k))
    LP = np.log(P[:, 1:] / P[:, :1])
    m = k - 1
    start = np.r_[np.zeros(m), np.ones(m)] if slopes else np.zeros(m)
    f = lambda t: negative_loglik(t, y, LP, slopes) / len(y)
    direct = minimize(f, start, method="BFGS", options={"gtol": 1e-9})
    cov = np.linalg.inv(numerical_hessian(lambda t: negative_loglik(t, y, LP, slopes), direct.x))
    fit = multinomial_calibration(y, P)
    ours = fit.slopes if slopes else fit.intercepts
    values = [ours[c].value for c in range(1, k)]
    ses = [se(ours[c]) for c in range(1, k)]
    expected = direct.x[m:] if slopes else direct.x
    expected_se = np.sqrt(np.diag(cov))[m:] if slopes else np.sqrt(np.diag(cov))
    assert values == pytest.approx(expected, abs=1e-4)
    assert ses == pytest.approx(expected_se, rel=1e-3)


# -- multinomial calibration: simulated truths ------------------------------------------------


def test_a_calibrated_model_gives_intercepts_near_0_and_slopes_near_1_inside_their_intervals():
    y, P = simulated(6000, 3, seed=5)  # one fixed sample; coverage over many is the test below
    fit = multinomial_calibration(y, P)
    for c in (1, 2):
        a, b = fit.intercepts[c], fit.slopes[c]
        assert abs(a.value) < 0.1 and abs(b.value - 1) < 0.1
        assert a.ci[0] < 0 < a.ci[1] and b.ci[0] < 1 < b.ci[1]


def test_wald_intervals_cover_the_ideal_values_about_95_percent_of_the_time():
    hits = []
    for seed in range(200):
        y, P = simulated(300, 3, seed=1000 + seed)
        fit = multinomial_calibration(y, P)
        hits += [fit.intercepts[c].ci[0] < 0 < fit.intercepts[c].ci[1] for c in (1, 2)]
        hits += [fit.slopes[c].ci[0] < 1 < fit.slopes[c].ci[1] for c in (1, 2)]
    assert 0.91 <= np.mean(hits) <= 0.99  # 800 correlated indicators: Monte-Carlo SE about 0.01


def test_an_overfit_model_gives_slopes_well_below_1():
    y, P = simulated(3000, 4, seed=2, stretch=2.0)
    fit = multinomial_calibration(y, P)
    for c in (1, 2, 3):
        assert fit.slopes[c].value == pytest.approx(0.5, abs=0.1)
        assert fit.slopes[c].ci[1] < 0.75


def test_a_shifted_class_gives_a_negative_intercept_for_that_class_only():
    y, P = simulated(4000, 3, seed=5, shift=[0.0, 0.0, 0.8])  # class 2 predicted too often (log-odds + 0.8)
    fit = multinomial_calibration(y, P)
    assert fit.intercepts[2].ci[1] < 0 < fit.intercepts[1].ci[1] and fit.intercepts[1].ci[0] < 0


# -- multinomial calibration: degenerate data never raise ---------------------------------------


def assert_not_estimable(estimate, words: str):
    assert np.isnan(estimate.value) and estimate.ci is None and words in estimate.reason


def test_an_absent_class_is_not_estimable_and_the_others_are_fitted_without_it():
    y, P = simulated(2000, 3, seed=6)
    y = np.where(y == 2, 1, y)
    fit = multinomial_calibration(y, P)
    assert_not_estimable(fit.intercepts[2], "no patient is in class 2")
    assert_not_estimable(fit.slopes[2], "no patient is in class 2")
    LP = np.log(P[:, 1:2] / P[:, :1])
    direct = minimize(lambda t: negative_loglik(t, y, LP, True) / len(y), np.r_[0, 1.0], method="BFGS",
                      options={"gtol": 1e-9})
    assert fit.slopes[1].value == pytest.approx(direct.x[1], abs=1e-4)


def test_an_absent_reference_class_or_no_patients_is_not_estimable():
    y, P = simulated(500, 3, seed=7)
    fit = multinomial_calibration(np.where(y == 0, 1, y), P)
    assert_not_estimable(fit.slopes[1], "reference class 0")
    assert_not_estimable(fit.intercepts[2], "choose another reference")
    empty = multinomial_calibration(np.zeros(0, int), np.zeros((0, 3)))
    assert_not_estimable(empty.slopes[1], "no patients")


def test_separation_is_not_estimable_for_two_and_three_classes():
    _, P = simulated(500, 2, seed=8)
    fit = multinomial_calibration((P[:, 1] > 0.5).astype(int), P)
    assert_not_estimable(fit.slopes[1], "separate")
    assert np.isnan(calibration_slope((P[:, 1] > 0.5).astype(int), P[:, 1]).value)
    _, P = simulated(500, 3, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = multinomial_calibration(np.argmax(P, axis=1), P)
    assert_not_estimable(fit.slopes[1], "separate")
    assert_not_estimable(fit.slopes[2], "separate")


def test_a_constant_linear_predictor_leaves_its_slope_not_estimable_and_its_intercept_exact():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 3, 400)
    P = np.tile([0.5, 0.3, 0.2], (400, 1))
    fit = multinomial_calibration(y, P)
    assert_not_estimable(fit.slopes[1], "same for every patient")
    observed = np.log(np.mean(y == 1) / np.mean(y == 0))
    assert fit.intercepts[1].value == pytest.approx(observed - np.log(0.3 / 0.5), abs=1e-8)


def test_probabilities_of_zero_are_clipped_before_the_logarithm():
    P = np.array([[0.0, 0.4, 0.6], [0.5, 0.5, 0.0]])
    LP = linear_predictors(P, reference=0, clip=1e-12)
    assert LP[0] == pytest.approx(np.log(np.array([0.4, 0.6]) / 1e-12))
    assert LP[1] == pytest.approx([0.0, np.log(1e-12 / 0.5)])
    y, P = simulated(1000, 3, seed=11)
    P[:50, 2], P[:50, 0] = 0.0, P[:50, 0] + P[:50, 2]
    fit = multinomial_calibration(y, P)
    assert all(np.isfinite(e.value) for e in (*fit.intercepts.values(), *fit.slopes.values()))


def test_results_serialise_to_json_and_bad_shapes_raise_value_error():
    y, P = simulated(300, 3, seed=12)
    out = json.loads(json.dumps(multinomial_calibration(y, P).to_dict()))
    assert set(out["slopes"]) == {"1", "2"} and out["slopes"]["1"]["method"] == "wald-multinomial"
    json.dumps(classwise_calibration(y, P).to_dict())
    with pytest.raises(ValueError):
        multinomial_calibration(y[:-1], P)
    with pytest.raises(ValueError):
        multinomial_calibration(np.full(300, 3), P)
    with pytest.raises(ValueError):
        multinomial_calibration(y, P, reference=3)


# -- top-label and classwise calibration --------------------------------------------------------


def direct_lowess(y, x, frac=0.75):
    """Local-linear lowess at each x_i written out (Cleveland, JASA 1979): the k = int(frac n) nearest points,
    tricube weights of distance / (distance of the k-th nearest), weighted least squares (weighted variance
    of x floored at 1e-12, as statsmodels). Where k points share x_i (zero-width neighbourhood) their mean
    outcome; with fewer than two positive weights y_i itself (Cleveland's convention). Clipped to [0, 1]."""
    n = x.size
    k = int(frac * n + 1e-10)
    out = np.empty(n)
    for i in range(n):
        d = np.abs(x - x[i])
        h = np.sort(d)[k - 1]
        if h == 0:
            out[i] = y[d == 0].mean()
            continue
        w = np.where(d < h, (1 - (d / h) ** 3) ** 3, 0.0)
        if np.sum(w > 1e-12) < 2:
            out[i] = y[i]
            continue
        w = w / w.sum()
        xbar = np.sum(w * x)
        slope = np.sum(w * (x - xbar) * y) / max(np.sum(w * (x - xbar) ** 2), 1e-12)
        out[i] = np.sum(w * y) + slope * (x[i] - xbar)
    return np.clip(out, 0, 1)


def direct_ece(y, p, n_bins=10):
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        rows = (p >= lo) & ((p < hi) if b < n_bins - 1 else (p <= hi))
        if rows.any():
            total += rows.sum() / p.size * abs(y[rows].mean() - p[rows].mean())
    return total


def test_top_label_equals_a_direct_numpy_computation():
    y, P = simulated(300, 3, seed=20, stretch=1.7)
    conf = np.array([max(row) for row in P])
    correct = np.array([float(list(row).index(max(row)) == t) for row, t in zip(P, y)])
    res = top_label_calibration(y, P)
    assert res.ici == pytest.approx(np.mean(np.abs(direct_lowess(correct, conf) - conf)), abs=1e-9)
    assert res.ece == pytest.approx(direct_ece(correct, conf), abs=1e-12)
    assert res.events == correct.sum() and res.mean_predicted == pytest.approx(conf.mean())
    assert sum(pt["n"] for pt in res.points) == 300 and len(res.points) <= 10
    assert len(res.curve["predicted"]) == 50 and np.all(np.diff(res.curve["predicted"]) >= 0)
    assert "lowess" in res.estimator and res.bins == "10 equal-width bins of [0, 1]"


def test_top_label_ties_go_to_the_first_class():
    P = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.1, 0.2, 0.7], [0.6, 0.2, 0.2]])
    assert top_label_calibration([1, 0, 2, 0], P).events == 3


def test_classwise_equals_a_direct_numpy_computation_and_averages_over_the_classes():
    y, P = simulated(300, 4, seed=21, shift=[0.5, 0, 0, -0.5])
    res = classwise_calibration(y, P, n_bins=8)
    icis, eces = [], []
    for c in range(4):
        outcome = (y == c).astype(float)
        icis.append(np.mean(np.abs(direct_lowess(outcome, P[:, c]) - P[:, c])))
        eces.append(direct_ece(outcome, P[:, c], 8))
        assert res.classes[c].ici == pytest.approx(icis[-1], abs=1e-9)
        assert res.classes[c].ece == pytest.approx(eces[-1], abs=1e-12)
        assert len(res.classes[c].points) <= 8
    assert res.mean_ici == pytest.approx(np.mean(icis)) and res.mean_ece == pytest.approx(np.mean(eces))
    assert res.average == "unweighted mean over the K classes"


def test_a_prediction_value_shared_by_most_patients_is_smoothed_to_their_observed_rate():
    """Lowess has a zero-width neighbourhood there (statsmodels then returns one patient's outcome)."""
    rng = np.random.default_rng(22)
    n = 300
    p2 = np.where(rng.random(n) < 0.8, 0.3, rng.uniform(0.05, 0.6, n))  # class 2: mostly one rounded value
    P = np.column_stack([(1 - p2) * 0.6, (1 - p2) * 0.4, p2])
    y = np.where(rng.random(n) < p2, 2, rng.integers(0, 2, n))
    res = classwise_calibration(y, P).classes[2]
    outcome = (y == 2).astype(float)
    assert res.ici == pytest.approx(np.mean(np.abs(direct_lowess(outcome, p2) - p2)), abs=1e-9)
    assert res.ici < 0.1  # the raw lowess gives about 0.27 here


def test_a_calibrated_model_gives_a_small_ici_and_a_miscalibrated_one_a_large_ici():
    y, P = simulated(3000, 3, seed=23)
    y_bad, P_bad = simulated(3000, 3, seed=23, stretch=3.0, shift=[0.8, 0, 0])
    good_top, bad_top = top_label_calibration(y, P), top_label_calibration(y_bad, P_bad)
    good_cls, bad_cls = classwise_calibration(y, P), classwise_calibration(y_bad, P_bad)
    assert good_top.ici < 0.03 and good_cls.mean_ici < 0.03
    assert bad_top.ici > 0.1 and bad_cls.mean_ici > 0.07
    assert good_top.ece < 0.05 and bad_top.ece > 0.1


def test_no_patients_give_nan_without_raising():
    res = top_label_calibration(np.zeros(0, int), np.zeros((0, 3)))
    assert np.isnan(res.ici) and np.isnan(res.ece) and res.points == () and res.n == 0
    assert np.isnan(classwise_calibration(np.zeros(0, int), np.zeros((0, 3))).mean_ici)
