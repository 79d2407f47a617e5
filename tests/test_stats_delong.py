"""DeLong's variance equals a brute-force O(n^2) placement-value implementation and pROC."""

import numpy as np
import pandas as pd
import pytest

from audit.stats import auroc_delong, delong_variance, placements


def brute_force_delong(y, s):
    """DeLong et al. 1988 written out: psi over every positive-negative pair."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size


@pytest.mark.parametrize("seed", range(5))
def test_fast_delong_variance_equals_brute_force_placements(seed):
    rng = np.random.default_rng(seed)
    n = 40 + 20 * seed
    y = rng.integers(0, 2, n)
    s = np.round(rng.normal(size=n) + y, 1)  # with ties
    auc, var = brute_force_delong(y, s)
    assert placements(y, s).auroc == pytest.approx(auc, abs=1e-12)
    assert delong_variance(y, s) == pytest.approx(var, rel=1e-12)


def test_delong_ci_on_asah_matches_proc(refdata):
    """pROC::ci.auc(aSAH$outcome, aSAH$s100b) gives 0.7314 (95% CI 0.6301-0.8326, DeLong)."""
    d = pd.read_csv(refdata / "asah.csv")
    est = auroc_delong((d["outcome"] == "Poor").astype(int), d["s100b"], 0.95)
    assert est.value == pytest.approx(0.7314, abs=5e-5)
    assert est.ci == pytest.approx((0.6301, 0.8326), abs=5e-5)
    assert est.method == "delong" and est.n == 113


def test_delong_needs_two_of_each_class():
    with pytest.raises(ValueError, match="two positives"):
        placements(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.3]))


def test_wilson_and_clopper_pearson_equal_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    from audit.stats import clopper_pearson_interval, wilson_interval

    for k, n in [(0, 12), (3, 12), (12, 12), (57, 596)]:
        assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)
        assert clopper_pearson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="beta"), abs=1e-10)
