"""Paired comparisons of two models on the same patients: DeLong's paired test, the paired
bootstrap and McNemar's test, each against an independent reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from sklearn import metrics as skm
from statsmodels.stats.contingency_tables import mcnemar

from audit.stats import BinaryMetrics, ResamplingEngine, resample_counts
from audit.stats.bootstrap import percentile_interval
from audit.stats.delong import delong_variance
from audit.stats.paired import PairedMetrics, delong_covariance, delong_paired, mcnemar_test, paired_bootstrap


def correlated_models(n: int, rng: np.random.Generator, noise: float = 0.6, shift_b: float = 0.0):
    """Outcome (30% prevalence) and two models sharing one latent risk, each with its own noise."""
    y = (rng.random(n) < 0.3).astype(int)
    latent = rng.normal(size=n) + 1.2 * y
    a = 1 / (1 + np.exp(-(latent + noise * rng.normal(size=n) - 1.0)))
    b = 1 / (1 + np.exp(-(latent + shift_b * y + noise * rng.normal(size=n) - 1.0)))
    return y, a, b


def brute_force_paired_delong(y, a, b):
    """DeLong's covariance from the O(n^2) kernel psi(x_i, y_j), written out directly."""
    y = np.asarray(y).astype(bool)
    v10, v01 = [], []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    m, n = v10[0].size, v01[0].size
    cov = np.empty((2, 2))
    for r in range(2):
        for s in range(2):
            s10 = np.sum((v10[r] - v10[r].mean()) * (v10[s] - v10[s].mean())) / (m - 1)
            s01 = np.sum((v01[r] - v01[r].mean()) * (v01[s] - v01[s].mean())) / (n - 1)
            cov[r, s] = s10 / m + s01 / n
    return cov


# --------------------------------------------------------------------------- DeLong, paired


@pytest.mark.parametrize("case", ["simulated", "asah-with-ties"])
def test_paired_delong_covariance_equals_brute_force_to_1e_10(case, refdata):
    if case == "simulated":
        y, a, b = correlated_models(300, np.random.default_rng(3))
    else:
        d = pd.read_csv(refdata / "asah.csv")
        y, a, b = (d["outcome"] == "Poor").astype(int), d["s100b"], d["wfns"]  # wfns has many ties
    fast, slow = delong_covariance(y, a, b), brute_force_paired_delong(y, a, b)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-10)
    result = delong_paired(y, a, b)
    assert result.variance == pytest.approx(slow[0, 0] + slow[1, 1] - 2 * slow[0, 1], abs=1e-10)
    # the diagonal is each model's own (unpaired) DeLong variance
    assert fast[0, 0] == pytest.approx(delong_variance(y, a), abs=1e-12)


@pytest.mark.parametrize(
    ("first", "second", "z", "p"),
    [  # pROC's own tests (tests/testthat/test-roc.test.R): roc.test(r.<first>, r.<second>), DeLong, paired
        ("wfns", "s100b", 2.20898359144091, 0.0271757822291882),
        ("wfns", "ndka", 2.79777591868904, 0.00514557970691098),
        ("ndka", "s100b", -1.39077002573558, 0.164295175223054),
    ],
)
def test_paired_delong_matches_pROC_roc_test_on_aSAH(refdata, first, second, z, p):
    d = pd.read_csv(refdata / "asah.csv")
    y = (d["outcome"] == "Poor").astype(int)
    # pROC's Z is AUC(roc1) - AUC(roc2); ours is b - a, so roc1 is b
    result = delong_paired(y, d[second], d[first])
    assert result.z == pytest.approx(z, abs=1e-10)
    assert result.p_value == pytest.approx(p, abs=1e-10)
    assert result.difference.method == "delong-paired"


def test_paired_delong_of_a_model_with_itself_is_z_0_p_1_as_in_pROC(refdata):
    d = pd.read_csv(refdata / "asah.csv")
    y = (d["outcome"] == "Poor").astype(int)
    result = delong_paired(y, d["wfns"], d["wfns"])
    assert (result.z, result.p_value, result.difference.value) == (0.0, 1.0, 0.0)


# --------------------------------------------------------------------------- paired bootstrap


