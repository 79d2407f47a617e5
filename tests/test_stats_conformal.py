"""Split conformal prediction sets for K classes (audit.stats.conformal): MAPIE's sets equal a direct
numpy implementation of LAC and of non-randomised APS, cover on exchangeable data, are deterministic,
handle a class absent from calibration, and reduce to the binary check's sets at K = 2; the coverage
summary and the under-covered classes."""

import json
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

from audit.checks import uncertainty
from audit.stats.conformal import conformal_sets, coverage_summary, undercovered_classes
from audit.stats.proportions import proportion

#: MAPIE's comparison tolerance (``mapie._machine_precision.EPSILON``).
EPS = 1e-8
LEVELS = [0.8, 0.9, 0.95]


# --- a direct implementation, from the definitions (and MAPIE's conventions read from its source) ---

def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The k-th smallest score, k = ceil((n + 1) level), computed exactly."""
    n = scores.size
    k = math.ceil((n + 1) * Fraction(str(level)))
    assert 1 <= k <= n
    return float(np.sort(scores)[k - 1])


def lac_reference(P_cal, y_cal, P_eval, levels):
    scores = 1 - P_cal[np.arange(y_cal.size), y_cal]
    return np.stack([(1 - P_eval) - conformal_quantile(scores, lv) <= EPS for lv in levels], axis=2)


def aps_reference(P_cal, y_cal, P_eval, levels):
    """Calibration score: probability mass of the classes ranked at or above the true one. Set: the
    classes by decreasing probability up to and including the first whose cumulative sum reaches q."""
    order = np.argsort(-P_cal, axis=1)
    cum = np.cumsum(np.take_along_axis(P_cal, order, axis=1), axis=1)
    rank = np.argmax(order == y_cal[:, None], axis=1)
    scores = cum[np.arange(y_cal.size), rank]
    out = np.zeros(P_eval.shape + (len(levels),), dtype=bool)
    for j, lv in enumerate(levels):
        q = conformal_quantile(scores, lv)
        for i, p in enumerate(P_eval):
            o = np.argsort(-p)
            last = int(np.argmax(np.cumsum(p[o]) >= q - EPS))
            out[i, o[: last + 1], j] = True
    return out


def simulate(rng, n: int, k: int):
    """Exchangeable patients: true class probabilities softmax(2x); the model is overconfident, softmax(3x + noise)."""
    x = rng.normal(size=(n, k))
    truth = np.exp(2 * x)
    truth /= truth.sum(axis=1, keepdims=True)
    y = np.minimum((np.cumsum(truth, axis=1) < rng.random(n)[:, None]).sum(axis=1), k - 1)
    logits = 3 * x + 0.5 * rng.normal(size=(n, k))
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True), y


# --- equality with the definitions ---

@pytest.mark.parametrize("k", [3, 5, 10])
def test_lac_sets_equal_the_direct_implementation(k):
    rng = np.random.default_rng(k)
    for n_cal in (40, 173, 500):
        P, y = simulate(rng, n_cal + 300, k)
        got = conformal_sets(P[:n_cal], y[:n_cal], P[n_cal:], LEVELS, "lac")
        assert got.shape == (300, k, len(LEVELS)) and got.dtype == bool
        np.testing.assert_array_equal(got, lac_reference(P[:n_cal], y[:n_cal], P[n_cal:], LEVELS))


@pytest.mark.parametrize("k", [3, 5, 10])
def test_aps_sets_equal_the_direct_non_randomised_implementation(k):
    rng = np.random.default_rng(100 + k)
    for n_cal in (40, 173, 500):
        P, y = simulate(rng, n_cal + 300, k)
        got = conformal_sets(P[:n_cal], y[:n_cal], P[n_cal:], LEVELS, "aps")
        assert got.shape == (300, k, len(LEVELS))
        np.testing.assert_array_equal(got, aps_reference(P[:n_cal], y[:n_cal], P[n_cal:], LEVELS))
        assert got.sum(axis=1).min() >= 1  # APS with the crossing class included is never empty


def test_the_quantile_is_the_kth_smallest_score_not_the_next_one():
    # nine calibration scores 0.1 .. 0.9; level 0.8: k = ceil(10 * 0.8) = 8, q = 0.8 (the "higher" rule would give 0.9)
    s = np.arange(1, 10) / 10
    P_cal = np.column_stack([1 - s, s / 2, s / 2])
    y_cal = np.zeros(9, dtype=int)
    P_eval = np.array([[0.21, 0.19, 0.60]])  # LAC scores 0.79 (in), 0.81 (out), 0.40 (in)
    sets = conformal_sets(P_cal, y_cal, P_eval, 0.8, "lac")
    np.testing.assert_array_equal(sets[0, :, 0], [True, False, True])


def test_levels_keep_their_order_and_a_single_float_is_one_level():
    rng = np.random.default_rng(7)
    P, y = simulate(rng, 300, 4)
    both = conformal_sets(P[:200], y[:200], P[200:], [0.95, 0.8], "lac")
    np.testing.assert_array_equal(both[:, :, 0], conformal_sets(P[:200], y[:200], P[200:], 0.95)[:, :, 0])
    np.testing.assert_array_equal(both[:, :, 1], conformal_sets(P[:200], y[:200], P[200:], 0.8)[:, :, 0])
    assert (both[:, :, 0] >= both[:, :, 1]).all()  # a higher target never gives a smaller set


# --- coverage on exchangeable data ---

@pytest.mark.parametrize("score", ["lac", "aps"])
def test_marginal_coverage_reaches_the_target_on_exchangeable_data(score):
    """200 simulated splits (n_cal = 50, n_eval = 100, K = 4). Split conformal's coverage averaged over
    calibration and test draws is >= level; for LAC (untied scores) also <= level + 1/(n_cal + 1). The
    Monte-Carlo band is 3 standard errors of the mean over splits (SE ~ 0.004 here)."""
    rng = np.random.default_rng(2024 if score == "lac" else 2025)
    reps, n_cal, n_eval, levels = 200, 50, 100, [0.8, 0.9]
    cover = np.empty((reps, len(levels)))
    for r in range(reps):
        P, y = simulate(rng, n_cal + n_eval, 4)
        sets = conformal_sets(P[:n_cal], y[:n_cal], P[n_cal:], levels, score)
        cover[r] = sets[np.arange(n_eval), y[n_cal:], :].mean(axis=0)
    mean, se = cover.mean(axis=0), cover.std(axis=0, ddof=1) / np.sqrt(reps)
    for j, level in enumerate(levels):
        assert mean[j] >= level - 3 * se[j], (level, mean[j], se[j])
        if score == "lac":
            assert mean[j] <= level + 1 / (n_cal + 1) + 3 * se[j], (level, mean[j], se[j])


# --- determinism ---

@pytest.mark.parametrize("score", ["lac", "aps"])
def test_sets_are_deterministic_whatever_the_global_random_state(score):
    rng = np.random.default_rng(3)
    P, y = simulate(rng, 400, 6)
    np.random.seed(1)
    first = conformal_sets(P[:250], y[:250], P[250:], LEVELS, score)
    np.random.seed(2)
    second = conformal_sets(P[:250], y[:250], P[250:], LEVELS, score)
    np.testing.assert_array_equal(first, second)


def test_mapies_own_aps_score_is_randomised_at_calibration_which_is_why_it_is_replaced():
    """A canary: MAPIE's "aps" stores s - U P_y at calibration, so its sets move with random_state even with
    include_last_label=True. If MAPIE ever stops drawing U, the subclass in audit.stats.conformal is moot."""
    from mapie.classification import SplitConformalClassifier

    from audit.stats.conformal import _ProbabilityPassThrough

    rng = np.random.default_rng(4)
    P, y = simulate(rng, 600, 5)
    quantiles = []
    for seed in (1, 2):
        model = SplitConformalClassifier(_ProbabilityPassThrough(5).fit(), confidence_level=[0.9], conformity_score="aps",
                                         prefit=True, random_state=seed)
        model.conformalize(P[:400], y[:400])
        model.predict_set(P[400:], conformity_score_params={"include_last_label": True})
        quantiles.append(float(model._mapie_classifier.conformity_score_function_.quantiles_[0]))
    assert quantiles[0] != quantiles[1]


# --- the binary case ---

def test_k2_lac_equals_the_binary_checks_sets():
    rng = np.random.default_rng(5)
    p = rng.beta(2, 3, 700)
    y = (rng.random(700) < p).astype(int)
    P = np.column_stack([1 - p, p])
    ours = conformal_sets(P[:300], y[:300], P[300:], LEVELS, "lac")
    theirs = uncertainty.conformal_sets(p[:300], y[:300], p[300:], LEVELS)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(conformal_sets(P[:300], y[:300].astype(bool), P[300:], LEVELS), theirs)


def test_aps_needs_three_classes_in_the_calibration_labels():
    rng = np.random.default_rng(6)
    p = rng.beta(2, 3, 100)
    P2 = np.column_stack([1 - p, p])
    with pytest.raises(ValueError, match="three distinct classes"):
        conformal_sets(P2[:60], (rng.random(60) < p[:60]).astype(int), P2[60:], 0.9, "aps")
    P4, y4 = simulate(rng, 200, 4)
    two = np.isin(y4, [0, 1])
    with pytest.raises(ValueError, match="three distinct classes"):
        conformal_sets(P4[two], y4[two], P4, 0.9, "aps")


# --- a class absent from the calibration set ---

@pytest.mark.parametrize("score", ["lac", "aps"])
def test_a_class_absent_from_calibration_keeps_its_column_and_follows_the_same_rule(score):
    """MAPIE takes the classes from the classifier (prefit), warns (silenced), and learns q from the classes
    present; the absent class enters a set by the same rule as any other."""
    rng = np.random.default_rng(8)
    P, y = simulate(rng, 700, 4)
    cal = np.flatnonzero(y[:400] != 3)
    assert np.unique(y[cal]).tolist() == [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes
        got = conformal_sets(P[cal], y[cal], P[400:], LEVELS, score)
    reference = (lac_reference if score == "lac" else aps_reference)(P[cal], y[cal], P[400:], LEVELS)
    assert got.shape == (300, 4, len(LEVELS))
    np.testing.assert_array_equal(got, reference)
    assert got[:, 3, :].any()  # the absent class is still offered where its probability is high enough


# --- input checks ---

def test_malformed_input_is_refused_at_the_door():
    rng = np.random.default_rng(9)
    P, y = simulate(rng, 100, 3)
    with pytest.raises(ValueError, match="sum to 1"):
        conformal_sets(P[:60] * 0.9, y[:60], P[60:], 0.9)
    with pytest.raises(ValueError, match="class codes 0 .. 2"):
        conformal_sets(P[:60], np.where(y[:60] == 0, 3, y[:60]), P[60:], 0.9)
    with pytest.raises(ValueError, match="4 classes"):
        conformal_sets(P[:60], y[:60], np.full((5, 4), 0.25), 0.9)
    with pytest.raises(ValueError, match="unknown conformity score"):
        conformal_sets(P[:60], y[:60], P[60:], 0.9, "raps")
    with pytest.raises(ValueError, match="levels"):
        conformal_sets(P[:60], y[:60], P[60:], [0.9, 1.0])
    with pytest.raises(ValueError, match="too low"):  # MAPIE: n_cal < max(1/alpha, 1/(1 - alpha))
        conformal_sets(P[:15], y[:15], P[60:], 0.95)
    assert conformal_sets(P[:60], y[:60], P[:0], [0.8, 0.9]).shape == (0, 3, 2)


# --- the summary ---

def test_coverage_summary_counts_and_intervals():
    sets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=bool)
    y = np.array([0, 1, 0, 2, 1, 1])
    s = coverage_summary(sets, y, 0.95, ["low", "mid", "high"])
    assert s["n"] == 6
    assert s["coverage"] == proportion(4, 6, 0.95).to_dict()  # rows 0, 1, 3, 5
    assert s["mean_set_size"] == pytest.approx(9 / 6)
    assert s["empty"] == proportion(1, 6, 0.95).to_dict() and s["singleton"] == proportion(2, 6, 0.95).to_dict()
    assert list(s["by_class"]) == ["low", "mid", "high"]
    low, mid, high = (s["by_class"][k] for k in ("low", "mid", "high"))
    assert low["n"] == 2 and low["coverage"] == proportion(1, 2, 0.95).to_dict() and low["mean_set_size"] == 0.5
    assert mid["n"] == 3 and mid["coverage"] == proportion(2, 3, 0.95).to_dict() and mid["mean_set_size"] == pytest.approx(2)
    assert high["n"] == 1 and high["coverage"]["value"] == 1.0
    json.dumps(s, allow_nan=False)


def test_a_class_with_no_rows_has_no_value_and_says_why():
    sets = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    s = coverage_summary(sets, np.array([0, 1]), 0.95, [0, 1, 2])
    empty = s["by_class"]["2"]
    assert empty["n"] == 0 and empty["mean_set_size"] is None
    assert empty["coverage"]["value"] is None and empty["coverage"]["ci"] is None
    assert "no rows with true class 2" in empty["coverage"]["reason"]
    json.dumps(s, allow_nan=False)
    none = coverage_summary(np.zeros((0, 3), dtype=bool), np.zeros(0, dtype=int), 0.95, "abc")
    assert none["n"] == 0 and none["coverage"]["value"] is None and none["mean_set_size"] is None


def test_undercovered_classes_are_those_whose_interval_lies_wholly_below_the_target():
    y = np.repeat([0, 1, 2], 40)
    sets = np.zeros((120, 4), dtype=bool)
    sets[:40, 0] = True  # class 0: 40/40 covered
    sets[40:68, 1] = True  # class 1: 28/40 = 0.70, interval about 0.55 to 0.82: below 0.9
    sets[80:114, 2] = True  # class 2: 34/40 = 0.85, interval reaches above 0.9
    s = coverage_summary(sets, y, 0.95, ["a", "b", "c", "d"])  # class "d" has no rows
    assert s["by_class"]["b"]["coverage"]["ci"][1] < 0.9 < s["by_class"]["c"]["coverage"]["ci"][1]
    assert undercovered_classes(s, 0.9) == ["b"]
    assert undercovered_classes(s, 0.5) == []


def test_coverage_summary_takes_one_level_at_a_time():
    with pytest.raises(ValueError, match="one level"):
        coverage_summary(np.zeros((3, 2, 1), dtype=bool), np.array([0, 1, 0]), 0.95, ["a", "b"])
