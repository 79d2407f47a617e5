"""The resampling engine: stratification, determinism, jackknife acceleration, BCa against scipy."""

import numpy as np
import pytest
from scipy import stats

from audit.stats import BinaryMetrics, ResamplingEngine, resample_counts, strata_codes, stream_rng
from audit.stats.bootstrap import acceleration, bca_interval, jackknife
from audit.stats.resample import chunk_sizes


def weighted_mean(x):
    return lambda W: (W @ x / W.sum(axis=1))[:, None]


def test_resample_counts_keep_every_stratum_size_in_every_replicate():
    strata = strata_codes(np.r_[np.zeros(30), np.ones(7)], np.r_[np.zeros(20), np.ones(17)])
    blocks = list(resample_counts(strata, 250, 0, "s"))
    W = np.vstack(blocks)
    assert W.shape == (250, 37)
    for s in np.unique(strata):
        assert np.all(W[:, strata == s].sum(axis=1) == np.sum(strata == s))


def test_chunks_bound_memory_and_cover_every_replicate():
    n = 100_000
    sizes = chunk_sizes(n, 2000)
    assert sum(sizes) == 2000 and max(sizes) * n * 8 <= 64 * 2**20
    assert chunk_sizes(10, 2000) == [2000]


def test_same_seed_and_stream_give_identical_replicates_and_other_streams_differ():
    y = np.r_[np.zeros(50), np.ones(50)]
    x = np.random.default_rng(0).normal(size=100)
    engine = ResamplingEngine(seed=7, n_resamples=200)
    a = engine.bootstrap(weighted_mean(x), y, "performance/test")
    b = engine.bootstrap(weighted_mean(x), y, "performance/test")
    c = engine.bootstrap(weighted_mean(x), y, "performance/gbsg")
    assert np.array_equal(a.replicates, b.replicates) and (a.low, a.high) == (b.low, b.high)
    assert not np.array_equal(a.replicates, c.replicates)


def test_grouped_jackknife_is_leave_one_out_when_n_is_small():
    x = np.random.default_rng(1).exponential(size=60)
    jack = jackknife(weighted_mean(x), np.zeros(60, int), stream_rng(0, "j"))
    loo = np.array([np.delete(x, i).mean() for i in range(60)])
    assert np.sort(jack[:, 0]) == pytest.approx(np.sort(loo), abs=1e-12)
    d = loo.mean() - loo
    assert acceleration(jack)[0] == pytest.approx((d**3).sum() / (6 * (d**2).sum() ** 1.5), rel=1e-10)


def test_grouped_jackknife_acceleration_moves_bca_endpoints_as_little_as_leave_one_out():
    """With n = 5000 the grouped acceleration is a noisy estimate of a small number (a = O(n^-1/2));
    what matters is the interval: both accelerations give endpoints within 2% of the CI width."""
    x = np.random.default_rng(2).exponential(size=5000)
    loo = (x.sum() - x) / (x.size - 1)
    d = loo.mean() - loo
    exact = (d**3).sum() / (6 * (d**2).sum() ** 1.5)
    grouped = acceleration(jackknife(weighted_mean(x), np.zeros(x.size, int), stream_rng(0, "j")))[0]
    assert 0 < grouped < 3 * exact
    engine = ResamplingEngine(seed=3, n_resamples=4000)
    reps = engine.bootstrap(weighted_mean(x), np.zeros(x.size, int), "m").replicates[:, 0]
    with_exact = np.array(bca_interval(reps, x.mean(), exact, 0.95))
    with_grouped = np.array(bca_interval(reps, x.mean(), grouped, 0.95))
    assert np.abs(with_exact - with_grouped).max() < 0.02 * (with_exact[1] - with_exact[0])


def test_bca_interval_agrees_with_scipy_bootstrap_for_a_mean():
    x = np.random.default_rng(3).exponential(size=150)  # skewed: BCa differs from percentile here
    ours = ResamplingEngine(seed=1, n_resamples=20_000, method="bca").bootstrap(weighted_mean(x), np.zeros(150, int), "m")
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="BCa", random_state=np.random.default_rng(5))
    se = ref.standard_error
    assert ours.methods == ("bootstrap-bca",)
    # Monte Carlo error of a BCa endpoint at B = 20,000 is a few hundredths of a standard error
    assert ours.low[0] == pytest.approx(ref.confidence_interval.low, abs=0.1 * se)
    assert ours.high[0] == pytest.approx(ref.confidence_interval.high, abs=0.1 * se)


