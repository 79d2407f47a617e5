"""Paired comparisons of two models scored on the same patients.

When two models score the same patients their estimates are correlated, and a comparison that
treats them as independent samples overstates the uncertainty of the difference (often by far:
two good models largely agree on who is at high risk). Three paired methods, model ``b`` minus
model ``a`` (the reference) throughout:

- **DeLong's test for two correlated ROC curves** (DeLong, DeLong & Clarke-Pearson, Biometrics
  1988). With the placement values ``V10`` (one per positive) and ``V01`` (one per negative) of
  each model (``delong.placements``, Sun & Xu's midrank algorithm), the covariance matrix of the
  two AUROCs is ``S = S10 / P + S01 / N`` where ``S10`` and ``S01`` are the 2 x 2 sample
  covariance matrices (``ddof = 1``) of the two models' placement values over the same positives
  and the same negatives. ``Var(AUC_b - AUC_a) = S_aa + S_bb - 2 S_ab``; ``z = diff / sqrt(var)``
  and the Wald interval ``diff ± z_(1-alpha/2) sqrt(var)`` — what R's ``pROC::roc.test(...,
  method = "delong", paired = TRUE)`` reports.
- **Paired stratified bootstrap of any metric's difference**: one set of stratified resamples
  (rows drawn within outcome classes) and, in every replicate, *both* models evaluated on the same
  resampled patients. The statistic :class:`PairedMetrics` takes its counts in the original row
  order (it declares no ``layout``), and each model's :class:`~audit.stats.metrics.BinaryMetrics`
  gathers those same counts into its own score order, so a replicate is one set of patients
  scored twice. Percentile or BCa intervals come from ``BootstrapResult.derive``, whose jackknife
  deletes the same patients from both models. The two-sided p-value uses the bootstrap standard
  error of the difference (``2 Phi(-|d| / se)``).
- **McNemar's test** for paired accuracy at a threshold (McNemar, Psychometrika 1947): of the
  discordant patients, ``n01`` are classified correctly by ``a`` only and ``n10`` by ``b`` only;
  under equal accuracy ``n10 ~ Binomial(n01 + n10, 1/2)``. The exact p-value is
  ``min(1, 2 P(X <= min(n01, n10)))``; the mid-p value ``2 [P(X <= k) - P(X = k) / 2]``
  (Fagerland, Lydersen & Laake, BMC Med Res Methodol 2013) is less conservative and keeps the
  nominal level well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import binom

from .bootstrap import BootstrapResult, ResamplingEngine, bootstrap_p_value
from .delong import placements
from .estimate import Estimate
from .metrics import PERFORMANCE_METRICS, BinaryMetrics, check_names

__all__ = [
    "McNemarResult",
    "PairedAUROC",
    "PairedDifference",
    "PairedMetrics",
    "bootstrap_p_value",
    "delong_paired",
    "mcnemar_test",
    "paired_bootstrap",
]


def _paired_inputs(y, scores_a, scores_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(bool).ravel()
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    if not (y.size == a.size == b.size):
        raise ValueError(f"paired scores need one value per patient for both models (got {y.size} labels, {a.size} and {b.size} scores)")
    return y, a, b


# --------------------------------------------------------------------------------------------
# DeLong's paired test
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedAUROC:
    """DeLong's comparison of two correlated AUROCs: ``difference = AUROC_b - AUROC_a``."""

    auroc_a: float
    auroc_b: float
    difference: Estimate  # method "delong-paired"
    covariance: tuple[tuple[float, float], tuple[float, float]]  # of (AUROC_a, AUROC_b)
    z: float | None
    p_value: float | None

    @property
    def variance(self) -> float:
        """Variance of the difference, ``S_aa + S_bb - 2 S_ab``."""
        (saa, sab), (_, sbb) = self.covariance
        return saa + sbb - 2.0 * sab


