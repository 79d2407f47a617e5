"""Decision curve analysis: net benefit by hand, on weighted replicates, and with intervals."""

import json
import tracemalloc

import numpy as np
import pytest

from audit.stats import ResamplingEngine, resample_counts
from audit.stats.net_benefit import (
    NetBenefitCurve,
    decision_curve,
    net_benefit,
    treat_all,
)

# Ten patients, four events (prevalence 0.4).
Y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 0])
P = np.array([0.9, 0.7, 0.3, 0.6, 0.2, 0.1, 0.4, 0.8, 0.5, 0.05])


def simulated(n, seed, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.6)))
    if ties:
        p = np.round(p, 1)  # scores equal to thresholds: p >= t must count as treated
    return y, p


def test_net_benefit_equals_the_formula_worked_by_hand():
    # t = 0.25: treated p >= 0.25 -> 0.9, 0.7, 0.3, 0.6, 0.4, 0.8, 0.5: TP = 4, FP = 3
    #           NB = 4/10 - 3/10 * (0.25/0.75) = 0.4 - 0.1 = 0.3
    # t = 0.5:  treated 0.9, 0.7, 0.6, 0.8, 0.5 (0.5 >= 0.5 counts): TP = 3, FP = 2
    #           NB = 3/10 - 2/10 * 1 = 0.1
    # t = 0.75: treated 0.9, 0.8: TP = 1, FP = 1
    #           NB = 1/10 - 1/10 * 3 = -0.2
    nb = net_benefit(Y, P, [0.25, 0.5, 0.75])
    assert nb == pytest.approx([0.3, 0.1, -0.2], abs=1e-12)


def test_treat_all_curve_is_exact():
    # prevalence 0.4: 0.4 - 0.6 * t / (1 - t)
    assert treat_all(Y, [0.25, 0.4, 0.5, 0.75]) == pytest.approx([0.2, 0.0, -0.2, -1.4], abs=1e-12)
    t = np.linspace(0.01, 0.99, 99)
    assert treat_all(Y, t) == pytest.approx((0.4 - t) / (1 - t), abs=1e-12)


