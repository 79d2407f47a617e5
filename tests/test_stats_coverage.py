"""Coverage by simulation: 95% intervals cover the true value in about 95% of simulated studies.

Binormal model: scores of negatives ~ N(0, 1), of positives ~ N(d, 1), so the true AUROC is
Phi(d / sqrt(2)). Studies are resampled as cohorts (patients, no outcome strata). With 300 studies, the Monte Carlo standard error of a 95% coverage is 1.3%,
so the accepted band [0.90, 0.99] is more than three standard errors wide on either side.
"""

import numpy as np
from scipy.stats import norm

from audit.stats import BinaryMetrics, ResamplingEngine, auroc_delong, wilson_interval

N_STUDIES = 300
D = 1.0  # true AUROC = Phi(1/sqrt 2) = 0.760
TRUE_AUC = norm.cdf(D / np.sqrt(2))


def simulated_study(rng, n_pos=60, n_neg=90):
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    s = np.r_[rng.normal(D, 1, n_pos), rng.normal(0, 1, n_neg)]
    return y, s


def test_delong_ci_covers_true_auc_in_95_percent_of_simulations():
    rng = np.random.default_rng(20261123)
    hits = 0
    for _ in range(N_STUDIES):
        lo, hi = auroc_delong(*simulated_study(rng)).ci
        hits += lo <= TRUE_AUC <= hi
    assert 0.90 <= hits / N_STUDIES <= 0.99


def test_bootstrap_bca_ci_covers_true_auc_in_95_percent_of_simulations():
    rng = np.random.default_rng(11)
    engine = ResamplingEngine(seed=5, n_resamples=400, method="bca")
    hits = 0
    for i in range(N_STUDIES):
        y, s = simulated_study(rng)
        res = engine.bootstrap(BinaryMetrics(y, s, names=("auroc",)), None, f"study/{i}")
        hits += res.low[0] <= TRUE_AUC <= res.high[0]
    assert 0.90 <= hits / N_STUDIES <= 0.99


def test_bootstrap_percentile_ci_covers_true_sensitivity_in_95_percent_of_simulations():
    rng = np.random.default_rng(12)
    engine = ResamplingEngine(seed=6, n_resamples=400, method="percentile")
    true_sens = 1 - norm.cdf(0.5 - D)  # P(score >= 0.5 | positive)
    hits = 0
    for i in range(N_STUDIES):
        y, s = simulated_study(rng)
        res = engine.bootstrap(BinaryMetrics(y, s, threshold=0.5, names=("sensitivity",)), None, f"study/{i}")
        hits += res.low[0] <= true_sens <= res.high[0]
    assert 0.90 <= hits / N_STUDIES <= 0.99


def test_wilson_ci_covers_true_proportion_in_95_percent_of_simulations_even_for_small_groups():
    rng = np.random.default_rng(13)
    k = rng.binomial(25, 0.1, size=2000)
    hits = np.mean([lo <= 0.1 <= hi for lo, hi in (wilson_interval(int(x), 25) for x in k)])
    assert 0.90 <= hits <= 0.99


def test_percentile_and_bca_cis_cover_true_auroc_sensitivity_and_brier_in_95_percent_of_simulations():
    """A miscalibrated logistic model: true risk expit(-1 + 1.5x), predicted expit(-0.5 + x).

    The true AUROC, sensitivity at 0.5 and Brier score are computed once by Monte Carlo on
    4,000,000 patients (standard error below 3e-4); each of 300 studies of 300 patients is
    bootstrapped once and both intervals are formed from the same replicates.
    """
    from scipy.special import expit

    from audit.stats.bootstrap import intervals

    def population(rng, n):
        x = rng.normal(size=n)
        y = (rng.random(n) < expit(-1 + 1.5 * x)).astype(int)
        return y, expit(-0.5 + x)

    y_big, p_big = population(np.random.default_rng(99), 4_000_000)
    from sklearn.metrics import roc_auc_score

    truth = np.array([roc_auc_score(y_big, p_big), np.mean(p_big[y_big == 1] >= 0.5), np.mean((p_big - y_big) ** 2)])

    rng = np.random.default_rng(14)
    engine = ResamplingEngine(seed=9, n_resamples=400, method="bca")
    hits = {"bca": np.zeros(3), "percentile": np.zeros(3)}
    for i in range(N_STUDIES):
        y, p = population(rng, 300)
        res = engine.bootstrap(BinaryMetrics(y, p, 0.5, ("auroc", "sensitivity", "brier")), None, f"study/{i}")
        pct = intervals(res.estimate, res.replicates, 0.95, "percentile")
        hits["bca"] += (res.low <= truth) & (truth <= res.high)
        hits["percentile"] += (pct.low <= truth) & (truth <= pct.high)
    for method, h in hits.items():
        coverage = h / N_STUDIES
        assert np.all((0.90 <= coverage) & (coverage <= 0.99)), (method, dict(zip(("auroc", "sensitivity", "brier"), coverage)))
