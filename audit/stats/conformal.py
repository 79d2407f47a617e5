"""Split conformal prediction sets for a K-class classifier, from its predicted probabilities (MAPIE).

Split (inductive) conformal prediction (Vovk, Gammerman & Shafer 2005) turns any classifier's
probabilities ``P`` (shape ``(n, K)``, rows summing to 1) into sets of classes that hold the true class
with probability at least the target ``level = 1 - alpha``. ``n`` calibration patients with true class
codes ``y_i`` (``0 .. K-1``) give conformity scores ``s_i = s(P_i, y_i)``; their

    q = the k-th smallest of s_1 .. s_n,    k = ceil((n + 1)(1 - alpha)),

is the conformal quantile (MAPIE: ``np.quantile(s, k / n, method="lower")``, the order statistic; it
needs ``k <= n``, and MAPIE asks for ``n >= max(1 / alpha, 1 / (1 - alpha))``). A new patient's set is
``C(x) = {c : s(P(x), c) <= q}`` or, for APS, slightly larger. Two scores:

- **LAC** (least ambiguous set-valued classifier; Sadinle, Lei & Wasserman, JASA 2019): ``s(P, c) =
  1 - P_c``, so ``C(x) = {c : 1 - P_c(x) <= q}``: every class whose probability is at least ``1 - q``.
  The smallest sets on average among sets with the guarantee; a set can be empty.
- **APS** (adaptive prediction sets; Romano, Sesia & Candès, NeurIPS 2020), non-randomised: rank the
  classes by decreasing probability, ``P_(1) >= P_(2) >= ...``; the score of class ``c`` of rank
  ``r`` is the probability mass at or above it, ``s(P, c) = P_(1) + ... + P_(r)``; the set is the
  ``L`` most probable classes, ``L = min{l : P_(1) + ... + P_(l) >= q}``: the classes up to *and
  including* the one whose cumulative probability crosses ``q`` (MAPIE's ``include_last_label=True``;
  Angelopoulos & Bates 2023, sec. 2.1). Never empty; sets grow with the model's uncertainty.

**Guarantee.** For a patient exchangeable with the calibration set, ``P(y in C(x)) >= 1 - alpha``,
marginally over the draw of calibration and test patients (Vovk et al. 2005); with LAC and untied
scores also ``<= 1 - alpha + 1 / (n + 1)`` (Lei et al., JASA 2018). Non-randomised APS is conservative:
``y`` is in the set whenever ``s(P(x), y) <= q``, and the crossing class is added on top, which for an
overconfident model can make the sets much larger and the coverage well above the target. Nothing is
guaranteed within a class (class-conditional coverage) or a subgroup, nor on another site: those are
measured (:func:`coverage_summary`) and flagged (:func:`undercovered_classes`). Calibrating within each
class (label-conditional, "Mondrian" conformal; Vovk, ACML 2012; Sadinle et al. 2019) gives
each class its own guarantee.

**Through MAPIE** (``mapie.classification.SplitConformalClassifier``, read at version 1.6): the
probabilities themselves are the input of a fitted pass-through classifier (``classes_ = arange(K)``,
``prefit=True``), so a model or a column of predictions is treated alike. MAPIE's conventions, from
its source: a tolerance ``EPSILON = 1e-8`` (LAC includes ``c`` iff ``1 - P_c - q <= 1e-8``; APS's
crossing class is the first with cumulative probability ``>= q - 1e-8``, and every class whose
probability is within ``1e-8`` of that class's is included too, so tied classes enter together).
MAPIE's own ``"aps"`` score is *randomised at calibration*: it stores ``s_i - U_i P_{i, y_i}`` with
``U_i ~ Uniform(0, 1)`` from its ``random_state``, so the quantile, and hence the sets, change with
the seed even with ``include_last_label=True``. Here APS is MAPIE's ``APSConformityScore`` with that
draw removed (:class:`_NonRandomisedAPS`, a subclass overriding only the calibration score): the sets
are a function of the data alone.

**A class absent from the calibration set.** MAPIE (``prefit``) takes the classes from the
classifier, so the sets still have ``K`` columns; it warns ("your conformalization dataset has less
labels than your training dataset", silenced here: the caller can count ``np.bincount(y_cal,
minlength=K)``) and treats the absent class like any other at prediction (LAC: in the set iff ``1 -
P_c <= q``), with ``q`` computed from the other classes' patients alone, so nothing is known or
guaranteed about coverage of that class. MAPIE refuses every score but LAC when the calibration
labels take fewer than three distinct values (``type_of_target`` is then "binary"): APS needs
``K >= 3`` and at least three classes present in ``y_cal``, and :func:`conformal_sets` says so
before MAPIE does.

References
----------
Sadinle M, Lei J, Wasserman L. Least ambiguous set-valued classifiers with bounded error levels.
JASA 2019; 114(525):223-234.
Romano Y, Sesia M, Candès EJ. Classification with valid and adaptive coverage. NeurIPS 2020; 33.
Angelopoulos AN, Bates S. Conformal prediction: a gentle introduction. Found Trends Mach Learn 2023;
16(4):494-591.
Vovk V, Gammerman A, Shafer G. Algorithmic Learning in a Random World. Springer 2005.
Vovk V. Conditional validity of inductive conformal predictors. ACML 2012; PMLR 25:475-490.
Lei J, G'Sell M, Rinaldo A, Tibshirani RJ, Wasserman L. Distribution-free predictive inference for
regression. JASA 2018; 113(523):1094-1111.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from mapie.classification import SplitConformalClassifier
from mapie.conformity_scores import APSConformityScore
from sklearn.base import BaseEstimator, ClassifierMixin

from .proportions import proportion

__all__ = ["SCORES", "conformal_sets", "coverage_summary", "undercovered_classes"]

#: The conformity scores :func:`conformal_sets` accepts.
SCORES = ("lac", "aps")

#: MAPIE's check that probabilities sum to one (``mapie.utils.check_proba_normalized``), applied at the door.
_SUM_RTOL = 1e-5


class _ProbabilityPassThrough(ClassifierMixin, BaseEstimator):
    """A fitted K-class classifier whose input is its own probability matrix (one column per class)."""

    def __init__(self, n_classes: int = 2):
        self.n_classes = n_classes

    def fit(self, X=None, y=None):
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=float)

    def predict(self, X):
        return np.argmax(np.asarray(X, dtype=float), axis=1)


class _NonRandomisedAPS(APSConformityScore):
    """MAPIE's APS with the calibration score ``P_(1) + ... + P_(r)`` (mass at or above the true class), no ``U`` drawn."""

    def get_conformity_scores(self, y, y_pred, y_enc=None, **kwargs):
        scores, self.cutoff = self.get_true_label_cumsum_proba(y, y_pred, self.classes)
        return scores