def test_percentile_interval_agrees_with_scipy_bootstrap_for_a_mean():
    x = np.random.default_rng(4).normal(size=60)
    ours = ResamplingEngine(seed=1, n_resamples=20_000, method="percentile").bootstrap(weighted_mean(x), np.zeros(60, int), "m")
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=np.random.default_rng(5))
    se = ref.standard_error
    assert ours.methods == ("bootstrap-percentile",)
    assert ours.low[0] == pytest.approx(ref.confidence_interval.low, abs=0.05 * se)
    assert ours.high[0] == pytest.approx(ref.confidence_interval.high, abs=0.05 * se)


def test_bca_falls_back_to_percentile_when_all_replicates_lie_on_one_side():
    assert bca_interval(np.array([1.0, 1.1, 1.2]), 0.5, 0.0, 0.95) is None


def test_undefined_statistic_gets_no_interval_and_point_estimate_stays():
    y = np.r_[np.zeros(40), np.ones(40)]
    p = np.r_[np.linspace(0, 0.3, 40), np.linspace(0.2, 0.5, 40)]
    kernel = BinaryMetrics(y, p, threshold=0.99, names=("ppv", "sensitivity"))  # nobody predicted positive
    res = ResamplingEngine(n_resamples=100).bootstrap(kernel, y, "u")
    assert np.isnan(res.estimate[0]) and np.isnan(res.low[0])
    # sensitivity is 0 in every resample: a degenerate distribution gives no interval, with the reason
    assert res.estimate[1] == 0.0 and np.isnan(res.low[1])
    assert "degenerate" in res.estimate_at(1, 80).reason


def test_a_stream_drawn_once_and_read_back_gives_the_same_replicates():
    """CountsStore (issue 21): the first bootstrap of a stream draws and stores its counts, later ones read them;
    every statistic gets the replicates it would get by drawing, whatever its layout."""
    from audit.stats import BinaryMetrics
    from audit.stats.bootstrap import replicates
    from audit.stats.resample import CountsStore, SamplingDesign

    rng = np.random.default_rng(3)
    n = 500
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    design = SamplingDesign(None, rng.integers(0, 120, n))  # clustered rows: a row's count is its cluster's
    laid_out = BinaryMetrics(y, p, 0.5)

    def plain(w):  # no layout: rows in their own order
        return (np.asarray(w, float) @ p / np.asarray(w, float).sum(axis=1))[:, None]

    store = CountsStore()
    try:
        for statistic in (laid_out, plain, laid_out):
            drawn = replicates(statistic, design, 250, 9, "dataset/test", store=None)
            stored = replicates(statistic, design, 250, 9, "dataset/test", store=store)
            np.testing.assert_array_equal(stored, drawn)
        assert len(store._streams) == 1  # one draw for the stream, read by the others
        other = replicates(plain, design, 250, 9, "dataset/ext", store=store)
        assert len(store._streams) == 2 and not np.array_equal(other, replicates(plain, design, 250, 9, "dataset/test"))
    finally:
        store.close()


def test_stored_counts_keep_their_values_above_255():
    from audit.stats.resample import CountsStore

    store = CountsStore()
    try:
        small, big = np.array([[0, 3, 255]]), np.array([[256, 70_000, 1]])
        store.write("k", small)
        store.write("k", big)
        back = list(store.read("k"))
        assert [b.dtype for b in back] == [np.uint8, np.int64]  # the compact type of each chunk
        np.testing.assert_array_equal(back[0], small)
        np.testing.assert_array_equal(back[1], big)
    finally:
        store.close()


def test_a_chunk_evaluated_in_slices_gives_the_same_replicates(monkeypatch):
    """EVAL_CELLS bounds a statistic's temporaries by evaluating a chunk of counts in slices of replicates."""
    import audit.stats.bootstrap as bootstrap_module
    from audit.stats.bootstrap import replicates
    from audit.stats.metrics import GroupedBinaryMetrics

    rng = np.random.default_rng(8)
    n = 400
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    kernel = GroupedBinaryMetrics(y, p, {"sex": rng.integers(0, 2, n), "band": rng.integers(0, 3, n)})
    whole = replicates(kernel, strata_codes(y), 120, 4, "slices")
    monkeypatch.setattr(bootstrap_module, "EVAL_CELLS", 7 * n)  # slices of 7 replicates
    sliced = replicates(kernel, strata_codes(y), 120, 4, "slices")
    np.testing.assert_array_equal(sliced, whole)