def sklearn_metrics(y, p, threshold):
    pred = (p >= threshold).astype(int)
    return {
        "auroc": skm.roc_auc_score(y, p),
        "auprc": skm.average_precision_score(y, p),
        "sensitivity": skm.recall_score(y, pred),
        "specificity": skm.recall_score(1 - y, 1 - pred),
        "ppv": skm.precision_score(y, pred, zero_division=np.nan),
        "accuracy": skm.accuracy_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "brier": skm.brier_score_loss(y, p),
    }


def test_paired_bootstrap_replicates_equal_sklearn_differences_on_the_same_resampled_patients():
    y, a, b = correlated_models(250, np.random.default_rng(11), shift_b=0.5)
    names = ("auroc", "auprc", "sensitivity", "specificity", "ppv", "accuracy", "f1", "brier")
    engine = ResamplingEngine(seed=5, n_resamples=120, method="percentile")
    out, diff = paired_bootstrap(y, a, b, engine, "paired/test", threshold=0.3, names=names)
    # the engine's counts, redrawn independently: one set of patients per replicate (a cohort: no outcome strata)
    counts = np.vstack(list(resample_counts(None, 120, 5, "paired/test", n=y.size)))
    for r in (0, 1, 57, 119):
        rows = np.repeat(np.arange(y.size), counts[r])
        ma, mb = sklearn_metrics(y[rows], a[rows], 0.3), sklearn_metrics(y[rows], b[rows], 0.3)
        expected = [mb[m] - ma[m] for m in names]
        np.testing.assert_allclose(diff.replicates[r], expected, rtol=0, atol=1e-12)
    point_a, point_b = sklearn_metrics(y, a, 0.3), sklearn_metrics(y, b, 0.3)
    for m in names:
        assert out[m].value_a == pytest.approx(point_a[m], abs=1e-12)
        assert out[m].difference.value == pytest.approx(point_b[m] - point_a[m], abs=1e-12)
        assert out[m].difference.method == "bootstrap-percentile"


def test_paired_statistic_evaluates_both_models_on_identical_weights():
    y, a, b = correlated_models(80, np.random.default_rng(2))
    W = np.random.default_rng(0).integers(0, 3, size=(5, 80))
    stat = PairedMetrics(y, a, b, 0.4, ("auroc", "brier"))
    np.testing.assert_array_equal(stat(W)[:, :2], BinaryMetrics(y, a, 0.4, ("auroc", "brier"))(W))
    np.testing.assert_array_equal(stat(W)[:, 2:], BinaryMetrics(y, b, 0.4, ("auroc", "brier"))(W))


def test_paired_bootstrap_bca_interval_brackets_the_estimate_and_reports_bca():
    y, a, b = correlated_models(200, np.random.default_rng(4), shift_b=0.6)
    out, _ = paired_bootstrap(y, a, b, ResamplingEngine(seed=1, n_resamples=400), "bca", names=("auroc", "brier"))
    for m in ("auroc", "brier"):
        lo, hi = out[m].difference.ci
        assert out[m].difference.method == "bootstrap-bca"
        assert lo < out[m].difference.value < hi


def test_paired_difference_ci_covers_0_in_95_percent_of_simulations_under_the_null():
    """Two exchangeable models (one latent risk, independent noise of equal size): true difference 0."""
    rng = np.random.default_rng(2024)
    n_sims, covered = 200, {"auroc": 0, "brier": 0, "sensitivity": 0, "delong": 0}
    for i in range(n_sims):
        y, a, b = correlated_models(200, rng)
        engine = ResamplingEngine(seed=i, n_resamples=200, method="percentile")
        out, _ = paired_bootstrap(y, a, b, engine, "null", threshold=0.3, names=("auroc", "brier", "sensitivity"))
        for m in ("auroc", "brier", "sensitivity"):
            lo, hi = out[m].difference.ci
            covered[m] += lo <= 0 <= hi
        lo, hi = delong_paired(y, a, b).difference.ci
        covered["delong"] += lo <= 0 <= hi
    shares = {k: v / n_sims for k, v in covered.items()}
    assert all(share >= 0.90 for share in shares.values()), shares


