"""Time-to-event statistics (audit.stats.survival) against independent implementations: lifelines for the
Kaplan–Meier curve and Harrell's C, explicit loops over pairs and patients for everything else."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audit.stats.survival import (
    SurvivalMetrics,
    SurvivalNetBenefit,
    censoring_survival,
    concordance,
    dominance_sums,
    horizon_key,
    horizon_status,
    kaplan_meier,
    oe_interval,
    truncate,
)


def cohort(n=80, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-0.8 * x) * 4)
    t_cens = rng.uniform(0.5, 9, size=n)
    time = np.minimum(t_event, t_cens)
    if ties:
        time = np.ceil(time * 4) / 4  # quarter-years: many ties, between events and censorings too
    event = (t_event <= t_cens).astype(int)
    risk = 1 / (1 + np.exp(-(x - 0.3)))
    if ties:
        risk = np.round(risk, 1)  # tied risks
    return time, event, risk


# ------------------------------------------------------------------ brute-force references


def km_brute(time, event, t):
    s = 1.0
    for u in np.unique(time[(event == 1) & (time <= t)]):
        s *= 1 - ((time == u) & (event == 1)).sum() / (time >= u).sum()
    return s


def g_brute(time, event, t, before=False):
    """Reverse KM, events before censorings: the censored at u face the risk set minus the events at u."""
    g = 1.0
    for u in np.unique(time[event == 0]):
        if u > t or (before and u >= t):
            continue
        c = ((time == u) & (event == 0)).sum()
        g *= 1 - c / ((time >= u).sum() - ((time == u) & (event == 1)).sum())
    return g


def c_brute(time, event, risk, tau=None, uno=False):
    t, e = truncate(time, event, tau)
    num = den = 0.0
    for i in range(t.size):
        if e[i] != 1:
            continue
        w = 1 / g_brute(time, event, t[i], before=True) ** 2 if uno else 1.0
        for j in range(t.size):
            if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                den += w
                num += w * (1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0)
    return num / den


def auc_brute(time, event, marker, h):
    num = den = 0.0
    for i in range(time.size):
        if not (time[i] <= h and event[i] == 1):
            continue
        wi = 1 / g_brute(time, event, time[i], before=True)
        for j in range(time.size):
            if time[j] > h:
                wj = 1 / g_brute(time, event, h)
                den += wi * wj
                num += wi * wj * (1.0 if marker[i] > marker[j] else 0.5 if marker[i] == marker[j] else 0.0)
    return num / den


def brier_brute(time, event, risk, h):
    total = 0.0
    for i in range(time.size):
        if time[i] <= h and event[i] == 1:
            total += (1 - risk[i]) ** 2 / g_brute(time, event, time[i], before=True)
        elif time[i] > h:
            total += risk[i] ** 2 / g_brute(time, event, h)
    return total / time.size


# ------------------------------------------------------------------ tests


def test_kaplan_meier_equals_statsmodels_and_a_direct_product():
    from statsmodels.duration.survfunc import SurvfuncRight

    time, event, _ = cohort()
    grid = np.array([0.1, 0.25, 1.0, 2.5, 3.0, 5.75, 20.0])
    ours = kaplan_meier(time, event, grid)
    reference = SurvfuncRight(time, event)
    steps = reference.surv_times, reference.surv_prob
    expected = [steps[1][np.searchsorted(steps[0], t, side="right") - 1] if t >= steps[0][0] else 1.0 for t in grid]
    assert np.allclose(ours, expected, atol=1e-12)
    assert np.allclose(ours, [km_brute(time, event, t) for t in grid], atol=1e-12)


def test_kaplan_meier_equals_lifelines_when_installed():
    lifelines = pytest.importorskip("lifelines")  # an optional cross-check: lifelines pins pandas < 3
    time, event, _ = cohort()
    grid = np.array([0.1, 1.0, 2.5, 5.75])
    fitter = lifelines.KaplanMeierFitter().fit(time, event)
    assert np.allclose(kaplan_meier(time, event, grid), fitter.survival_function_at_times(grid).to_numpy(), atol=1e-12)


def test_censoring_survival_puts_events_before_censorings_and_reads_left_limits():
    time, event, _ = cohort()
    for t in (0.5, 1.0, 2.25, 4.0, 7.0):
        assert censoring_survival(time, event, t)[0] == pytest.approx(g_brute(time, event, t), abs=1e-12)
        assert censoring_survival(time, event, t, before=True)[0] == pytest.approx(g_brute(time, event, t, True), abs=1e-12)
    # one tie of an event and a censoring at 2: the censored patient remains at risk of that event
    time = np.array([1.0, 2.0, 2.0, 3.0])
    event = np.array([1, 1, 0, 1])
    assert censoring_survival(time, event, 2.0)[0] == pytest.approx(1 - 1 / 2)  # 2 at risk at 2, minus the event


def test_resample_counts_equal_repeated_rows():
    time, event, risk = cohort(n=50, seed=3)
    rng = np.random.default_rng(1)
    W = rng.multinomial(50, np.full(50, 1 / 50), size=4)
    kernel = SurvivalMetrics(time, event, [2.0, 3.5], np.column_stack([risk, risk]), threshold=0.4)
    reps = kernel(W)
    for b in range(4):
        rows = np.repeat(np.arange(50), W[b])
        expanded = SurvivalMetrics(time[rows], event[rows], [2.0, 3.5], np.column_stack([risk, risk])[rows], threshold=0.4)
        assert np.allclose(reps[b], expanded(np.ones((1, rows.size)))[0], equal_nan=True, atol=1e-12)
    km = kaplan_meier(time, event, [1.5, 3.0], weights=W)
    for b in range(4):
        rows = np.repeat(np.arange(50), W[b])
        assert np.allclose(km[b], kaplan_meier(time[rows], event[rows], [1.5, 3.0]))


@pytest.mark.parametrize("tau", [None, 3.0])
def test_harrell_and_uno_c_equal_all_pairs(tau):
    time, event, risk = cohort(n=60, seed=5)
    assert concordance(time, event, risk, tau).value == pytest.approx(c_brute(time, event, risk, tau), abs=1e-12)
    assert concordance(time, event, risk, tau, "uno").value == pytest.approx(c_brute(time, event, risk, tau, uno=True), abs=1e-12)


def test_harrell_c_equals_lifelines_without_ties_when_installed():
    pytest.importorskip("lifelines")  # an optional cross-check: lifelines pins pandas < 3
    from lifelines.utils import concordance_index

    time, event, risk = cohort(n=120, seed=2, ties=False)
    assert concordance(time, event, risk).value == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)


def test_concordance_standard_error_is_the_infinitesimal_jackknife():
    """se^2 = sum_k (dC/dv_k)^2: the analytic derivative equals a numerical one on weighted copies."""
    time, event, risk = cohort(n=30, seed=7)
    result = concordance(time, event, risk, 4.0)

    def weighted_c(v):
        t, e = truncate(time, event, 4.0)
        num = den = 0.0
        for i in range(t.size):
            if e[i] != 1:
                continue
            for j in range(t.size):
                if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                    den += v[i] * v[j]
                    num += v[i] * v[j] * (1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0)
        return num / den

    eps = 1e-6
    grads = []
    for k in range(time.size):
        up, down = np.ones(time.size), np.ones(time.size)
        up[k] += eps
        down[k] -= eps
        grads.append((weighted_c(up) - weighted_c(down)) / (2 * eps))
    assert result.se == pytest.approx(math.sqrt(np.sum(np.square(grads))), rel=1e-5)


def all_pairs_concordance(time, event, risk, tau=None, uno=False, clusters=None):
    """C, its pair counts and every row's influence dC/dv_k from the explicit (n, n) matrix of comparable pairs."""
    t, e = truncate(time, event, tau)
    w = np.array([1 / g_brute(time, event, u, before=True) ** 2 if uno else 1.0 for u in t]) * (e == 1)
    comparable = (e[:, None] == 1) & ((t[None, :] > t[:, None]) | ((t[None, :] == t[:, None]) & (e[None, :] == 0)))
    score = comparable * ((risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :]))
    N, D = w @ score.sum(axis=1), w @ comparable.sum(axis=1)
    C = N / D
    dN = w * score.sum(axis=1) + w @ score  # as first member (row) and as second member (column)
    dD = w * comparable.sum(axis=1) + w @ comparable
    U = (dN - C * dD) / D
    grouped = U if clusters is None else np.bincount(np.unique(clusters, return_inverse=True)[1], weights=U)
    concordant = w @ (comparable & (risk[:, None] > risk[None, :])).sum(axis=1)
    return C, math.sqrt(np.sum(grouped**2)), concordant, int(comparable.sum()), U


