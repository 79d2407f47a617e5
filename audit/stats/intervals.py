"""Which interval each binary metric gets, in one place: the rules of "Statistics we stand behind".

Every check that prints a binary metric of a set of patients (a whole dataset or one subgroup)
asks ``cell_estimates`` for it, so a quantity has one value and one interval wherever it appears.

- **Proportions** (sensitivity, specificity, PPV, NPV, FNR, FPR, selection rate, accuracy,
  prevalence) are counts over a denominator: the Wilson score interval (Wilson, JASA 1927), with
  the Clopper–Pearson exact interval when the count is within 3 of 0 or of the denominator, where
  Wilson's coverage dips (Brown, Cai & DasGupta, Stat Sci 2001); Clopper–Pearson throughout on
  request (``settings.proportion_ci``). They never collapse to a point at 0/n or n/n, where the
  bootstrap does. With clustered rows (``data.cluster``) the rows are not independent, and the
  cluster bootstrap gives the interval (Field & Welsh, JRSS B 2007); should every resample give
  the same value (all clusters 0/n or n/n), Clopper–Pearson over the clusters does.
- **AUROC**: DeLong's variance on the logit scale (``auroc.auroc_interval``); not estimable below
  5 events or non-events; a one-sided lower bound under perfect separation; the cluster bootstrap
  with clustered rows.
- **Everything else** (AUPRC, balanced accuracy, F1, Brier): the bootstrap under the data's
  sampling design, BCa by default, with no interval (and the reason) when the bootstrap is
  degenerate.
- **Case-control sampling** (``settings.sampling: case-control``) fixes the numbers of events and
  non-events by design, so the sample's prevalence says nothing about the population's: every
  metric that depends on prevalence is "not estimable under case-control sampling", except PPV
  and NPV when ``settings.prevalence`` gives the population's prevalence (Bayes' theorem, with
  the logit intervals of Mercaldo, Lau & Zhou, Stat Med 2007).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .auroc import MIN_CLASS, auroc_interval, auroc_score_interval
from .estimate import Estimate, not_estimable
from .proportions import clopper_pearson_interval, predictive_values_from_prevalence, proportion_interval

#: Metrics that are a count over a denominator, and which counts make them (from the 2x2 table).
PROPORTIONS: dict[str, tuple[str, str]] = {
    "sensitivity": ("tp", "pos"),
    "specificity": ("tn", "neg"),
    "ppv": ("tp", "flagged"),
    "npv": ("tn", "unflagged"),
    "fnr": ("fn", "pos"),
    "fpr": ("fp", "neg"),
    "selection_rate": ("flagged", "all"),
    "accuracy": ("correct", "all"),
    "prevalence": ("pos", "all"),
}
#: Metrics whose value depends on the prevalence in the sample: not estimable under case-control sampling.
PREVALENCE_DEPENDENT = frozenset({"ppv", "npv", "accuracy", "selection_rate", "f1", "auprc", "brier", "prevalence"})
#: What each proportion's denominator is, for a reason when it is empty.
DENOMINATOR_WORDS = {
    "pos": "patients with the outcome", "neg": "patients without the outcome", "flagged": "patients flagged positive",
    "unflagged": "patients flagged negative", "all": "patients",
}


@dataclass(frozen=True)
class IntervalRules:
    """The settings that choose intervals: confidence, sampling design, population prevalence, proportion method."""

    confidence: float = 0.95
    sampling: str = "cohort"
    prevalence: float | None = None
    proportion_ci: str = "auto"

    @classmethod
    def from_settings(cls, settings) -> IntervalRules:
        return cls(settings.confidence, settings.sampling, settings.prevalence, settings.proportion_ci)

    def one_sided(self) -> IntervalRules:
        """The rules for one-sided bounds at ``confidence`` (targets): two-sided ``1 - 2 (1 - confidence)``
        intervals, proportions by Clopper–Pearson, whose every tail holds its level. Wilson's tails are
        unequal: its upper bound of a sensitivity near 0.88 missed in 6.9% of 1,000 studies against 5%
        (``benchmarks/coverage.py``, targets scenarios)."""
        return IntervalRules(1.0 - 2.0 * (1.0 - self.confidence), self.sampling, self.prevalence, "clopper-pearson")


def counts(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, int]:
    """The 2x2 table at ``p >= threshold`` and its margins."""
    y = np.asarray(y).astype(bool)
    flag = np.asarray(p) >= threshold
    tp, fn = int(np.sum(y & flag)), int(np.sum(y & ~flag))
    fp, tn = int(np.sum(~y & flag)), int(np.sum(~y & ~flag))
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn, "pos": tp + fn, "neg": fp + tn, "flagged": tp + fp,
            "unflagged": tn + fn, "all": y.size, "correct": tp + tn}


def proportion_estimate(k: int, m: int, rules: IntervalRules, what: str = "patients") -> Estimate:
    """``k / m`` with the Wilson or exact interval of the rules; not estimable when ``m`` is 0."""
    if m <= 0:
        return not_estimable(f"not estimable: no {what}", "wilson", 0)
    method = "clopper-pearson" if rules.proportion_ci == "clopper-pearson" else "auto"
    ci, name = proportion_interval(k, m, rules.confidence, method)
    return Estimate(k / m, ci, name, m)


def _clustered_proportion(metric: str, boot: Estimate, k: int, m: int, y, p, clusters, threshold, rules) -> Estimate:
    """The cluster-bootstrap interval of a proportion; exact over clusters when the bootstrap is degenerate."""
    if m <= 0:
        return not_estimable(f"not estimable: no {DENOMINATOR_WORDS[PROPORTIONS[metric][1]]}", boot.method, 0)
    if boot.ci is not None:
        return Estimate(k / m, boot.ci, f"cluster-{boot.method}", m)
    if k not in (0, m):
        return Estimate(k / m, None, f"cluster-{boot.method}", m, reason=boot.reason)
    rows = _denominator_rows(metric, np.asarray(y).astype(bool), np.asarray(p) >= threshold)
    n_clusters = int(np.unique(np.asarray(clusters)[rows]).size)
    s = n_clusters if k == m else 0
    return Estimate(k / m, clopper_pearson_interval(s, n_clusters, rules.confidence), "clopper-pearson-clusters", m)


def _denominator_rows(metric: str, y: np.ndarray, flag: np.ndarray) -> np.ndarray:
    return {"pos": y, "neg": ~y, "flagged": flag, "unflagged": ~flag, "all": np.ones_like(y)}[PROPORTIONS[metric][1]]


def cell_estimates(
    y,
    p,
    threshold: float,
    names,
    bootstrapped: Callable[[str], Estimate],
    rules: IntervalRules,
    clusters: np.ndarray | None = None,
) -> dict[str, Estimate]:
    """Each named metric of one cell (a dataset or a subgroup) with the interval the rules give it.

    ``bootstrapped(name)`` returns the metric's bootstrap estimate under the data's sampling
    design (the same stream for every cell of a dataset); it is used where no exact or analytic
    interval applies, and for everything under clustering.
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    table = counts(y, p, threshold)
    n = int(y.size)
    out: dict[str, Estimate] = {}
    for name in names:
        if rules.sampling == "case-control" and name in PREVALENCE_DEPENDENT:
            out[name] = _case_control(name, table, rules, n)
        elif name in PROPORTIONS:
            num, den = PROPORTIONS[name]
            k, m = table[num], table[den]
            if clusters is None:
                out[name] = proportion_estimate(k, m, rules, DENOMINATOR_WORDS[den])
            else:
                out[name] = _clustered_proportion(name, bootstrapped(name), k, m, y, p, clusters, threshold, rules)
        elif name == "auroc":
            out[name] = auroc_estimate(y, p, bootstrapped, rules, clusters)
        else:
            est = bootstrapped(name)
            out[name] = est if clusters is None else Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason)
    return out


