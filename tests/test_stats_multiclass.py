"""Multiclass and ordinal metric kernels (issue 18, Part 2) against scikit-learn and direct implementations,
on the data and on bootstrap resamples (the resample materialised by repeating rows)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    log_loss,
    roc_auc_score,
    top_k_accuracy_score,
)

from audit.stats.multiclass import MULTICLASS_METRICS, ORDINAL_METRICS, MulticlassMetrics, decisions

NAMES = MULTICLASS_METRICS + ORDINAL_METRICS


def sample(n: int = 300, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, P


def rps(y, P):
    """The ranked probability score, written out: cumulative predicted minus observed, squared, over K - 1."""
    k = P.shape[1]
    total = 0.0
    for yi, p in zip(y, P):
        for j in range(k - 1):
            total += (p[: j + 1].sum() - float(yi <= j)) ** 2
    return total / (k - 1) / len(y)


def reference(y, P) -> dict[str, float]:
    k = P.shape[1]
    present = np.unique(y)
    yhat = decisions(P)
    return {
        "accuracy": accuracy_score(y, yhat),
        "balanced_accuracy": balanced_accuracy_score(y, yhat),
        "macro_f1": f1_score(y, yhat, labels=present, average="macro"),
        "top2_accuracy": top_k_accuracy_score(y, P, k=2, labels=np.arange(k)),
        "auroc_hand_till": roc_auc_score(y, P, multi_class="ovo", labels=np.arange(k)) if present.size == k else np.nan,
        "auroc_ovr_macro": roc_auc_score(y, P, multi_class="ovr", average="macro", labels=np.arange(k)) if present.size == k else np.nan,
        "auroc_ovr_weighted": roc_auc_score(y, P, multi_class="ovr", average="weighted", labels=np.arange(k)) if present.size == k else np.nan,
        "brier": float(((P - np.eye(k)[y]) ** 2).sum(axis=1).mean()),
        "log_loss": log_loss(y, P, labels=np.arange(k)),
        "kappa_quadratic": cohen_kappa_score(y, yhat, weights="quadratic"),
        "kappa_linear": cohen_kappa_score(y, yhat, weights="linear"),
        "rps": rps(y, P),
        "mae_grade": float(np.abs(yhat - y).mean()),
    }


def test_every_metric_equals_scikit_learn_or_its_direct_implementation_on_the_data():
    y, P = sample()
    got = dict(zip(NAMES, MulticlassMetrics(y, P, NAMES).point()))
    want = reference(y, P)
    for name in NAMES:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


def test_every_metric_equals_the_reference_on_bootstrap_resamples():
    y, P = sample(n=120, k=3, seed=1)
    kernel = MulticlassMetrics(y, P, NAMES)
    rng = np.random.default_rng(2)
    W = rng.multinomial(y.size, np.full(y.size, 1 / y.size), size=8)
    block = kernel(W)
    for b, w in enumerate(W):
        rows = np.repeat(np.arange(y.size), w)
        want = reference(y[rows], P[rows])
        for j, name in enumerate(NAMES):
            assert block[b, j] == pytest.approx(want[name], abs=1e-12), (b, name)


def test_hand_till_runs_over_the_available_pairs_when_a_class_is_absent():
    y, P = sample(n=200, k=4, seed=3)
    keep = y != 2  # class 2 absent from this dataset (or group, or resample)
    got = dict(zip(NAMES, MulticlassMetrics(y[keep], P[keep], NAMES).point()))
    pairs = []
    for i in (0, 1, 3):
        for j in (0, 1, 3):
            if i < j:
                rows = np.isin(y[keep], (i, j))
                a_ij = roc_auc_score(y[keep][rows] == i, P[keep][rows, i])
                a_ji = roc_auc_score(y[keep][rows] == j, P[keep][rows, j])
                pairs.append((a_ij + a_ji) / 2)
    assert got["auroc_hand_till"] == pytest.approx(np.mean(pairs), abs=1e-12)
    ovr = [roc_auc_score(y[keep] == c, P[keep][:, c]) for c in (0, 1, 3)]
    assert got["auroc_ovr_macro"] == pytest.approx(np.mean(ovr), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y[keep], decisions(P[keep])), abs=1e-12)


def test_ties_in_the_decision_go_to_the_first_class_and_a_zero_probability_makes_log_loss_infinite():
    P = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.0, 0.5, 0.5]])
    assert decisions(P).tolist() == [0, 1, 1]
    kernel = MulticlassMetrics(np.array([0, 2, 0]), P, ("log_loss", "accuracy"))
    log_l, accuracy = kernel.point()
    assert np.isinf(log_l) and accuracy == pytest.approx(1 / 3)
    W = np.array([[1, 1, 0], [0, 2, 1]])  # the patient with probability 0 drawn or not
    assert np.isfinite(kernel(W)[0, 0]) and np.isinf(kernel(W)[1, 0])


def test_pairwise_and_one_vs_rest_aurocs_from_one_layout_equal_scikit_learn_with_tied_scores():
    """Each probability column is laid out once, class by class; the pair AUROCs (Hand & Till) and the one-vs-rest
    AUROC (their numerators summed) equal scikit-learn's on the resampled rows, with scores tied within and
    across classes and a class absent from some resamples."""
    y, P = sample(n=90, k=4, seed=6)
    P = np.round(P, 1)  # many ties
    y[y == 3] = np.where(np.arange((y == 3).sum()) < 2, 3, 0)  # class 3 has two patients: absent from some resamples
    names = ("auroc_hand_till", "auroc_ovr_macro") + tuple(f"auroc[{c}]" for c in range(4))
    kernel = MulticlassMetrics(y, P, names)
    W = np.random.default_rng(3).multinomial(y.size, np.full(y.size, 1 / y.size), size=12)
    block = kernel(W)
    for b, w in enumerate(W):
        rows = np.repeat(np.arange(y.size), w)
        yb, Pb = y[rows], P[rows]
        present = np.unique(yb)
        ovr = [roc_auc_score(yb == c, Pb[:, c]) if c in present else np.nan for c in range(4)]
        pairs = [(roc_auc_score(yb[np.isin(yb, (i, j))] == i, Pb[np.isin(yb, (i, j)), i])
                  + roc_auc_score(yb[np.isin(yb, (i, j))] == j, Pb[np.isin(yb, (i, j)), j])) / 2
                 for i in present for j in present if i < j]
        np.testing.assert_allclose(block[b, 2:], ovr, atol=1e-12)
        assert block[b, 0] == pytest.approx(np.mean(pairs), abs=1e-12)
        assert block[b, 1] == pytest.approx(np.nanmean(ovr), abs=1e-12)
