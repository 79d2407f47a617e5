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


def test_bca_cis_of_balanced_accuracy_and_quadratic_kappa_cover_for_ordinal_grades():
    """Four ordered grades from a latent logistic model: z = 2x + logistic noise, x ~ N(0, 1), cut at -1, 0.8
    and 2.4 (grades 0-3, about 35/27/20/18%); the model predicts the true P(grade | x) and decides the most
    probable grade.

    The true balanced accuracy and quadratic kappa come from the expected confusion matrix, by quadrature on
    200,000 normal quantiles of x (error far below 1e-4; the benchmark's 2,000,000-patient truth agrees). Each of
    300 studies of 200 patients gets the audit's interval: MulticlassMetrics in the ResamplingEngine, BCa, B = 400.
    Monte Carlo SE of a 95% coverage over 300 studies: 1.3%, so [0.90, 0.99] is more than three SE either side.
    """
    from scipy.special import expit

    from audit.stats.multiclass import MulticlassMetrics

    cuts = np.array([-1.0, 0.8, 2.4])

    def probabilities(x):
        above = expit(2.0 * x[:, None] - cuts[None, :])  # P(grade > k | x)
        return np.column_stack([1 - above[:, 0], above[:, :-1] - above[:, 1:], above[:, -1]])

    pi = probabilities(norm.ppf((np.arange(200_000) + 0.5) / 200_000))
    decided = pi.argmax(axis=1)
    C = np.column_stack([pi[decided == j].sum(axis=0) for j in range(4)]) / len(pi)  # true grade x decision
    row, col = C.sum(axis=1), C.sum(axis=0)
    v = (np.arange(4)[:, None] - np.arange(4)[None, :]) ** 2 / 9
    truth = np.array([np.mean(np.diag(C) / row), 1 - np.sum(v * C) / np.sum(v * np.outer(row, col))])

    rng = np.random.default_rng(15)
    engine = ResamplingEngine(seed=10, n_resamples=400, method="bca")
    hits = np.zeros(2)
    for i in range(N_STUDIES):
        P = probabilities(rng.normal(size=200))
        y = (rng.random(200)[:, None] > np.cumsum(P, axis=1)[:, :-1]).sum(axis=1)
        res = engine.bootstrap(MulticlassMetrics(y, P, ("balanced_accuracy", "kappa_quadratic")), None, f"study/{i}")
        assert res.methods == ("bootstrap-bca", "bootstrap-bca")
        hits += (res.low <= truth) & (truth <= res.high)
    coverage = hits / N_STUDIES
    assert np.all((0.90 <= coverage) & (coverage <= 0.99)), dict(zip(("balanced_accuracy", "kappa_quadratic"), coverage))