def _case_control(name: str, table: dict[str, int], rules: IntervalRules, n: int) -> Estimate:
    if name in ("ppv", "npv") and rules.prevalence is not None:
        if table["pos"] == 0 or table["neg"] == 0:
            return not_estimable("not estimable: PPV and NPV from a prevalence need patients with and without the outcome", "bayes-logit", n)
        return predictive_values_from_prevalence(table["tp"], table["pos"], table["tn"], table["neg"], rules.prevalence, rules.confidence)[name]
    why = "not estimable under case-control sampling: it depends on the prevalence, which the design fixed"
    if name in ("ppv", "npv"):
        why += "; give the target population's prevalence in settings.prevalence"
    return not_estimable(why, "case-control", n)


def auroc_estimate(y: np.ndarray, p: np.ndarray, bootstrapped, rules: IntervalRules, clusters) -> Estimate:
    """The AUROC of scores ``p`` for 0/1 ``y`` with the rules' interval (``bootstrapped('auroc')`` under clustering)."""
    plain = auroc_interval(y, p, rules.confidence)
    if clusters is None or plain.ci is None:
        return plain
    if plain.sides != "two":  # separation: the one-sided bound with the clusters as the units
        clusters = np.asarray(clusters)
        n_pos, n_neg = np.unique(clusters[y]).size, np.unique(clusters[~y]).size
        side = "lower" if plain.value >= 0.5 else "upper"
        lo, hi = auroc_score_interval(plain.value, n_pos, n_neg, rules.confidence, side)
        return Estimate(plain.value, (lo, hi), "newcombe-score-one-sided-clusters", plain.n, sides=side)
    boot = bootstrapped("auroc")
    if boot.ci is None:
        return Estimate(plain.value, None, f"cluster-{boot.method}", plain.n, reason=boot.reason)
    return Estimate(plain.value, boot.ci, f"cluster-{boot.method}", plain.n)


__all__ = ["IntervalRules", "MIN_CLASS", "auroc_estimate", "PREVALENCE_DEPENDENT", "PROPORTIONS", "cell_estimates", "counts", "proportion_estimate"]