@pytest.mark.parametrize("seed", range(4))
def test_concordance_influences_equal_the_all_pairs_matrix(seed):
    """The O(n log^2 n) sweep gives every row's influence, the SE (grouped too) and the pair counts of the explicit
    pair matrix: tied times (events and censorings), tied risks, truncation, Uno's weights."""
    rng = np.random.default_rng(seed)
    time, event, risk = cohort(n=150, seed=seed, ties=seed % 2 == 0)
    tau = None if seed == 1 else 4.0
    clusters = rng.integers(0, 50, size=time.size) if seed >= 2 else None
    for uno in (False, True):
        C, se, concordant, comparable, U = all_pairs_concordance(time, event, risk, tau, uno, clusters)
        fit = concordance(time, event, risk, tau, "uno" if uno else "harrell", clusters)
        assert fit.value == pytest.approx(C, rel=1e-12)
        assert fit.se == pytest.approx(se, rel=1e-10)
        assert fit.concordant == pytest.approx(concordant, rel=1e-12)
        assert fit.comparable == comparable
        assert np.allclose(fit.influence, U, rtol=1e-10, atol=1e-15)


def test_dominance_sums_equal_a_double_loop():
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 12, size=90), rng.integers(-5, 6, size=90).astype(float)
    w = rng.exponential(size=90)
    qx, qy = rng.integers(-1, 14, size=40), rng.integers(-6, 7, size=40) + rng.choice([0.0, 0.5], size=40)
    expected = [(w * ((x >= a) & (y < b))).sum() for a, b in zip(qx, qy)]
    assert np.allclose(dominance_sums(qx, qy, x, y, w), expected, rtol=1e-13, atol=1e-13)
    assert np.array_equal(dominance_sums(qx[:0], qy[:0], x, y, w), np.zeros(0))
    assert np.array_equal(dominance_sums(qx, qy, x[:0], y[:0], w[:0]), np.zeros(40))