def test_paired_intervals_are_narrower_than_unpaired_when_scores_are_correlated():
    y, a, b = correlated_models(400, np.random.default_rng(8), noise=0.3)
    engine = ResamplingEngine(seed=3, n_resamples=1000, method="percentile")
    names = ("auroc", "brier")
    paired, _ = paired_bootstrap(y, a, b, engine, "paired", names=names)
    # unpaired: each model on its own, independently drawn resamples (as for two different samples)
    reps_a = engine.bootstrap(BinaryMetrics(y, a, 0.5, names), y, "unpaired/a").replicates
    reps_b = engine.bootstrap(BinaryMetrics(y, b, 0.5, names), y, "unpaired/b").replicates
    for j, m in enumerate(names):
        lo, hi = percentile_interval(reps_b[:, j] - reps_a[:, j], 0.95)
        p_lo, p_hi = paired[m].difference.ci
        assert p_hi - p_lo < 0.6 * (hi - lo), (m, p_hi - p_lo, hi - lo)
    d = delong_paired(y, a, b)
    unpaired_se = np.sqrt(delong_variance(y, a) + delong_variance(y, b))
    assert np.sqrt(d.variance) < 0.6 * unpaired_se


# --------------------------------------------------------------------------- McNemar


def midp_by_enumeration(n01: int, n10: int) -> float:
    """Fagerland et al. (2013): mid-p = 2 [P(X < k) + P(X = k) / 2], X ~ Bin(n01 + n10, 1/2), k = min."""
    m, k = n01 + n10, min(n01, n10)
    if m == 0:
        return 1.0
    pmf = [binom.pmf(x, m, 0.5) for x in range(m + 1)]
    return min(1.0, 2.0 * (sum(pmf[:k]) + 0.5 * pmf[k]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mcnemar_equals_statsmodels(seed):
    y, a, b = correlated_models(150 + 50 * seed, np.random.default_rng(seed), shift_b=0.4 * seed)
    result = mcnemar_test(y, a, b, threshold=0.35)
    right_a, right_b = (a >= 0.35) == y, (b >= 0.35) == y
    table = [[np.sum(right_a & right_b), np.sum(right_a & ~right_b)], [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)]]
    assert result.p_exact == pytest.approx(mcnemar(table, exact=True).pvalue, abs=1e-12)
    assert result.p_midp == pytest.approx(midp_by_enumeration(result.n01, result.n10), abs=1e-12)
    assert result.accuracy_difference == pytest.approx(skm.accuracy_score(y, b >= 0.35) - skm.accuracy_score(y, a >= 0.35))


def test_mcnemar_without_discordant_patients_is_p_1():
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.9, 0.2, 0.8])
    result = mcnemar_test(y, p, p, 0.5)
    assert (result.n01, result.n10, result.p_exact, result.p_midp) == (0, 0, 1.0, 1.0)


def test_paired_sensitivity_difference_uses_newcombe_on_the_discordant_counts_and_exact_mcnemar():
    from scipy.stats import binomtest

    from audit.stats.paired import paired_proportion
    from audit.stats.proportions import newcombe_paired_difference

    y, a, b = correlated_models(400, np.random.default_rng(21), shift_b=0.4)
    d = paired_proportion("sensitivity", y, a, b, threshold=0.5)
    pos = y.astype(bool)
    fa, fb = a[pos] >= 0.5, b[pos] >= 0.5
    counts = [int(np.sum(x)) for x in (fa & fb, fa & ~fb, ~fa & fb, ~fa & ~fb)]
    value, ci = newcombe_paired_difference(*counts)
    assert d.difference.value == pytest.approx(fb.mean() - fa.mean(), abs=1e-12) == pytest.approx(value, abs=1e-12)
    assert d.difference.ci == pytest.approx(ci, abs=1e-12) and d.difference.method == "newcombe-paired"
    assert d.p_value == pytest.approx(binomtest(counts[2], counts[1] + counts[2], 0.5).pvalue, abs=1e-12)


def test_paired_specificity_of_two_perfect_models_gets_a_real_interval_not_a_point():
    from audit.stats.paired import paired_proportion

    y = np.r_[np.ones(50, int), np.zeros(150, int)]
    a = np.r_[np.full(50, 0.9), np.full(150, 0.1)]
    d = paired_proportion("specificity", y, a, a.copy())
    assert d.difference.value == 0.0 and d.difference.ci[0] < 0 < d.difference.ci[1] and d.p_value == 1.0
