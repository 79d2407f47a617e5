"""Segmentation metrics against the Metrics Reloaded pitfall figures, brute force, and MONAI when installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import binom

from audit.stats.segmentation import (
    VoxelCalibration, calibration_sums, failure_mixture_interval, BOTH_EMPTY, BOTH_PRESENT, CASE_METRICS, DEFAULT_DISTANCE_CAP, FALSE_POSITIVE, MISSED, CaseMeans, case_score,
    lesion_counts, median_interval, surface_distances,
)


def _metrics(score) -> dict:
    return dict(zip(CASE_METRICS, score.values))


def _figure10():
    """Reinke et al. (Nat Methods 2024), the distance-metric pitfall: a square and a cross through it."""
    ref = np.zeros((11, 11), bool)
    ref[3:8, 3:8] = True
    pred = ref.copy()
    pred[5, 1:10] = True
    pred[1:10, 5] = True
    return ref, pred


def test_pitfall_figure_values():
    """The published values (Metrics Reloaded's tests of its pitfall figures): DSC 0.862, IoU 0.76, MASD 0.425,
    ASSD 0.44, NSD 0.89 at tolerance 1 and 1.0 at 2; HD 11.31 and HD95 6.79 for a stray reference pixel."""
    ref, pred = _figure10()
    m = _metrics(case_score(ref, pred, (1.0, 1.0), tolerance=1.0))
    assert m["dice"] == pytest.approx(0.862, abs=5e-4)
    assert m["iou"] == pytest.approx(0.76, abs=5e-3)
    assert m["masd"] == pytest.approx(0.425, abs=5e-4)
    assert m["assd"] == pytest.approx(0.44, abs=5e-3)
    assert m["nsd"] == pytest.approx(0.89, abs=5e-3)
    assert _metrics(case_score(ref, pred, (1.0, 1.0), tolerance=2.0))["nsd"] == 1.0
    ref = np.zeros((14, 14), bool)
    ref[1, 1] = True
    ref[9:12, 9:12] = True
    pred = np.zeros((14, 14), bool)
    pred[9:12, 9:12] = True
    m = _metrics(case_score(ref, pred, (1.0, 1.0)))
    assert m["hd"] == pytest.approx(11.31, abs=5e-3)
    assert m["hd95"] == pytest.approx(6.79, abs=5e-3)
    assert math.isnan(m["nsd"])  # no tolerance given: NSD is not computed


def _blobs(rng, shape, k):
    """A random 3-D mask: a few overlapping balls."""
    grid = np.indices(shape).astype(float)
    out = np.zeros(shape, bool)
    for _ in range(k):
        c = rng.uniform(2, np.array(shape) - 2)
        r = rng.uniform(1.5, 4)
        out |= sum((g - ci) ** 2 for g, ci in zip(grid, c)) <= r * r
    return out


def _border_brute(mask):
    """Voxels with one of their 2d face neighbours outside the mask (outside the image counting as outside)."""
    padded = np.pad(mask, 1)
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    outside = np.zeros(mask.shape, bool)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            outside |= ~np.roll(padded, step, axis=axis)[inner]
    return mask & outside


@pytest.mark.parametrize("seed", range(4))
def test_distances_dice_and_volumes_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape, spacing = (14, 12, 10), (0.7, 1.3, 2.5)
    ref, pred = _blobs(rng, shape, 3), _blobs(rng, shape, 3)
    a = np.argwhere(_border_brute(ref)) * spacing
    b = np.argwhere(_border_brute(pred)) * spacing
    d = cdist(a, b)
    d_ref, d_pred = d.min(axis=1), d.min(axis=0)
    got_ref, got_pred = surface_distances(ref, pred, spacing)
    np.testing.assert_allclose(np.sort(got_ref), np.sort(d_ref), atol=1e-9)
    np.testing.assert_allclose(np.sort(got_pred), np.sort(d_pred), atol=1e-9)
    m = _metrics(case_score(ref, pred, spacing, tolerance=1.5))
    both = np.concatenate([d_ref, d_pred])
    assert m["hd"] == pytest.approx(both.max())
    assert m["hd95"] == pytest.approx(max(np.percentile(d_ref, 95), np.percentile(d_pred, 95)))
    assert m["masd"] == pytest.approx((d_ref.mean() + d_pred.mean()) / 2)
    assert m["assd"] == pytest.approx(both.mean())
    assert m["nsd"] == pytest.approx(np.mean(both <= 1.5))
    tp, fp, fn = (ref & pred).sum(), (~ref & pred).sum(), (ref & ~pred).sum()
    assert m["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert m["iou"] == pytest.approx(tp / (tp + fp + fn))
    voxel = np.prod(spacing)
    assert m["volume_difference"] == pytest.approx(abs(pred.sum() - ref.sum()) * voxel)
    assert m["relative_volume_difference"] == pytest.approx((pred.sum() - ref.sum()) / ref.sum())


def test_spacing_scales_distances_not_overlap():
    ref, pred = _figure10()
    at_1 = _metrics(case_score(ref, pred, (1.0, 1.0)))
    at_2 = _metrics(case_score(ref, pred, (2.0, 2.0)))
    for m in ("hd", "hd95", "masd", "assd"):
        assert at_2[m] == pytest.approx(2 * at_1[m])
    assert at_2["dice"] == at_1["dice"]
    assert at_2["reference_volume"] == 4 * at_1["reference_volume"]


def test_empty_mask_policy_each_branch():
    present = np.zeros((9, 9), bool)
    present[3:6, 3:6] = True
    empty = np.zeros((9, 9), bool)
    missed = case_score(present, empty, (1, 1), tolerance=1.0, cap=50.0)
    assert missed.status == MISSED
    m = _metrics(missed)
    assert (m["dice"], m["iou"], m["nsd"]) == (0.0, 0.0, 0.0)
    assert all(m[k] == 50.0 for k in ("hd", "hd95", "masd", "assd"))
    assert m["relative_volume_difference"] == -1.0 and m["volume_difference"] == 9.0
    fp = case_score(empty, present, (1, 1), tolerance=1.0, cap=50.0)
    assert fp.status == FALSE_POSITIVE
    m = _metrics(fp)
    assert (m["dice"], m["hd95"]) == (0.0, 50.0)
    assert math.isnan(m["relative_volume_difference"])  # not estimable with an empty reference
    excluded = case_score(empty, empty, (1, 1), tolerance=1.0)
    assert excluded.status == BOTH_EMPTY
    assert all(math.isnan(v) for k, v in _metrics(excluded).items() if k not in ("reference_volume", "predicted_volume"))
    best = _metrics(case_score(empty, empty, (1, 1), tolerance=1.0, both_empty="best"))
    assert (best["dice"], best["nsd"], best["hd95"], best["volume_difference"]) == (1.0, 1.0, 0.0, 0.0)
    assert case_score(present, present, (1, 1)).status == BOTH_PRESENT


def test_distances_are_truncated_at_the_cap_so_a_miss_is_never_better():
    ref = np.zeros((5, 300), bool)
    ref[2, 1:4] = True
    pred = np.zeros((5, 300), bool)
    pred[2, 1:4] = True
    pred[2, 290:295] = True  # a far false-positive piece, 287 voxels away
    far = _metrics(case_score(ref, pred, (1, 1), cap=DEFAULT_DISTANCE_CAP))
    assert far["hd"] == DEFAULT_DISTANCE_CAP
    assert _metrics(case_score(ref, np.zeros_like(ref), (1, 1)))["hd"] >= far["hd"]


def test_a_missed_structure_lowers_the_mean():
    ref, pred = _figure10()
    good = case_score(ref, pred, (1, 1))
    miss = case_score(ref, np.zeros_like(ref), (1, 1))
    dice = CASE_METRICS.index("dice")
    values = np.array([good.values, good.values, miss.values])
    means = CaseMeans(values, CASE_METRICS)(np.ones((1, 3)))[0]
    assert means[dice] == pytest.approx(2 * good.values[dice] / 3)


def test_lesion_counts():
    ref = np.zeros((20, 20), bool)
    ref[1:4, 1:4] = True  # detected
    ref[10:12, 10:12] = True  # missed
    ref[4, 4] = True  # touches the first lesion diagonally: one lesion under full connectivity
    pred = np.zeros((20, 20), bool)
    pred[2:5, 2:5] = True
    pred[16:18, 1:3] = True  # false positive
    np.testing.assert_array_equal(lesion_counts(ref, pred), [2, 1, 2, 1])


def test_case_means_equal_repeated_rows():
    rng = np.random.default_rng(1)
    values = rng.uniform(size=(7, 3))
    values[2, 1] = np.nan
    counts = rng.integers(0, 3, size=(4, 7))
    num = rng.integers(0, 4, size=(7, 1)).astype(float)
    den = num + rng.integers(0, 2, size=(7, 1))
    got = CaseMeans(values, ("a", "b", "c", "ratio"), num, den)(counts)
    for row, w in zip(got, counts):
        expanded = np.repeat(values, w, axis=0)
        np.testing.assert_allclose(row[:3], np.nanmean(expanded, axis=0))
        assert row[3] == pytest.approx(np.repeat(num, w).sum() / np.repeat(den, w).sum())


@pytest.mark.parametrize("n", [6, 20, 57, 200])
def test_median_interval_is_the_exact_order_statistic_interval(n):
    """The ranks give the largest k with P(Bin(n, 1/2) <= k - 1) <= 2.5%, so coverage is at least 95% and
    the next narrower rank pair would fall short."""
    x = np.arange(n, dtype=float)
    median, (low, high) = median_interval(x, 0.95)
    k = int(low) + 1
    assert high == n - k
    assert binom.cdf(k - 1, n, 0.5) <= 0.025 < binom.cdf(k, n, 0.5)
    assert 1 - 2 * binom.cdf(k - 1, n, 0.5) >= 0.95
    assert median == np.median(x)
    assert median_interval(np.arange(5.0), 0.95)[1] is None


def test_monai_agrees_when_installed():
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    rng = np.random.default_rng(3)
    for _ in range(3):
        ref, pred = _blobs(rng, (16, 14, 12), 3), _blobs(rng, (16, 14, 12), 3)
        spacing = (1.0, 0.8, 2.0)
        m = _metrics(case_score(ref, pred, spacing, cap=1e9))

        def t(a):
            return torch.as_tensor(a)[None, None]

        hd95 = monai_metrics.compute_hausdorff_distance(t(pred), t(ref), percentile=95, spacing=spacing)
        hd = monai_metrics.compute_hausdorff_distance(t(pred), t(ref), spacing=spacing)
        assd = monai_metrics.compute_average_surface_distance(t(pred), t(ref), symmetric=True, spacing=spacing)
        assert m["hd95"] == pytest.approx(float(hd95), rel=1e-6)
        assert m["hd"] == pytest.approx(float(hd), rel=1e-6)
        assert m["assd"] == pytest.approx(float(assd), rel=1e-6)


def test_voxel_calibration_equals_pooled_voxels():
    """ECE, O/E and the bins from per-case sums equal a direct computation over every region voxel of every case;
    a resample equals repeated cases."""
    from scipy.ndimage import distance_transform_edt

    rng = np.random.default_rng(2)
    cases = []
    for _ in range(5):
        ref, pred = _blobs(rng, (12, 12, 8), 2), _blobs(rng, (12, 12, 8), 2)
        cases.append((ref, pred, rng.uniform(size=ref.shape)))
    spacing = (1.0, 1.0, 2.0)
    sums = np.stack([calibration_sums(p, r, q, spacing, margin=3.0) for r, q, p in cases])
    ps, ys = [], []
    for r, q, p in cases:
        region = distance_transform_edt(~(r | q), sampling=spacing) <= 3.0
        ps.append(p[region])
        ys.append(r[region])
    p, y = np.concatenate(ps), np.concatenate(ys)
    b = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(y[b == k].sum() - p[b == k].sum()) for k in range(10)) / p.size
    got = VoxelCalibration(sums)(np.ones((1, 5)))[0]
    assert got[0] == pytest.approx(ece)
    assert got[1] == pytest.approx(y.sum() / p.sum())
    np.testing.assert_allclose(got[12:], [y[b == k].mean() for k in range(10)])
    w = np.array([[2, 0, 1, 0, 3]])
    expanded = VoxelCalibration(np.repeat(sums, w[0], axis=0))(np.ones((1, int(w.sum()))))
    np.testing.assert_allclose(VoxelCalibration(sums)(w), expanded)
    assert not calibration_sums(np.zeros((4, 4)), np.zeros((4, 4), bool), np.zeros((4, 4), bool), (1, 1)).any()


def test_failure_mixture_interval_keeps_a_failure_rate_possible_when_none_was_seen():
    rest = np.random.default_rng(0).normal(0.8, 0.02, 2000)  # bootstrap replicates of the non-failed cases' mean
    seen_none = failure_mixture_interval(rest, 0, 20, 0.0, 0.95, np.random.default_rng(1))
    plain = np.quantile(rest, [0.025, 0.975])
    assert seen_none[0] < plain[0] - 0.03  # down by the plausible failure share (Jeffreys upper 97.5% ~ 0.12 at n=20)
    assert seen_none[1] == pytest.approx(plain[1], abs=0.01)
    two = failure_mixture_interval(rest, 2, 20, 0.0, 0.95, np.random.default_rng(1))
    assert two[0] < 0.9 * 0.8 < two[1]  # centred near (1 - 2/20) 0.8
    cap = failure_mixture_interval(rest * 5, 2, 20, 100.0, 0.95, np.random.default_rng(1))
    assert cap[0] < 0.9 * 4 + 0.1 * 100 < cap[1]  # distances: failures at the cap
    assert failure_mixture_interval(np.array([np.nan]), 20, 20, 0.0, 0.95, np.random.default_rng(1)) is None
