"""Cox regression (audit.stats.cox) against statsmodels' PHReg (Efron's ties), lifelines, and plain loops."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.duration.hazard_regression import PHReg

from audit.stats.cox import baseline_cumhaz, cox_fit, rcs_basis, rcs_knots


def data(n=250, p=3, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t = rng.exponential(np.exp(-X @ np.linspace(0.5, -0.3, p)))
    c = rng.uniform(0.3, 3, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    if ties:
        time = np.ceil(time * 5) / 5
    return X, time, event


@pytest.mark.parametrize("p, ties", [(1, True), (3, True), (3, False)])
def test_cox_fit_equals_statsmodels_phreg_efron(p, ties):
    X, time, event = data(p=p, ties=ties)
    fit = cox_fit(X, time, event)
    ref = PHReg(time, X, status=event, ties="efron").fit()
    assert np.allclose(fit.beta[0], ref.params, atol=1e-8)
    assert np.allclose(fit.cov[0], ref.cov_params(), atol=1e-10)
    assert fit.loglik[0] == pytest.approx(ref.llf, abs=1e-8)


def test_each_row_of_counts_is_the_fit_on_repeated_rows():
    X, time, event = data(n=120, p=2)
    W = np.random.default_rng(1).multinomial(120, np.full(120, 1 / 120), size=5)
    fit = cox_fit(X, time, event, W)
    for b in range(5):
        rows = np.repeat(np.arange(120), W[b])
        ref = PHReg(time[rows], X[rows], status=event[rows], ties="efron").fit()
        assert np.allclose(fit.beta[b], ref.params, atol=1e-8)
        assert np.allclose(fit.cov[b], ref.cov_params(), atol=1e-10)


def test_cox_fit_equals_lifelines_on_its_bundled_rossi_data():
    lifelines = pytest.importorskip("lifelines")
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    covariates = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    fit = cox_fit(rossi[covariates].to_numpy(float), rossi["week"].to_numpy(float), rossi["arrest"].to_numpy())
    ref = lifelines.CoxPHFitter().fit(rossi, "week", "arrest")
    assert np.allclose(fit.beta[0], ref.params_[covariates].to_numpy(), atol=1e-6)


def efron_baseline_loop(time, event, lp, at):
    """Efron's baseline hazard increments, written out event time by event time."""
    H = 0.0
    risk = np.exp(lp)
    for t in np.unique(time[(event == 1) & (time <= at)]):
        tied = (time == t) & (event == 1)
        d = int(tied.sum())
        S0, S0D = risk[time >= t].sum(), risk[tied].sum()
        H += sum(1.0 / (S0 - l / d * S0D) for l in range(d))
    return H


def test_baseline_cumulative_hazard_is_efrons_and_equals_lifelines_breslow_without_ties():
    X, time, event = data(p=2)
    beta = cox_fit(X, time, event).beta[0]
    lp = X @ beta
    at = [0.4, 1.0, 2.2]
    ours = baseline_cumhaz(time, event, lp, at)
    assert np.allclose(ours, [efron_baseline_loop(time, event, lp, a) for a in at], atol=1e-12)
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


def test_impossible_fits_give_nan_not_an_error():
    X, time, event = data(n=60, p=1)
    W = np.ones((2, 60))
    W[1, event == 1] = 0  # a resample without events
    fit = cox_fit(X, time, event, W)
    assert np.isfinite(fit.beta[0]).all() and np.isnan(fit.beta[1]).all() and not fit.converged[1]
    constant = cox_fit(np.column_stack([X[:, 0], np.ones(60)]), time, event)
    assert np.isnan(constant.beta).all()


def test_restricted_cubic_spline_terms_and_knots():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 4.0, 9.0, 12.0])
    knots = [0.0, 1.0, 9.0]
    expected = []
    for v in x:  # Harrell's formula, one value at a time
        cube = lambda u: max(u, 0.0) ** 3  # noqa: E731
        expected.append((cube(v - 0) - cube(v - 1) * (9 - 0) / (9 - 1) + cube(v - 9) * (1 - 0) / (9 - 1)) / 81)
    assert np.allclose(rcs_basis(x, knots)[:, 0], expected, atol=1e-15)
    assert rcs_basis(x, knots)[1, 0] == 0.0 and rcs_basis(x, knots)[3, 0] == pytest.approx(1 / 81)
    # linear beyond the last knot: equal second differences vanish
    tail = rcs_basis(np.array([10.0, 11.0, 12.0]), knots)[:, 0]
    assert tail[2] - 2 * tail[1] + tail[0] == pytest.approx(0.0, abs=1e-12)
    values = np.arange(1000) / 10.0
    assert np.allclose(rcs_knots(values, 3), np.quantile(values, [0.1, 0.5, 0.9]))
    small = np.arange(50.0)
    assert rcs_knots(small, 3)[[0, 2]].tolist() == [4.0, 45.0]
    with pytest.raises(ValueError):
        rcs_knots(np.r_[np.zeros(95), np.ones(5)], 3)