@pytest.mark.parametrize("stored", [False, True])
def test_chunks_evaluated_on_several_threads_give_the_same_replicates(stored):
    """The engine evaluates chunks on threads in this process (every core by default); order and values are
    those of one thread, with a store (drawn and written in chunk order, then read) and without."""
    from audit.stats.bootstrap import replicates
    from audit.stats.metrics import GroupedBinaryMetrics
    from audit.stats.resample import CountsStore

    rng = np.random.default_rng(11)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    kernel = GroupedBinaryMetrics(y, p, {"sex": rng.integers(0, 2, n)})
    one = replicates(kernel, strata_codes(y), 7000, 2, "threads", threads=1)  # several chunks at n = 3,000
    assert len(chunk_sizes(n, 7000)) > 2
    store = CountsStore() if stored else None
    try:
        for _ in range(2 if stored else 1):  # drawn and stored, then read back
            many = replicates(kernel, strata_codes(y), 7000, 2, "threads", store=store, threads=3)
            np.testing.assert_array_equal(many, one)
    finally:
        if store is not None:
            store.close()


def test_slicing_a_chunk_moves_blas_based_statistics_by_rounding_only(monkeypatch):
    """Statistics built on matrix products (survival, multiclass) round differently when fewer replicates are
    evaluated at once; EVAL_CELLS slices (issue 21) moved such values by at most ~1e-15 relative (the Rotterdam
    example's fairness Brier gaps), never more."""
    import audit.stats.bootstrap as bootstrap_module
    from audit.stats.bootstrap import replicates
    from audit.stats.survival import GroupedSurvivalMetrics

    rng = np.random.default_rng(21)
    n = 600
    time = rng.exponential(5, n).round(2) + 0.01
    event = (rng.random(n) < 0.6).astype(int)
    score = rng.normal(size=n)
    risk = 1 / (1 + np.exp(-score))
    kernel = GroupedSurvivalMetrics(time, event, score, risk, 3.0, {"sex": rng.integers(0, 2, n)})
    whole = replicates(kernel, None, 300, 4, "slices")
    monkeypatch.setattr(bootstrap_module, "EVAL_CELLS", 13 * n)
    sliced = replicates(kernel, None, 300, 4, "slices")
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("strata", [None, "outcome", "uneven"])
def test_counts_drawn_in_blocks_equal_the_counts_drawn_at_once(monkeypatch, strata):
    """draw_counts makes and counts its draws DRAW_CELLS at a time (bounded memory): the generator's draws come
    in the same order, so every count equals the count of one (size, n) draw and one bincount over it."""
    import audit.stats.resample as resample_module
    from audit.stats.resample import ResamplePlan, draw_counts

    rng = np.random.default_rng(3)
    n = 997
    design = {None: None, "outcome": rng.integers(0, 3, n), "uneven": np.r_[np.zeros(n - 3, int), np.ones(3, int)]}[strata]
    plan = ResamplePlan.build(design, n)
    seed = np.random.SeedSequence(42)
    # the reference: every draw of the chunk at once, stratum by stratum, counted by one bincount
    generator = np.random.default_rng(seed)
    draws = np.empty((9, plan.n_units), dtype=np.int64)
    for start, m in zip(plan.starts, plan.sizes):
        draws[:, start:start + m] = generator.integers(0, m, size=(9, m)) + start
    expected = np.vstack([np.bincount(row, minlength=plan.n_units) for row in draws])
    if plan.unit_of_row is not None:
        expected = expected[:, plan.unit_of_row]
    monkeypatch.setattr(resample_module, "DRAW_CELLS", 2 * n + 5)  # blocks of two replicates, and a remainder
    np.testing.assert_array_equal(draw_counts(plan, 9, seed), expected)
    layout = rng.permutation(n)
    np.testing.assert_array_equal(draw_counts(plan, 9, seed, layout), expected[:, layout])


def test_jackknife_on_several_threads_equals_one_thread(monkeypatch):
    import audit.stats.bootstrap as bootstrap_module
    from audit.stats.metrics import GroupedBinaryMetrics

    rng = np.random.default_rng(12)
    n = 900
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    kernel = GroupedBinaryMetrics(y, p, {"sex": rng.integers(0, 2, n)})
    monkeypatch.setattr(bootstrap_module, "EVAL_CELLS", 7 * n)  # blocks of 7 deleted groups
    one = jackknife(kernel, strata_codes(y), np.random.default_rng(1), threads=1)
    many = jackknife(kernel, strata_codes(y), np.random.default_rng(1), threads=3)
    assert one.shape[0] == 200
    np.testing.assert_array_equal(many, one)
