"""Reader agreement: kappas equal scikit-learn and statsmodels, on the data and on every resample."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from audit.stats import ResamplingEngine
from audit.stats.agreement import ReaderAgreement


def _reads(n=150, m=3, flip=0.15, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    reads = np.where(rng.random((n, m)) < flip, 1 - truth[:, None], truth[:, None])
    return reads, truth


def test_point_estimates_equal_sklearn_and_statsmodels():
    reads, truth = _reads()
    stat = ReaderAgreement(reads, ("a", "b", "c"), truth)
    values = dict(zip(stat.names, stat(np.ones((1, len(truth))))[0]))
    assert values["fleiss"] == pytest.approx(fleiss_kappa(aggregate_raters(reads)[0], method="fleiss"), abs=1e-12)
    for i, j in combinations(range(3), 2):
        name = f"{'abc'[i]}|{'abc'[j]}"
        assert values[name] == pytest.approx(cohen_kappa_score(reads[:, i], reads[:, j]), abs=1e-12)
    for i in range(3):
        assert values[f"{'abc'[i]}|reference"] == pytest.approx(cohen_kappa_score(reads[:, i], truth), abs=1e-12)


def test_every_resample_equals_the_references_on_the_resampled_rows():
    reads, truth = _reads(n=60, seed=1)
    rng = np.random.default_rng(2)
    rows = rng.integers(0, 60, size=(5, 60))
    W = np.stack([np.bincount(r, minlength=60) for r in rows])
    out = ReaderAgreement(reads, ("a", "b", "c"), truth)(W)
    for b, r in enumerate(rows):
        assert out[b, 0] == pytest.approx(fleiss_kappa(aggregate_raters(reads[r])[0], method="fleiss"), abs=1e-12)
        assert out[b, 1] == pytest.approx(cohen_kappa_score(reads[r, 0], reads[r, 1]), abs=1e-12)


def test_agreement_where_everyone_always_says_the_same_class_is_undefined_not_infinite():
    reads = np.zeros((20, 2), dtype=int)
    values = ReaderAgreement(reads, ("a", "b"))(np.ones((1, 20)))[0]
    assert np.isnan(values).all()


def test_fleiss_interval_covers_the_true_kappa_about_95_percent_of_the_time():
    """Readers who each flip a true label with probability f agree beyond chance by (1 - 2f)^2 (prevalence 1/2)."""
    flip, n, sims = 0.15, 200, 120
    true_kappa = (1 - 2 * flip) ** 2
    engine = ResamplingEngine(seed=3, n_resamples=400, method="percentile")
    covered = 0
    for s in range(sims):
        reads, truth = _reads(n=n, m=3, flip=flip, seed=100 + s)
        result = engine.bootstrap(ReaderAgreement(reads, ("a", "b", "c")), np.zeros(n, dtype=int), f"sim/{s}")
        covered += result.low[0] <= true_kappa <= result.high[0]
    assert 0.88 <= covered / sims <= 0.99, covered / sims
