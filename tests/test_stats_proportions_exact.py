"""Proportion intervals with the exact switch near 0 and n, Agresti–Caffo, Bayes PPV/NPV at a known
prevalence (Mercaldo et al. 2007) and Newcombe's paired difference (method 10), against
statsmodels, hand computations and published examples."""

import math

import numpy as np
import pytest
from scipy.special import expit, logit
from statsmodels.stats.proportion import proportion_confint

from audit.stats.proportions import (
    BOUNDARY_COUNT,
    agresti_caffo,
    newcombe_paired_difference,
    predictive_values_from_prevalence,
    proportion,
    proportion_interval,
)

Z = 1.959963984540054


@pytest.mark.parametrize("n", [1, 2, 7, 20, 50, 299])
def test_forced_methods_equal_statsmodels(n):
    for k in range(n + 1):
        for confidence in (0.9, 0.95):
            alpha = 1 - confidence
            ci, used = proportion_interval(k, n, confidence, "wilson")
            assert used == "wilson"
            assert ci == pytest.approx(proportion_confint(k, n, alpha, method="wilson"), abs=1e-12)
            ci, used = proportion_interval(k, n, confidence, "clopper-pearson")
            assert used == "clopper-pearson"
            assert ci == pytest.approx(proportion_confint(k, n, alpha, method="beta"), abs=1e-10)


@pytest.mark.parametrize("n", [1, 5, 8, 30, 200])
def test_auto_is_clopper_pearson_within_three_of_either_end_and_wilson_between(n):
    for k in range(n + 1):
        ci, used = proportion_interval(k, n)
        exact = k <= BOUNDARY_COUNT or k >= n - BOUNDARY_COUNT
        assert used == ("clopper-pearson" if exact else "wilson")
        assert ci == pytest.approx(proportion_confint(k, n, 0.05, method="beta" if exact else "wilson"), abs=1e-10)


def test_the_switch_on_the_documented_examples():
    (lo, hi), used = proportion_interval(200, 200)  # specificity 200/200
    assert used == "clopper-pearson" and lo == pytest.approx(0.025 ** (1 / 200)) and hi == 1.0
    assert round(lo, 4) == 0.9817
    (lo, hi), used = proportion_interval(0, 20)
    assert used == "clopper-pearson" and lo == 0.0 and round(hi, 3) == 0.168
    (lo, hi), used = proportion_interval(200, 299)  # an NPV far from both ends
    assert used == "wilson" and (round(lo, 3), round(hi, 3)) == (0.614, 0.720)
    (lo, hi), used = proportion_interval(1, 1)
    assert used == "clopper-pearson" and (lo, hi) == pytest.approx((0.025, 1.0))
    assert proportion_interval(4, 8)[1] == "wilson" and proportion_interval(3, 8)[1] == "clopper-pearson"
    assert proportion_interval(5, 8)[1] == "clopper-pearson"


def test_proportion_interval_rejects_bad_input():
    for bad in [(0, 0), (1, -1), (5, 4), (-1, 4)]:
        with pytest.raises(ValueError):
            proportion_interval(*bad)
    with pytest.raises(ValueError):
        proportion_interval(2, 10, method="wald")


def test_proportion_uses_the_switch_and_is_not_estimable_at_n_zero():
    est = proportion(200, 200)
    assert (est.value, est.method, est.n) == (1.0, "clopper-pearson", 200)
    est = proportion(200, 299)
    assert est.method == "wilson" and est.ci == pytest.approx(proportion_confint(200, 299, method="wilson"))
    assert proportion(200, 299, method="clopper-pearson").method == "clopper-pearson"
    assert proportion(1, 200, method="wilson").method == "wilson"
    empty = proportion(0, 0)
    assert math.isnan(empty.value) and empty.ci is None and empty.n == 0
    assert empty.reason.startswith("not estimable: the denominator is 0")
    assert empty.to_dict()["value"] is None and empty.to_dict()["reason"] == empty.reason