def test_time_dependent_auc_and_brier_equal_explicit_weights():
    time, event, risk = cohort(n=70, seed=11)
    kernel = SurvivalMetrics(time, event, [1.5, 3.0], np.column_stack([risk, risk]), threshold=0.5)
    point = kernel.point()
    for h in (1.5, 3.0):
        k = horizon_key(h)
        assert point[f"auc_t@{k}"] == pytest.approx(auc_brute(time, event, risk, h), abs=1e-12)
        assert point[f"brier@{k}"] == pytest.approx(brier_brute(time, event, risk, h), abs=1e-12)
        observed = 1 - km_brute(time, event, h)
        null = brier_brute(time, event, np.full(time.size, observed), h)
        assert point[f"ipa@{k}"] == pytest.approx(1 - point[f"brier@{k}"] / null, abs=1e-12)
        assert point[f"observed_risk@{k}"] == pytest.approx(observed, abs=1e-12)
        assert point[f"oe_ratio@{k}"] == pytest.approx(observed / risk.mean(), abs=1e-12)
        cases = (time <= h) & (event == 1)
        wc = np.array([1 / g_brute(time, event, t, before=True) for t in time[cases]])
        assert point[f"sensitivity@{k}"] == pytest.approx((wc * (risk[cases] >= 0.5)).sum() / wc.sum(), abs=1e-12)
        assert point[f"specificity@{k}"] == pytest.approx((risk[time > h] < 0.5).mean(), abs=1e-12)


def test_auc_with_a_risk_score_only_ranks_and_leaves_the_rest_undefined():
    time, event, risk = cohort(n=70, seed=11)
    score = np.log(risk / (1 - risk)) * 3 + 1  # monotone: the same ranking
    point = SurvivalMetrics(time, event, [2.0], score=score).point()
    assert point["auc_t@2"] == pytest.approx(auc_brute(time, event, risk, 2.0), abs=1e-12)
    assert math.isnan(point["brier@2"]) and math.isnan(point["oe_ratio@2"])


def test_net_benefit_at_a_horizon_uses_kaplan_meier_in_the_treated():
    time, event, risk = cohort(n=90, seed=4)
    h, thresholds = 2.5, np.array([0.2, 0.4, 0.6])
    nb = SurvivalNetBenefit(time, event, risk, h, thresholds)(np.ones((1, time.size)))[0]
    for k, p in enumerate(thresholds):
        treated = risk >= p
        q = treated.mean()
        s = km_brute(time[treated], event[treated], h) if treated.any() else 1.0
        assert nb[k] == pytest.approx(q * (1 - s) - q * s * p / (1 - p), abs=1e-12)
        s_all = km_brute(time, event, h)
        assert nb[3 + k] == pytest.approx((1 - s_all) - s_all * p / (1 - p), abs=1e-12)


def test_horizon_rules_and_keys():
    time, event, _ = cohort(n=60, seed=1)
    assert horizon_status(time, event, 2.0).estimable
    assert "beyond the longest follow-up" in horizon_status(time, event, 50.0).reason
    assert "remain at risk" in horizon_status(time, event, np.sort(time)[-3]).reason
    assert horizon_key(5) == "5" and horizon_key(5.0) == "5" and horizon_key(4.99) == "4.99" and horizon_key(0.5) == "0.5"
    lo, hi = oe_interval(1.0, 100)
    assert lo == pytest.approx(math.exp(-1.959964 / 10), rel=1e-6) and hi == pytest.approx(math.exp(1.959964 / 10), rel=1e-6)


def test_net_benefit_replicates_equal_repeated_rows():
    time, event, risk = cohort(n=60, seed=8)
    thresholds = np.array([0.1, 0.3, 0.5, 0.7])
    kernel = SurvivalNetBenefit(time, event, risk, 3.0, thresholds)
    W = np.random.default_rng(2).multinomial(60, np.full(60, 1 / 60), size=3)
    reps = kernel(W)
    for b in range(3):
        rows = np.repeat(np.arange(60), W[b])
        expanded = SurvivalNetBenefit(time[rows], event[rows], risk[rows], 3.0, thresholds)(np.ones((1, rows.size)))[0]
        assert np.allclose(reps[b], expanded, atol=1e-12)