def test_point_estimate_of_the_curve_statistic_equals_the_plain_formula():
    y, p = simulated(400, 3, ties=True)
    t = np.round(np.arange(0.05, 1.0, 0.05), 2)
    point = NetBenefitCurve(y, p, t).point()
    assert point[: t.size] == pytest.approx(net_benefit(y, p, t), abs=1e-12)
    assert point[t.size :] == pytest.approx(treat_all(y, t), abs=1e-12)
    by_mask = [((p >= s) & (y == 1)).sum() / y.size - ((p >= s) & (y == 0)).sum() / y.size * s / (1 - s) for s in t]
    assert point[: t.size] == pytest.approx(by_mask, abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_replicates_equal_the_formula_on_materialised_resamples(ties):
    y, p = simulated(250, 4, ties)
    t = np.array([0.6, 0.1, 0.3, 0.3, 0.5, 0.9, 0.99])  # unsorted, repeated: order is kept
    curve = NetBenefitCurve(y, p, t)
    (W,) = list(resample_counts(y, 40, 11, "nb-test"))
    reps = curve(W)
    assert reps.shape == (40, 2 * t.size)
    for b in range(W.shape[0]):
        idx = np.repeat(np.arange(y.size), W[b])
        assert reps[b, : t.size] == pytest.approx(net_benefit(y[idx], p[idx], t), abs=1e-12)
        assert reps[b, t.size :] == pytest.approx(treat_all(y[idx], t), abs=1e-12)


def test_zero_one_weights_equal_the_formula_on_the_kept_rows():
    """The jackknife deletes groups by zero weights; the total weight then replaces n."""
    y, p = simulated(120, 5)
    t = [0.2, 0.5, 0.8]
    keep = np.random.default_rng(0).random((5, y.size)) < 0.7
    reps = NetBenefitCurve(y, p, t)(keep.astype(np.int64))
    for b in range(5):
        assert reps[b, :3] == pytest.approx(net_benefit(y[keep[b]], p[keep[b]], t), abs=1e-12)


def test_engine_layout_gives_the_same_replicates_as_the_original_order():
    y, p = simulated(300, 6)
    curve = NetBenefitCurve(y, p, np.linspace(0.05, 0.95, 19))
    (Wl,) = list(resample_counts(y, 30, 2, "layout", layout=curve.layout))
    W = np.empty_like(Wl)
    W[:, curve.layout] = Wl
    np.testing.assert_array_equal(curve.laid_out(Wl), curve(W))


def test_useless_model_never_beats_the_better_default_strategy():
    """p = prevalence for everyone: treat-all when t <= prevalence, treat-none (0) above it."""
    y, _ = simulated(500, 7)
    prevalence = y.mean()
    t = np.linspace(0.01, 0.99, 99)
    nb = net_benefit(y, np.full(y.size, prevalence), t)
    best_default = np.maximum(treat_all(y, t), 0.0)
    assert np.all(nb <= best_default + 1e-12)
    assert nb == pytest.approx(best_default, abs=1e-12)
    # where treat-all is worse than treating nobody, the constant model treats nobody
    assert np.all(nb[t > prevalence] == 0.0)


def test_perfect_model_has_net_benefit_equal_to_prevalence():
    y, _ = simulated(200, 8)
    assert net_benefit(y, y.astype(float), [0.1, 0.5, 0.9]) == pytest.approx([y.mean()] * 3, abs=1e-12)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan"), [0.2, 1.0], []])
def test_thresholds_outside_zero_one_are_refused(bad):
    with pytest.raises(ValueError, match="threshold"):
        net_benefit(Y, P, bad)
    with pytest.raises(ValueError, match="threshold"):
        NetBenefitCurve(Y, P, bad)


def test_decision_curve_intervals_bracket_the_estimates_and_are_json():
    y, p = simulated(400, 9)
    t = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    engine = ResamplingEngine(seed=1, n_resamples=400)
    out = decision_curve(y, p, t, engine, "decision/test")
    json.dumps(out)  # plain data
    assert out["thresholds"] == t and out["treat_none"] == 0.0
    assert [m["value"] for m in out["model"]] == pytest.approx(net_benefit(y, p, t), abs=1e-12)
    assert [m["value"] for m in out["treat_all"]] == pytest.approx(treat_all(y, t), abs=1e-12)
    for m in out["model"]:
        assert m["method"].startswith("bootstrap") and m["n"] == 400
        assert m["ci"][0] <= m["value"] <= m["ci"][1] and m["ci"][0] < m["ci"][1]
    for a in out["treat_all"]:
        assert a["method"] == "wilson"
        assert a["ci"][0] < a["value"] < a["ci"][1]  # not collapsed to a point
    # the same stream gives the same numbers
    assert decision_curve(y, p, t, engine, "decision/test") == out


def test_memory_stays_bounded_for_a_large_sample_and_99_thresholds():
    """n = 100,000 and T = 99: temporaries are O(B T + n), not O(B n T)."""
    y, p = simulated(100_000, 10)
    curve = NetBenefitCurve(y, p, np.linspace(0.01, 0.99, 99))
    W = np.ones((20, y.size), dtype=np.int64)  # 16 MB of counts
    tracemalloc.start()
    out = curve.laid_out(W)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (20, 198)
    assert peak < W.nbytes / 8
    assert out[0, :99] == pytest.approx(net_benefit(y, p, curve.thresholds), abs=1e-12)


def test_standardised_net_benefit_and_interventions_avoided_equal_their_formulas():
    from audit.stats.net_benefit import decision_curve

    rng = np.random.default_rng(31)
    y = (rng.random(500) < 0.25).astype(int)
    p = np.clip(0.25 + 0.3 * (y - 0.25) + rng.normal(0, 0.15, 500), 0.01, 0.99)
    t = np.array([0.1, 0.2, 0.3])
    curve = decision_curve(y, p, t, ResamplingEngine(seed=2, n_resamples=200), "dca")
    prev = y.mean()
    for j, tj in enumerate(t):
        flag = p >= tj
        nb = np.mean(flag & (y == 1)) - np.mean(flag & (y == 0)) * tj / (1 - tj)
        nb_all = prev - (1 - prev) * tj / (1 - tj)
        assert curve["standardised"][j]["value"] == pytest.approx(nb / prev, abs=1e-12)
        assert curve["model_minus_treat_all"][j]["value"] == pytest.approx(nb - nb_all, abs=1e-12)
        avoided = curve["interventions_avoided_per_100"][j]
        assert avoided["value"] == pytest.approx((nb - nb_all) * (1 - tj) / tj * 100, abs=1e-9)
        lo, hi = curve["model_minus_treat_all"][j]["ci"]
        assert avoided["ci"] == pytest.approx([lo * (1 - tj) / tj * 100, hi * (1 - tj) / tj * 100], abs=1e-9)
