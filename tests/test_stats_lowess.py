"""The lowess operator equals statsmodels' lowess (it=0) column by column, and the simulated calibration
errors it serves equal the one-lowess-per-simulation loop they replace."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.nonparametric.smoothers_lowess import lowess

from audit.stats.calibration import bin_edges, bin_index, expected_if_calibrated, lowess_delta
from audit.stats.lowess import LowessOperator


@pytest.mark.parametrize(("n", "delta_share", "decimals", "frac"), [
    (3, 0.0, None, 0.75), (40, 0.0, None, 0.75), (300, 0.0, 2, 0.75), (900, 0.0, None, 0.3),
    (6000, 0.005, None, 0.75), (8000, 0.005, 3, 0.75), (7000, 0.02, 2, 0.5),
])
def test_the_operator_is_statsmodels_lowess_for_every_column(n, delta_share, decimals, frac):
    rng = np.random.default_rng(n)
    x = rng.beta(2, 5, n)
    if decimals is not None:  # ties: tied points copy their anchor's fit
        x = np.round(x, decimals)
    delta = delta_share * float(np.ptp(x))
    Y = (rng.random((n, 4)) < x[:, None]).astype(float)
    Y[:, 3] = rng.normal(size=n)  # any outcome, not only 0/1
    fitted = LowessOperator(x, frac, delta).smooth(Y)
    for s in range(Y.shape[1]):
        reference = lowess(Y[:, s], x, frac=frac, it=0, delta=delta, return_sorted=False)
        np.testing.assert_allclose(fitted[:, s], reference, rtol=0, atol=1e-11)


def test_points_all_tied_take_their_own_outcome_as_statsmodels_does():
    x = np.r_[np.full(18, 0.3), 0.5, 0.6]
    y = (np.arange(20) % 2).astype(float)
    with np.errstate(all="ignore"):
        reference = lowess(y, x, frac=0.75, it=0, return_sorted=False)
    np.testing.assert_allclose(LowessOperator(x).smooth(y), reference, atol=1e-12)


def _loop_expected(p, n_bins, rng, simulations):
    """The replaced implementation: one statsmodels lowess and one binned ECE per simulated outcome vector."""
    draws = rng.random((simulations, p.size)) < p
    ici, eces = [], []
    edges = bin_edges(p, n_bins, "uniform")
    idx = bin_index(p, edges)
    for d in draws.astype(float):
        fit = np.clip(lowess(d, p, frac=0.75, it=0, delta=lowess_delta(p), return_sorted=False), 0, 1)
        ici.append(np.mean(np.abs(fit - p)))
        eces.append(sum(abs(d[idx == k].sum() - p[idx == k].sum()) for k in range(edges.size - 1)) / p.size)
    return float(np.mean(ici)), float(np.mean(eces))


@pytest.mark.parametrize("n", [150, 5500])
def test_expected_if_calibrated_equals_the_loop_it_replaces(n):
    p = np.random.default_rng(n).beta(2, 5, n)
    got = expected_if_calibrated(p, 10, np.random.default_rng(1), simulations=12)
    ici, ece = _loop_expected(p, 10, np.random.default_rng(1), 12)
    assert got["ici"] == pytest.approx(ici, rel=1e-12)
    assert got["ece"] == pytest.approx(ece, rel=1e-12)


@pytest.mark.parametrize("n", [400, 7000])
def test_the_calibration_curve_is_statsmodels_lowess_and_one_pass_gives_curve_and_expectation(n):
    from audit.stats.calibration import smoothed_and_expected, smoothed_calibration

    rng = np.random.default_rng(n)
    p = rng.beta(2, 5, n)
    y = (rng.random(n) < np.clip(1.2 * p, 0, 1)).astype(float)
    reference = np.clip(lowess(y, p, frac=0.75, it=0, delta=lowess_delta(p), return_sorted=False), 0, 1)
    smooth = smoothed_calibration(y, p)
    order = np.argsort(p, kind="stable")
    np.testing.assert_allclose(smooth.smoothed, reference[order], atol=1e-11, rtol=0)
    assert smooth.ici == pytest.approx(np.mean(np.abs(reference - p)), abs=1e-12)
    together, expected = smoothed_and_expected(y, p, 10, np.random.default_rng(3))
    assert expected == pytest.approx(expected_if_calibrated(p, 10, np.random.default_rng(3)), rel=1e-12)
    np.testing.assert_allclose(together.smoothed, smooth.smoothed, atol=1e-12, rtol=0)
    assert (together.ici, together.e50, together.e90, together.emax) == pytest.approx((smooth.ici, smooth.e50, smooth.e90, smooth.emax), rel=1e-10)