def delong_covariance(y, scores_a, scores_b) -> np.ndarray:
    """DeLong's 2 x 2 covariance matrix of the AUROCs of two models on the same patients."""
    y, a, b = _paired_inputs(y, scores_a, scores_b)
    pa, pb = placements(y, a), placements(y, b)
    s10 = np.cov(np.vstack([pa.v10, pb.v10]), ddof=1)
    s01 = np.cov(np.vstack([pa.v01, pb.v01]), ddof=1)
    return s10 / pa.v10.size + s01 / pa.v01.size


def delong_paired(y, scores_a, scores_b, confidence: float = 0.95) -> PairedAUROC:
    """DeLong's test of ``AUROC_b - AUROC_a`` for two models scored on the same patients.

    The interval is Wald on the difference scale. When the variance is 0 (the two models order
    every positive-negative pair alike) the difference is 0 and, as in pROC, ``z = 0``, ``p = 1``.
    Raises ``ValueError`` with fewer than two positives or two negatives.
    """
    y, a, b = _paired_inputs(y, scores_a, scores_b)
    auc_a, auc_b = placements(y, a).auroc, placements(y, b).auroc
    cov = delong_covariance(y, a, b)
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    d = auc_b - auc_a
    n = int(y.size)
    if not var > 1e-300:  # the models order every positive-negative pair alike
        if d == 0:  # as pROC: identical curves give z = 0, p = 1
            return PairedAUROC(auc_a, auc_b, Estimate(d, (d, d), "delong-paired", n), _pair(cov), 0.0, 1.0)
        return PairedAUROC(auc_a, auc_b, Estimate(d, None, "delong-paired", n), _pair(cov), None, None)
    se = float(np.sqrt(var))
    half = float(ndtri(0.5 + confidence / 2.0)) * se
    z = d / se
    return PairedAUROC(auc_a, auc_b, Estimate(d, (d - half, d + half), "delong-paired", n), _pair(cov), float(z), float(2.0 * ndtr(-abs(z))))


def _pair(cov: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    return ((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1])))


# --------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------


class PairedMetrics:
    """Two models' metrics on one block of resamples: columns ``[a's metrics..., b's metrics...]``.

    Counts come in the original row order (there is deliberately no ``layout``), so the engine
    draws one set of patients per replicate and both models are evaluated on it.
    """

    def __init__(self, y, scores_a, scores_b, threshold: float = 0.5, names=PERFORMANCE_METRICS):
        y, a, b = _paired_inputs(y, scores_a, scores_b)
        self.names = check_names(names)
        self.threshold = float(threshold)
        self.n = int(y.size)
        self._a = BinaryMetrics(y, a, threshold, self.names)
        self._b = BinaryMetrics(y, b, threshold, self.names)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(model, m) for model in ("a", "b") for m in self.names]

    def __call__(self, W: np.ndarray) -> np.ndarray:
        W = np.atleast_2d(np.asarray(W))
        return np.hstack([self._a(W), self._b(W)])

    def difference(self, X: np.ndarray) -> np.ndarray:
        """``b - a`` for every metric, row by row (for ``BootstrapResult.derive``)."""
        k = len(self.names)
        return X[:, k:] - X[:, :k]


@dataclass(frozen=True)
class PairedDifference:
    """One metric of two models on the same patients: each model's value and ``b - a``."""

    metric: str
    value_a: float
    value_b: float
    difference: Estimate
    p_value: float | None  # two-sided, H0: difference = 0


def paired_bootstrap(
    y, scores_a, scores_b, engine: ResamplingEngine, stream: str, threshold: float = 0.5, names=PERFORMANCE_METRICS, design=None
) -> tuple[dict[str, PairedDifference], BootstrapResult]:
    """Paired bootstrap of ``metric(b) - metric(a)`` for every named metric.

    Patients are resampled as ``design`` says (``None``: a simple random sample, as a cohort is
    sampled), both models on the same resampled patients.

    Returns the differences by metric name and the ``BootstrapResult`` of the differences (its
    ``replicates`` are the per-replicate differences, column by column in ``names`` order).
    """
    statistic = PairedMetrics(y, scores_a, scores_b, threshold, names)
    both = engine.bootstrap(statistic, design, stream)
    diff = both.derive(statistic.difference)
    k = len(statistic.names)
    out = {}
    for j, metric in enumerate(statistic.names):
        est = diff.estimate_at(j, statistic.n)
        out[metric] = PairedDifference(metric, float(both.estimate[j]), float(both.estimate[k + j]), est, bootstrap_p_value(est.value, diff.replicates[:, j]))
    return out, diff