def test_agresti_caffo_equals_a_hand_computation():
    d, se = agresti_caffo(5, 20, 12, 20)
    # p~_a = 6/22, p~_b = 13/22
    assert d == pytest.approx(7 / 22, abs=1e-15)
    assert se == pytest.approx(math.sqrt((6 / 22) * (16 / 22) / 22 + (13 / 22) * (9 / 22) / 22), abs=1e-15)
    assert isinstance(d, float) and isinstance(se, float)


def test_agresti_caffo_is_elementwise_and_never_has_zero_se():
    x_a, n_a = np.array([0, 3, 10, 1]), np.array([1, 10, 10, 40])
    x_b, n_b = np.array([1, 7, 10, 0]), np.array([1, 12, 10, 25])
    d, se = agresti_caffo(x_a, n_a, x_b, n_b)
    for i in range(4):
        assert (d[i], se[i]) == pytest.approx(agresti_caffo(int(x_a[i]), int(n_a[i]), int(x_b[i]), int(n_b[i])))
    assert np.all(se > 0)
    # all successes or none in both groups: the adjusted difference is 0 but the SE is not
    assert agresti_caffo(10, 10, 10, 10)[1] > 0 and agresti_caffo(0, 1, 0, 1)[1] > 0


def test_bayes_ppv_npv_equal_a_hand_computation():
    # sensitivity 45/50 = 0.9, specificity 180/200 = 0.9, prevalence 0.1
    pv = predictive_values_from_prevalence(45, 50, 180, 200, 0.1)
    ppv, npv = pv["ppv"], pv["npv"]
    assert ppv.value == pytest.approx(0.09 / (0.09 + 0.09)) and npv.value == pytest.approx(0.81 / (0.81 + 0.01))
    assert ppv.method == npv.method == "bayes-logit" and ppv.n == npv.n == 250
    var_ppv = 0.1 / (0.9 * 50) + 0.9 / (0.1 * 200)
    var_npv = 0.9 / (0.1 * 50) + 0.1 / (0.9 * 200)
    assert ppv.ci == pytest.approx((expit(-Z * math.sqrt(var_ppv)), expit(Z * math.sqrt(var_ppv))), abs=1e-12)
    assert ppv.ci == pytest.approx((0.3951, 0.6049), abs=5e-5)
    centre = logit(0.81 / 0.82)
    assert npv.ci == pytest.approx((expit(centre - Z * math.sqrt(var_npv)), expit(centre + Z * math.sqrt(var_npv))), abs=1e-12)


def test_predictive_values_follow_the_prevalence():
    low = predictive_values_from_prevalence(45, 50, 180, 200, 0.01)
    high = predictive_values_from_prevalence(45, 50, 180, 200, 0.5)
    assert low["ppv"].value < high["ppv"].value and low["npv"].value > high["npv"].value
    for pv in (low, high):
        for e in pv.values():
            assert e.ci[0] < e.value < e.ci[1]


def test_a_cell_at_zero_or_its_total_uses_mercaldos_adjusted_logit_interval():
    # sensitivity 50/50: the standard logit NPV is undefined; z^2/2 added to each count, z^2 to each total
    pv = predictive_values_from_prevalence(50, 50, 180, 200, 0.1)
    se_t, sp_t = (50 + Z * Z / 2) / (50 + Z * Z), (180 + Z * Z / 2) / (200 + Z * Z)
    n1, n0 = 50 + Z * Z, 200 + Z * Z
    ppv_t = se_t * 0.1 / (se_t * 0.1 + (1 - sp_t) * 0.9)
    half = Z * math.sqrt((1 - se_t) / (se_t * n1) + sp_t / ((1 - sp_t) * n0))
    assert pv["ppv"].value == pytest.approx(0.1 / (0.1 + 0.1 * 0.9))  # the unadjusted Bayes value
    assert pv["ppv"].ci == pytest.approx((expit(logit(ppv_t) - half), expit(logit(ppv_t) + half)), abs=1e-12)
    assert pv["npv"].value == 1.0 and pv["npv"].ci[1] == 1.0 and pv["npv"].ci[0] < 1.0
    # sensitivity 0: PPV is exactly 0, and the interval is extended down to it
    pv = predictive_values_from_prevalence(0, 50, 190, 200, 0.1)
    assert pv["ppv"].value == 0.0 and pv["ppv"].ci[0] == 0.0 and 0 < pv["ppv"].ci[1] < 1


