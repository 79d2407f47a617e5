"""Every metric, point estimate and bootstrap replicate, equals scikit-learn on the same data."""

import numpy as np
import pytest
from sklearn import metrics as skm

from audit.stats import PERFORMANCE_METRICS, BinaryMetrics, binary_metrics, resample_counts, strata_codes


def sklearn_metric(name, y, p, threshold, w=None):
    pred = (p >= threshold).astype(int)
    kw = {"sample_weight": w}
    nan = {"zero_division": np.nan}
    return {
        "auroc": lambda: skm.roc_auc_score(y, p, **kw),
        "auprc": lambda: skm.average_precision_score(y, p, **kw),
        "sensitivity": lambda: skm.recall_score(y, pred, **kw, **nan),
        "specificity": lambda: skm.recall_score(1 - y, 1 - pred, **kw, **nan),
        "ppv": lambda: skm.precision_score(y, pred, **kw, **nan),
        "npv": lambda: skm.precision_score(1 - y, 1 - pred, **kw, **nan),
        "accuracy": lambda: skm.accuracy_score(y, pred, **kw),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred, **kw),
        "f1": lambda: skm.f1_score(y, pred, **kw, **nan),
        "brier": lambda: skm.brier_score_loss(y, p, **kw),
    }[name]()


def simulated(n, seed, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.6)))
    if ties:
        p = np.round(p, 1)  # many tied scores: the trapezoid must count ties one half
    return y, p


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_point_estimates_equal_sklearn(ties, threshold):
    y, p = simulated(500, 1, ties)
    ours = binary_metrics(y, p, threshold)
    for name in PERFORMANCE_METRICS:
        assert ours[name] == pytest.approx(sklearn_metric(name, y, p, threshold), abs=1e-12), name


def test_point_estimates_on_asah_reference_data(refdata):
    """pROC's aSAH data: AUROC of s100b for a poor outcome is 0.7314 (Robin et al., BMC Bioinformatics 2011)."""
    import pandas as pd

    d = pd.read_csv(refdata / "asah.csv")
    y = (d["outcome"] == "Poor").to_numpy().astype(int)
    s = d["s100b"].to_numpy()
    assert binary_metrics(y, s, 0.2)["auroc"] == pytest.approx(0.7314, abs=5e-5)
    assert binary_metrics(y, s, 0.2)["auroc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_replicates_equal_sklearn_on_the_same_resample_indices(ties):
    y, p = simulated(300, 2, ties)
    kernel = BinaryMetrics(y, p, 0.5)
    W = next(resample_counts(strata_codes(y), 8, 3, "test"))
    reps = kernel(W)
    for b in range(W.shape[0]):
        idx = np.repeat(np.arange(y.size), W[b].astype(int))  # the resample itself, materialised
        for j, name in enumerate(kernel.names):
            assert reps[b, j] == pytest.approx(sklearn_metric(name, y[idx], p[idx], 0.5), abs=1e-12), name
            assert reps[b, j] == pytest.approx(sklearn_metric(name, y, p, 0.5, W[b]), abs=1e-12), name


def test_undefined_ratios_are_nan_not_zero():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4])  # nothing reaches 0.9: PPV is 0/0
    m = binary_metrics(y, p, threshold=0.9)
    assert np.isnan(m["ppv"]) and m["sensitivity"] == 0.0 and m["specificity"] == 1.0


def test_unknown_metric_name_is_rejected():
    with pytest.raises(ValueError, match="unknown metric"):
        BinaryMetrics(np.array([0, 1]), np.array([0.2, 0.8]), names=("auc",))


@pytest.mark.parametrize("name", PERFORMANCE_METRICS)
def test_each_metric_alone_equals_its_column_in_the_full_set(name):
    y, p = simulated(400, 5, ties=True)
    W = next(resample_counts(strata_codes(y), 5, 9, "alone"))
    full = BinaryMetrics(y, p, 0.5)(W)[:, PERFORMANCE_METRICS.index(name)]
    assert BinaryMetrics(y, p, 0.5, (name,))(W)[:, 0] == pytest.approx(full, abs=1e-12, nan_ok=True)


def test_grouped_replicates_equal_sklearn_within_each_cell_on_the_same_resample():
    from audit.stats.metrics import GroupedBinaryMetrics

    y, p = simulated(600, 4, ties=True)
    groups = np.random.default_rng(40).integers(0, 3, y.size)
    kernel = GroupedBinaryMetrics(y, p, groups, 0.4)
    W = next(resample_counts(strata_codes(y, groups), 4, 1, "cells"))
    reps = kernel(W)
    for b in range(W.shape[0]):
        idx = np.repeat(np.arange(y.size), W[b])
        for j, (_, cell, name) in enumerate(kernel.columns):
            rows = idx if cell is None else idx[groups[idx] == cell]
            assert reps[b, j] == pytest.approx(sklearn_metric(name, y[rows], p[rows], 0.4), abs=1e-12), (cell, name)


def test_integer_valued_scores_with_heavy_ties_equal_sklearn():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300)
    p = (rng.integers(0, 5, 300) + 2 * y) / 7.0  # seven score levels shared by both classes
    W = next(resample_counts(strata_codes(y), 6, 2, "ties"))
    reps = BinaryMetrics(y, p, 0.5)(W)
    for b in range(W.shape[0]):
        for j, name in enumerate(PERFORMANCE_METRICS):
            assert reps[b, j] == pytest.approx(sklearn_metric(name, y, p, 0.5, W[b]), abs=1e-12), name


def test_two_partitions_and_extra_metrics_equal_sklearn_on_the_same_resample():
    from audit.stats.metrics import METRICS, GroupedBinaryMetrics

    y, p = simulated(500, 6)
    rng = np.random.default_rng(60)
    parts = {"sex": rng.integers(0, 2, y.size), "band": rng.integers(0, 3, y.size)}
    kernel = GroupedBinaryMetrics(y, p, parts, 0.5, METRICS)
    W = next(resample_counts(strata_codes(y, parts["sex"], parts["band"]), 3, 5, "parts"))
    reps = kernel(W)
    extra = {
        "fnr": lambda yy, pp: 1 - skm.recall_score(yy, pp >= 0.5),
        "fpr": lambda yy, pp: 1 - skm.recall_score(1 - yy, pp < 0.5),
        "selection_rate": lambda yy, pp: np.mean(pp >= 0.5),
        "prevalence": lambda yy, pp: np.mean(yy),
    }
    for b in range(W.shape[0]):
        idx = np.repeat(np.arange(y.size), W[b])
        for j, (part, group, name) in enumerate(kernel.columns):
            rows = idx if part is None else idx[parts[part][idx] == group]
            ref = extra[name](y[rows], p[rows]) if name in extra else sklearn_metric(name, y[rows], p[rows], 0.5)
            assert reps[b, j] == pytest.approx(ref, abs=1e-12), (part, group, name)


def test_wilson_interval_is_exactly_closed_at_zero_and_n_successes():
    from audit.stats import wilson_interval

    for n in (1, 7, 719, 10_000):
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0
        lo, hi = wilson_interval(1, n)
        assert lo <= 1 / n <= hi