# --------------------------------------------------------------------------------------------
# McNemar
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of equal accuracy of two models on the same patients at one threshold.

    ``n01``: patients only model ``a`` classifies correctly; ``n10``: only model ``b``.
    ``accuracy_difference = (n10 - n01) / n`` is accuracy b minus accuracy a.
    """

    n: int
    n01: int
    n10: int
    accuracy_difference: float
    p_exact: float
    p_midp: float


def mcnemar_test(y, scores_a, scores_b, threshold: float = 0.5) -> McNemarResult:
    """McNemar's exact and mid-p tests for paired accuracy at ``p >= threshold`` (see module docstring)."""
    y, a, b = _paired_inputs(y, scores_a, scores_b)
    right_a = (a >= threshold) == y
    right_b = (b >= threshold) == y
    n01 = int(np.sum(right_a & ~right_b))
    n10 = int(np.sum(~right_a & right_b))
    m, k = n01 + n10, min(n01, n10)
    if m == 0:
        p_exact = p_mid = 1.0
    else:
        p_exact = min(1.0, 2.0 * float(binom.cdf(k, m, 0.5)))
        p_mid = min(1.0, 2.0 * (float(binom.cdf(k, m, 0.5)) - 0.5 * float(binom.pmf(k, m, 0.5))))
    return McNemarResult(int(y.size), n01, n10, (n10 - n01) / y.size if y.size else float("nan"), p_exact, p_mid)


# --------------------------------------------------------------------------------------------
# Paired proportions (Newcombe's method 10, exact McNemar)
# --------------------------------------------------------------------------------------------

#: Proportions of two models on the same patients and the rows they are counted over.
PAIRED_PROPORTIONS: dict[str, str] = {
    "sensitivity": "pos", "specificity": "neg", "fnr": "pos", "fpr": "neg", "accuracy": "all", "selection_rate": "all",
}


def paired_proportion(metric: str, y, scores_a, scores_b, threshold: float = 0.5, confidence: float = 0.95) -> PairedDifference:
    """``metric(b) - metric(a)`` for a proportion of two models on the same patients.

    Each patient in the denominator is a pair of outcomes ("model a right/flagged", "model b
    right/flagged"); the difference gets Newcombe's hybrid score interval for paired data (method
    10, Stat Med 1998), which does not collapse when a model gets every patient right, and the
    p-value is the exact McNemar test (a binomial test on the discordant pairs).
    """
    from scipy.stats import binomtest

    from .proportions import newcombe_paired_difference

    y = np.asarray(y).astype(bool)
    fa, fb = np.asarray(scores_a) >= threshold, np.asarray(scores_b) >= threshold
    rows = {"pos": y, "neg": ~y, "all": np.ones_like(y)}[PAIRED_PROPORTIONS[metric]]
    success = {  # what counts as a success for the metric, per model
        "sensitivity": lambda f: f, "fnr": lambda f: ~f, "specificity": lambda f: ~f, "fpr": lambda f: f,
        "accuracy": lambda f: f == y, "selection_rate": lambda f: f,
    }[metric]
    a, b = success(fa)[rows], success(fb)[rows]
    n = int(rows.sum())
    if n == 0:
        nan = float("nan")
        return PairedDifference(metric, nan, nan, Estimate(nan, None, "newcombe-paired", 0, reason="not estimable: no patients in the denominator"), None)
    both, only_a, only_b, neither = (int(np.sum(x)) for x in (a & b, a & ~b, ~a & b, ~a & ~b))
    d, ci = newcombe_paired_difference(both, only_a, only_b, neither, confidence)
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_b, discordant, 0.5).pvalue)
    return PairedDifference(metric, float(a.mean()), float(b.mean()), Estimate(d, ci, "newcombe-paired", n), p)