def test_predictive_values_not_estimable_cases():
    pv = predictive_values_from_prevalence(0, 50, 200, 200, 0.1)  # no positive predictions at all
    assert math.isnan(pv["ppv"].value) and pv["ppv"].ci is None and "0/0" in pv["ppv"].reason
    assert pv["npv"].ci is not None
    pv = predictive_values_from_prevalence(0, 0, 10, 20, 0.1)
    assert all(e.ci is None and e.reason == "not estimable: no events" for e in pv.values())
    with pytest.raises(ValueError):
        predictive_values_from_prevalence(5, 10, 5, 10, 0.0)


@pytest.mark.parametrize(
    "table, published",
    [
        # Newcombe, Stat Med 1998, method 10 (as reproduced in the tests of R's ratesci):
        # a = 20 both, 12 on the first only, 2 on the second only, 16 neither -> 0.0562 to 0.3292
        ((20, 2, 12, 16), (0.0562, 0.3292)),
        # Fagerland, Lydersen & Laake, Stat Med 2014 (airway hyper-responsiveness, 1, 1, 7, 12)
        ((1, 7, 1, 12), (-0.507, -0.026)),
        # Tang, Li & Tang, Stat Methods Med Res 2010 (8, 3, 1, 2)
        ((8, 1, 3, 2), (-0.1574, 0.4136)),
    ],
)
def test_newcombe_paired_difference_equals_published_examples(table, published):
    both, only_a, only_b, neither = table
    d, (lo, hi) = newcombe_paired_difference(both, only_a, only_b, neither)
    n = sum(table)
    assert d == pytest.approx((only_b - only_a) / n)
    digits = len(str(published[0]).split(".")[1])
    assert (round(lo, digits), round(hi, digits)) == published


def test_newcombe_paired_difference_equals_a_hand_computation():
    both, only_a, only_b, neither, n = 20, 2, 12, 16, 50
    pa, pb = 22 / 50, 32 / 50
    la, ua = proportion_confint(22, n, method="wilson")
    lb, ub = proportion_confint(32, n, method="wilson")
    A = both * neither - only_a * only_b  # 296 > n/2: corrected by n/2
    phi = (A - n / 2) / math.sqrt(22 * 28 * 32 * 18)
    lo = (pb - pa) - math.sqrt((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2)
    hi = (pb - pa) + math.sqrt((pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2)
    assert newcombe_paired_difference(both, only_a, only_b, neither)[1] == pytest.approx((lo, hi), abs=1e-12)


def test_newcombe_paired_difference_properties():
    # swapping a and b negates the difference and mirrors the interval
    d, (lo, hi) = newcombe_paired_difference(36, 2, 12, 0)
    d2, (lo2, hi2) = newcombe_paired_difference(36, 12, 2, 0)
    assert (d2, lo2, hi2) == pytest.approx((-d, -hi, -lo))
    assert lo < d < hi and -1 <= lo and hi <= 1
    # no discordant pairs: difference 0, interval still has width
    d, (lo, hi) = newcombe_paired_difference(10, 0, 0, 10)
    assert d == 0 and lo < 0 < hi
    # elementwise on arrays
    tables = np.array([(20, 2, 12, 16), (1, 7, 1, 12), (8, 1, 3, 2), (0, 0, 0, 5)])
    d, (lo, hi) = newcombe_paired_difference(*tables.T)
    for i, t in enumerate(tables):
        di, (loi, hii) = newcombe_paired_difference(*map(int, t))
        assert (d[i], lo[i], hi[i]) == pytest.approx((di, loi, hii))
    with pytest.raises(ValueError):
        newcombe_paired_difference(0, 0, 0, 0)