def _probabilities(P, name: str, k: int | None = None) -> np.ndarray:
    """``P`` as a float ``(n, K)`` array of probabilities whose rows sum to 1, or ValueError."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"{name} must be a probability matrix of shape (n, K) with K >= 2; got shape {P.shape}")
    if k is not None and P.shape[1] != k:
        raise ValueError(f"{name} has {P.shape[1]} classes (columns) but the calibration probabilities have {k}")
    if not np.all(np.isfinite(P)) or P.min(initial=0.0) < 0 or P.max(initial=0.0) > 1:
        raise ValueError(f"{name} must hold finite probabilities in [0, 1]")
    if P.shape[0] and not np.allclose(P.sum(axis=1), 1.0, rtol=_SUM_RTOL, atol=0.0):
        raise ValueError(f"each row of {name} must sum to 1 (within a relative {_SUM_RTOL:g}), as MAPIE requires")
    return P


def _codes(y, n: int, k: int, name: str) -> np.ndarray:
    """``y`` as int64 class codes ``0 .. k-1`` of length ``n``, or ValueError."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size != n:
        raise ValueError(f"{name} must be a 1-d array of {n} class codes; got shape {y.shape}")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if y.size and (not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y))):
        raise ValueError(f"{name} must hold integer class codes 0 .. {k - 1}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"{name} must hold class codes 0 .. {k - 1}; got values from {y.min()} to {y.max()}")
    return y


def _levels(levels) -> list[float]:
    """The target coverages as a non-empty list of floats in (0, 1)."""
    out = [float(v) for v in np.atleast_1d(np.asarray(levels, dtype=float))]
    if not out or not all(0.0 < v < 1.0 for v in out):
        raise ValueError(f"levels must be one or more target coverages in (0, 1); got {levels!r}")
    return out


def conformal_sets(P_cal, y_cal, P_eval, levels: float | Sequence[float], score: str = "lac") -> np.ndarray:
    """Split conformal prediction sets over the K classes, through MAPIE's ``SplitConformalClassifier``.

    Parameters
    ----------
    P_cal : array_like, shape (n_cal, K)
        Predicted probabilities of the calibration patients, rows summing to 1 (``K >= 2``).
    y_cal : array_like of int, shape (n_cal,)
        Their true classes as codes ``0 .. K-1`` (the column order of ``P_cal``). A class may be absent
        (see Notes).
    P_eval : array_like, shape (n_eval, K)
        Predicted probabilities of the patients to give sets to.
    levels : float or sequence of float
        Target coverages ``1 - alpha``, each in (0, 1); the last axis of the result follows this order.
    score : {"lac", "aps"}
        The conformity score: LAC, ``1 - P_y`` (Sadinle et al. 2019), or non-randomised APS, the
        probability mass of the classes ranked at or above ``y`` (Romano et al. 2020).

    Returns
    -------
    numpy.ndarray of bool, shape (n_eval, K, n_levels)
        ``sets[i, c, j]`` is True when class ``c`` is in patient ``i``'s set at ``levels[j]``.

    Raises
    ------
    ValueError
        For malformed input (shapes, probabilities not summing to 1, codes outside ``0 .. K-1``, a
        level outside (0, 1), an unknown score); for ``score="aps"`` when ``y_cal`` holds fewer than
        three distinct classes (MAPIE accepts only LAC for a binary target); and, from MAPIE, when
        ``n_cal < max(1 / alpha, 1 / (1 - alpha))`` for some level.

    Notes
    -----
    With ``alpha = 1 - level`` and calibration scores ``s_1 .. s_n``, ``q`` is the ``k``-th smallest
    score, ``k = ceil((n + 1)(1 - alpha))``. LAC: ``c`` is in the set iff ``1 - P_c <= q``. APS: the
    classes in decreasing order of probability up to and including the first whose cumulative
    probability reaches ``q`` (``include_last_label=True``), with classes tied in probability to that
    one included too. MAPIE compares with a tolerance of ``1e-8``. Deterministic: no random draw is
    made (MAPIE's own randomised APS calibration score is replaced, see the module docstring).

    A class absent from ``y_cal`` keeps its column; MAPIE warns (silenced here) and includes it by the
    same rule, with ``q`` learnt from the other classes only: its coverage carries no guarantee.

    For patients exchangeable with the calibration set, ``P(y in set) >= level`` marginally; not per
    class, per subgroup or on another site (:func:`coverage_summary` measures those).

    References
    ----------
    Sadinle, Lei & Wasserman, JASA 2019; 114:223-234 (LAC). Romano, Sesia & Candès, NeurIPS 2020
    (APS). Angelopoulos & Bates, Found Trends Mach Learn 2023; 16:494-591, sec. 2.1 (non-randomised
    APS).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> P = rng.dirichlet(np.ones(3), 60)
    >>> y = np.array([rng.choice(3, p=p) for p in P])
    >>> conformal_sets(P[:40], y[:40], P[40:], [0.8, 0.9], score="aps").shape
    (20, 3, 2)
    """
    if score not in SCORES:
        raise ValueError(f"unknown conformity score {score!r}; one of {', '.join(SCORES)}")
    P_cal = _probabilities(P_cal, "P_cal")
    k = P_cal.shape[1]
    P_eval = _probabilities(P_eval, "P_eval", k)
    y_cal = _codes(y_cal, P_cal.shape[0], k, "y_cal")
    levels = _levels(levels)
    if score == "aps" and np.unique(y_cal).size < 3:
        raise ValueError(f"APS needs at least three distinct classes in y_cal (K = {k}, {np.unique(y_cal).size} present): "
                         "MAPIE accepts only LAC for a binary target")
    if P_eval.shape[0] == 0:
        return np.zeros((0, k, len(levels)), dtype=bool)
    model = SplitConformalClassifier(_ProbabilityPassThrough(k).fit(), confidence_level=levels,
                                     conformity_score=_NonRandomisedAPS() if score == "aps" else "lac", prefit=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*conformalization dataset has less labels.*")
        model.conformalize(P_cal, y_cal)
    params = {"include_last_label": True} if score == "aps" else None
    _, sets = model.predict_set(P_eval, conformity_score_params=params)
    return np.asarray(sets, dtype=bool)


def coverage_summary(sets, y, confidence: float, classes: Sequence) -> dict:
    """Marginal and class-conditional coverage and set size of prediction sets at one level.

    Parameters
    ----------
    sets : array_like of bool, shape (n, K)
        One level's sets, e.g. ``conformal_sets(...)[:, :, j]``.
    y : array_like of int, shape (n,)
        True class codes ``0 .. K-1``.
    confidence : float
        Two-sided confidence level of the intervals.
    classes : sequence, length K
        The class labels in code order; ``str(label)`` keys ``"by_class"``.

    Returns
    -------
    dict
        JSON-ready, nothing rounded:

        - ``"n"``: rows summarised.
        - ``"coverage"``: the share of rows whose set holds the true class, an
          :class:`~audit.stats.estimate.Estimate` dict (``value``, ``ci``, ``method``, ``n``) from
          :func:`~audit.stats.proportions.proportion` (Wilson; Clopper–Pearson within 3 of 0 or n).
        - ``"mean_set_size"``: the mean number of classes in a set (None when ``n = 0``).
        - ``"empty"``, ``"singleton"``: the shares of sets with no class and with one class, as
          ``"coverage"``.
        - ``"by_class"``: for each class label, among rows of that true class, ``"n"``,
          ``"coverage"`` (as above; for a class with no rows ``value`` and ``ci`` are None and
          ``reason`` says so) and ``"mean_set_size"`` (None for a class with no rows).

    Notes
    -----
    ``coverage = #{i : y_i in C(x_i)} / n``; class-conditional coverage of class ``c`` is the same
    among the rows with ``y_i = c``. Split conformal guarantees the first (marginally, for
    exchangeable patients), not the second: a rare or hard class can be covered far less often while
    the marginal coverage meets the target (Vovk, ACML 2012; Sadinle et al., JASA 2019).
    """
    sets = np.asarray(sets)
    if sets.ndim != 2 or sets.dtype != bool:
        raise ValueError(f"sets must be a bool array of shape (n, K), one level; got {sets.dtype} {sets.shape}")
    n, k = sets.shape
    labels = [str(c) for c in classes]
    if len(labels) != k or len(set(labels)) != k:
        raise ValueError(f"classes must name the {k} columns of sets, distinctly; got {list(classes)!r}")
    y = _codes(y, n, k, "y")
    covered = sets[np.arange(n), y]
    size = sets.sum(axis=1)
    by_class = {}
    for code, label in enumerate(labels):
        rows = y == code
        m = int(rows.sum())
        cov = proportion(int(covered[rows].sum()), m, confidence)
        if m == 0:
            cov = dataclasses.replace(cov, reason=f"not estimable: no rows with true class {label}")
        by_class[label] = {"n": m, "coverage": cov.to_dict(), "mean_set_size": float(size[rows].mean()) if m else None}
    return {
        "n": int(n),
        "coverage": proportion(int(covered.sum()), n, confidence).to_dict(),
        "mean_set_size": float(size.mean()) if n else None,
        "empty": proportion(int((size == 0).sum()), n, confidence).to_dict(),
        "singleton": proportion(int((size == 1).sum()), n, confidence).to_dict(),
        "by_class": by_class,
    }


def undercovered_classes(summary: dict, level: float) -> list[str]:
    """The classes whose coverage interval lies wholly below the target ``level``.

    Parameters
    ----------
    summary : dict
        A :func:`coverage_summary` result.
    level : float
        The target coverage the sets were built for.

    Returns
    -------
    list of str
        The ``"by_class"`` keys, in class order, whose coverage interval has an upper bound below
        ``level``; a class with no rows (no interval) is never listed.
    """
    out = []
    for label, entry in summary["by_class"].items():
        ci = entry["coverage"]["ci"]
        if ci is not None and ci[1] is not None and ci[1] < level:
            out.append(label)
    return out
