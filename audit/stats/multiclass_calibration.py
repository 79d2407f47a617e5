"""Calibration of the predicted probabilities of a K-class model.

``y`` holds class codes ``0 .. K-1`` (shape ``(n,)``) and ``P`` the predicted probabilities, shape
``(n, K)``, rows summing to 1 (the multiclass task checks the sums; nothing here depends on them
beyond what is stated). Three views, each reusing the binary machinery of
:mod:`audit.stats.calibration`:

- **Multinomial calibration intercepts and slopes** (Van Hoorde, Vergouwe, Timmerman, Van Huffel,
  Steyerberg & Van Calster, Stat Med 2014;33:2585-2596). With a reference class ``r`` the model's
  linear predictors are ``LP_k = log(P_k / P_r)`` for every ``k != r`` (probabilities below ``clip``,
  ``1e-12`` by default, are raised to ``clip`` first, so an exact 0 gives a finite ``LP``). The
  *calibration intercepts* are the ``a_k`` of the multinomial logistic model
  ``log(pi_k / pi_r) = a_k + LP_k`` (the ``LP_k`` as offsets): 0 is ideal, negative means class
  ``k`` is predicted too often relative to ``r``. The *calibration slopes* are the ``b_k`` of the
  constrained model ``log(pi_k / pi_r) = a_k + b_k LP_k``, in which each equation uses only its own
  linear predictor (unlike a full multinomial regression on all the ``LP``): 1 is ideal, below 1
  means the predicted probabilities are too extreme (overfitting). For ``K = 2`` they are the binary
  calibration intercept and slope (logistic recalibration, Cox 1958). Both models are fitted by
  Newton-Raphson on the multinomial log-likelihood, with analytic gradient and information; the
  intervals are Wald's, from the inverse observed information.
- **Top-label (confidence) calibration** (Guo, Pleiss, Sun & Weinberger, ICML 2017): the confidence
  ``max_k P_ik`` against whether the arg-max class (ties to the first class) is the true one.
- **Classwise calibration** (Kull et al., NeurIPS 2019): for each class ``k``, ``P[:, k]`` against
  ``1[y = k]``, and the unweighted mean over the ``K`` classes.

For the last two, each binary pair (outcome, prediction) gets the **ICI** (integrated calibration
index, Austin & Steyerberg, Stat Med 2019): ``mean_i |p_c(p_i) - p_i|`` with ``p_c`` a lowess smooth of
the outcome on the prediction (:func:`audit.stats.calibration.smoothed_calibration`), and the **ECE**
(Naeini, Cooper & Hauskrecht, AAAI 2015): ``sum_b (n_b / n) |ybar_b - pbar_b|`` over equal-width bins
of ``[0, 1]`` (:func:`audit.stats.calibration.ece`), plus a bounded number of points for a figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.special import logsumexp, ndtri

from .calibration import binned_points, ece, separated, smoothed_calibration
from .estimate import Estimate, not_estimable

METHOD = "wald-multinomial"
MAX_ITER = 100


# -- input ------------------------------------------------------------------------------------


def _check(y, P) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and probabilities as clean arrays; ``ValueError`` when they do not fit together."""
    P = np.asarray(P, dtype=float)
    y = np.asarray(y)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"P must have shape (n, K) with K >= 2 classes; got shape {P.shape}")
    if y.shape != (P.shape[0],):
        raise ValueError(f"y must have shape ({P.shape[0]},), one class code per row of P; got {y.shape}")
    if not np.all(np.isfinite(P)):
        raise ValueError("P holds values that are not finite; give probabilities in [0, 1]")
    codes = y.astype(int)
    if y.size and (np.any(codes != y) or codes.min() < 0 or codes.max() >= P.shape[1]):
        raise ValueError(f"y must hold integer class codes 0 .. {P.shape[1] - 1}, the columns of P")
    return codes, P


# -- multinomial calibration ------------------------------------------------------------------


@dataclass(frozen=True)
class MultinomialCalibration:
    """Calibration intercepts and slopes of a multinomial model, one per non-reference class.

    Attributes
    ----------
    reference : int
        The reference class ``r`` of the log-odds ``log(pi_k / pi_r)``.
    intercepts : dict of int to Estimate
        ``a_k`` of ``log(pi_k / pi_r) = a_k + LP_k``, keyed by class code ``k != r``; 0 is ideal.
    slopes : dict of int to Estimate
        ``b_k`` of ``log(pi_k / pi_r) = a_k + b_k LP_k``, keyed the same way; 1 is ideal.
    clip : float
        Probabilities below ``clip`` were raised to it before ``LP_k = log(P_k / P_r)``.
    confidence : float
        The confidence level of the Wald intervals.
    n : int
        The number of patients.
    """

    reference: int
    intercepts: dict[int, Estimate]
    slopes: dict[int, Estimate]
    clip: float
    confidence: float
    n: int

    def to_dict(self) -> dict:
        """The results.json shape: class codes as text keys, each estimate as :meth:`Estimate.to_dict`."""
        return {
            "reference": self.reference,
            "intercepts": {str(k): e.to_dict() for k, e in self.intercepts.items()},
            "slopes": {str(k): e.to_dict() for k, e in self.slopes.items()},
            "clip": self.clip,
            "confidence": self.confidence,
            "n": self.n,
        }


@dataclass(frozen=True)
class _Fit:
    """Maximum-likelihood estimates ``(m, 2)`` and their standard errors (``nan`` where fixed), or why not."""

    params: np.ndarray | None
    se: np.ndarray | None
    reason: str | None = None


def linear_predictors(P, reference: int = 0, clip: float = 1e-12) -> np.ndarray:
    """The multinomial linear predictors ``LP_k = log(max(P_k, clip) / max(P_r, clip))``.

    Parameters
    ----------
    P : array_like, shape (n, K)
        Predicted probabilities.
    reference : int
        The reference class ``r``.
    clip : float
        Lower bound applied to the probabilities before the logarithm.

    Returns
    -------
    numpy.ndarray, shape (n, K - 1)
        ``LP_k`` for the classes ``k != r`` in increasing order; for ``K = 2`` and ``r = 0`` this is
        ``logit(P_1)``.

    References
    ----------
    Van Hoorde K, Vergouwe Y, Timmerman D, Van Huffel S, Steyerberg EW, Van Calster B. Assessing
    calibration of multinomial risk prediction models. Stat Med 2014;33:2585-2596.
    """
    logp = np.log(np.maximum(np.asarray(P, dtype=float), clip))
    return np.delete(logp, reference, axis=1) - logp[:, [reference]]


def _loglik(Y: np.ndarray, eta: np.ndarray) -> float:
    """``sum_i [eta_{i,y_i} - log(1 + sum_k exp(eta_ik))]`` with ``eta = 0`` for the reference class."""
    full = np.column_stack([np.zeros(eta.shape[0]), eta])
    return float(np.sum(Y * eta) - np.sum(logsumexp(full, axis=1)))


def _probabilities(eta: np.ndarray) -> np.ndarray:
    """Fitted probabilities ``pi_ik`` of the non-reference classes."""
    full = np.column_stack([np.zeros(eta.shape[0]), eta])
    return np.exp(eta - logsumexp(full, axis=1)[:, None])


def _score_information(Y, X, pi, free) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and observed information of the log-likelihood in the free parameters.

    With ``x_ik = (1, LP_ik)`` the design of equation ``k``: ``dl/dtheta_kd = sum_i (Y_ik - pi_ik) x_ikd``
    and ``I = sum_i X_i^T (diag(pi_i) - pi_i pi_i^T) X_i``, computed as a block-diagonal term minus
    ``V^T V`` with ``V_i = pi_i x_i`` (memory linear in n).
    """
    n, m, _ = X.shape
    grad = np.einsum("ik,ikd->kd", Y - pi, X).ravel()
    diag = np.einsum("ik,ikd,ike->kde", pi, X, X)
    V = (pi[:, :, None] * X).reshape(n, 2 * m)
    info = -(V.T @ V)
    for k in range(m):
        info[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] += diag[k]
    mask = free.ravel()
    return grad[mask], info[np.ix_(mask, mask)]


SINGULAR = "the information matrix is singular (the predictions may separate the classes)"


def _eta(theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Log-odds against the reference, ``eta_ik = theta_k0 + theta_k1 LP_ik``."""
    return theta[None, :, 0] + theta[None, :, 1] * X[:, :, 1]


def _newton(Y, X, start, free) -> _Fit:
    """Maximise the multinomial log-likelihood of ``eta_ik = theta_k0 + theta_k1 LP_ik`` over the free
    entries of ``theta`` (the others stay at their start values), by Newton-Raphson with step halving.

    Converged when the largest Newton step is below ``1e-10 (1 + max |theta|)``. Under separation the
    steps do not shrink (the estimates run off to infinity), so the iterations end in a singular
    information matrix, a likelihood that stops increasing, or ``MAX_ITER``: each a reason, not a fit.
    """
    theta = start.astype(float).copy()
    ll = _loglik(Y, _eta(theta, X))
    for _ in range(MAX_ITER):
        grad, info = _score_information(Y, X, _probabilities(_eta(theta, X)), free)
        try:
            step = cho_solve(cho_factor(info), grad)
        except (LinAlgError, ValueError):
            return _Fit(None, None, SINGULAR)
        scale = 1.0 + np.max(np.abs(theta[free]))
        if np.max(np.abs(step)) < 1e-10 * scale:
            theta[free] += step
            return _covariance(Y, X, theta, free)
        for t in 0.5 ** np.arange(40):
            candidate = theta.copy()
            candidate[free] += t * step
            new = _loglik(Y, _eta(candidate, X))
            if new >= ll - 1e-12 * (1.0 + abs(ll)):
                break
        else:
            if np.max(np.abs(step)) < 1e-6 * scale:  # at the optimum up to rounding of the log-likelihood
                return _covariance(Y, X, theta, free)
            return _Fit(None, None, "the likelihood stopped increasing before convergence (the predictions may "
                                    "separate the classes)")
        theta, ll = candidate, new
    return _Fit(None, None, f"no convergence in {MAX_ITER} Newton-Raphson iterations (the predictions may separate "
                            "the classes)")


def _covariance(Y, X, theta, free) -> _Fit:
    """Standard errors from the inverse observed information at the estimate."""
    _, info = _score_information(Y, X, _probabilities(_eta(theta, X)), free)
    try:
        var = np.diag(np.linalg.inv(info))
    except np.linalg.LinAlgError:
        return _Fit(None, None, SINGULAR)
    if not np.all(np.isfinite(var)) or np.any(var <= 0):
        return _Fit(None, None, SINGULAR)
    se = np.full(theta.shape, np.nan)
    se[free] = np.sqrt(var)
    return _Fit(theta, se)


def _fit_both(Y: np.ndarray, lp: np.ndarray) -> tuple[_Fit, _Fit]:
    """The intercept model (slopes fixed at 1) and the slope model (slopes free where ``LP_k`` varies)."""
    m = lp.shape[1]
    X = np.stack([np.ones_like(lp), lp], axis=2)
    ones, zeros = np.ones(m, bool), np.zeros(m, bool)
    intercepts = _newton(Y, X, np.column_stack([np.zeros(m), np.ones(m)]), np.column_stack([ones, zeros]))
    if m == 1 and separated(Y[:, 0], lp[:, 0]):  # two classes observed: the binary criterion is exact
        return intercepts, _Fit(None, None, "the predictions separate the outcomes perfectly, so the calibration "
                                            "slope is infinite")
    varies = np.ptp(lp, axis=0) > 0
    a0 = intercepts.params[:, 0] if intercepts.params is not None else np.zeros(m)
    return intercepts, _newton(Y, X, np.column_stack([a0, varies.astype(float)]), np.column_stack([ones, varies]))


def multinomial_calibration(y, P, reference: int = 0, confidence: float = 0.95,
                            clip: float = 1e-12) -> MultinomialCalibration:
    """Calibration intercepts and slopes of a K-class model (Van Hoorde et al., Stat Med 2014).

    Parameters
    ----------
    y : array_like of int, shape (n,)
        True class codes ``0 .. K-1``.
    P : array_like, shape (n, K)
        Predicted probabilities, rows summing to 1.
    reference : int
        The reference class ``r`` of the log-odds.
    confidence : float
        Confidence level of the Wald intervals.
    clip : float
        Probabilities below ``clip`` are raised to it before ``LP_k = log(P_k / P_r)``.

    Returns
    -------
    MultinomialCalibration
        For each ``k != r``: the intercept ``a_k`` (ideal 0) and slope ``b_k`` (ideal 1), as
        :class:`Estimate` with ``method="wald-multinomial"``.

    Raises
    ------
    ValueError
        When ``y`` and ``P`` do not fit together (shapes, codes outside ``0 .. K-1``, values that are
        not finite) or ``reference`` or ``confidence`` is out of range; never because of the data.

    Notes
    -----
    With ``LP_ik = log(max(P_ik, clip) / max(P_ir, clip))`` and ``eta_ik = log(pi_ik / pi_ir)``:

    - intercepts: ``eta_ik = a_k + LP_ik`` (offsets, slopes fixed at 1);
    - slopes: ``eta_ik = a_k + b_k LP_ik`` (each equation with its own linear predictor only).

    Each is fitted by maximising ``l = sum_i [eta_{i,y_i} - log(1 + sum_{k != r} exp(eta_ik))]``
    (``eta_ir = 0``) by Newton-Raphson; the interval is ``theta +- z_{(1+confidence)/2} SE`` with the
    SE from the inverse observed information ``sum_i X_i^T (diag(pi_i) - pi_i pi_i^T) X_i``.

    Degenerate data give estimates with value ``nan``, no interval and the reason, never an error:
    the reference class absent (every log-odds against it is infinite: choose another reference); a
    class absent (its intercept is ``-inf``; the other classes are fitted without it, which is the
    limit of the full fit); a constant ``LP_k`` (its slope is not identified; its equation keeps an
    intercept only); separation or non-convergence of the Newton-Raphson iterations.

    References
    ----------
    Van Hoorde K, Vergouwe Y, Timmerman D, Van Huffel S, Steyerberg EW, Van Calster B. Assessing
    calibration of multinomial risk prediction models. Stat Med 2014;33:2585-2596.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> P = rng.dirichlet([2, 2, 2], size=2000)
    >>> y = (rng.random(2000)[:, None] > P.cumsum(axis=1)).sum(axis=1)
    >>> fit = multinomial_calibration(y, P)
    >>> bool(abs(fit.slopes[1].value - 1) < 0.2)
    True
    """
    y, P = _check(y, P)
    K, n = P.shape[1], y.size
    if not 0 <= reference < K:
        raise ValueError(f"reference must be a class code 0 .. {K - 1}; got {reference}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    others = [k for k in range(K) if k != reference]
    counts = np.bincount(y, minlength=K)
    skip = lambda why: not_estimable(f"not estimable: {why}", METHOD, n)
    if counts[reference] == 0 or counts[others].sum() == 0:
        why = skip("there are no patients" if n == 0
                   else f"no patient is in the reference class {reference}; choose another reference"
                   if counts[reference] == 0 else f"every patient is in the reference class {reference}")
        none = dict.fromkeys(others, why)
        return MultinomialCalibration(reference, none, dict(none), clip, confidence, n)

    kept = [k for k in others if counts[k] > 0]
    lp = linear_predictors(P, reference, clip)[:, [others.index(k) for k in kept]]
    fits = _fit_both((y[:, None] == np.asarray(kept)[None, :]).astype(float), lp)
    z = ndtri(0.5 + confidence / 2)
    out: tuple[dict[int, Estimate], dict[int, Estimate]] = ({}, {})
    for k in others:
        for column, (fit, estimates) in enumerate(zip(fits, out)):
            if k not in kept:
                estimates[k] = skip(f"no patient is in class {k}, so its log-odds against class {reference} is -inf")
            elif column == 1 and np.ptp(lp[:, kept.index(k)]) == 0:
                estimates[k] = skip(f"the linear predictor log(P_{k} / P_{reference}) is the same for every patient")
            elif fit.params is None:
                estimates[k] = skip(fit.reason)
            else:
                value, se = fit.params[kept.index(k), column], fit.se[kept.index(k), column]
                estimates[k] = Estimate(value, (value - z * se, value + z * se), METHOD, n)
    return MultinomialCalibration(reference, out[0], out[1], clip, confidence, n)


# -- top-label and classwise calibration ------------------------------------------------------


@dataclass(frozen=True)
class CalibrationError:
    """ICI and ECE of one binary outcome against one prediction, with points for a figure.

    Attributes
    ----------
    ici : float
        Integrated calibration index ``mean_i |p_c(p_i) - p_i|`` (Austin & Steyerberg 2019).
    ece : float
        Expected calibration error over ``n_bins`` equal-width bins of ``[0, 1]``.
    estimator : str
        The smoother behind ``p_c``.
    bins : str
        The bins of the ECE and of ``points``.
    points : tuple of dict
        One dict per non-empty bin: ``predicted`` (mean prediction), ``observed`` (outcome rate),
        ``ci`` (Wilson interval of the rate) and ``n`` (:func:`audit.stats.calibration.binned_points`).
    curve : dict of str to list of float
        The smoothed curve at most ``curve_points`` points: ``predicted`` (sorted) and ``observed``.
    n : int
        The number of patients.
    events : int
        How many have the outcome (correct top label, or class ``k``).
    mean_predicted : float
        The mean prediction (mean confidence for the top label); ``events / n`` minus it is the
        calibration-in-the-large gap.
    """

    ici: float
    ece: float
    estimator: str
    bins: str
    points: tuple[dict, ...]
    curve: dict[str, list[float]]
    n: int
    events: int
    mean_predicted: float

    def to_dict(self) -> dict:
        """Plain JSON-ready values (``nan`` as ``None``)."""
        return {"ici": _number(self.ici), "ece": _number(self.ece), "estimator": self.estimator, "bins": self.bins,
                "points": list(self.points), "curve": self.curve, "n": self.n, "events": self.events,
                "mean_predicted": _number(self.mean_predicted)}


@dataclass(frozen=True)
class ClasswiseCalibration:
    """Classwise calibration: one :class:`CalibrationError` per class and their mean.

    Attributes
    ----------
    classes : dict of int to CalibrationError
        ``P[:, k]`` against ``1[y = k]``, keyed by class code.
    mean_ici, mean_ece : float
        The unweighted means of the per-class ICI and ECE over the ``K`` classes (``mean_ece`` is the
        classwise-ECE of Kull et al. 2019).
    average : str
        How the means are taken.
    """

    classes: dict[int, CalibrationError]
    mean_ici: float
    mean_ece: float
    average: str = "unweighted mean over the K classes"

    def to_dict(self) -> dict:
        """Plain JSON-ready values, class codes as text keys."""
        return {"classes": {str(k): c.to_dict() for k, c in self.classes.items()},
                "mean_ici": _number(self.mean_ici), "mean_ece": _number(self.mean_ece), "average": self.average}


def _number(v: float) -> float | None:
    """A float for JSON, ``None`` for ``nan``."""
    return float(v) if np.isfinite(v) else None


def _estimator(frac: float) -> str:
    return (f"lowess of the outcome on the prediction (statsmodels), span {frac:g}, no robustness iterations; "
            "linear interpolation between predictions within 0.5% of their range when n > 5000; at a prediction value "
            "shared by at least a span's worth of patients, their observed rate")


def _smoothed(outcome: np.ndarray, p: np.ndarray, frac: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Sorted predictions, their lowess smooth and the ICI, from :func:`smoothed_calibration`.

    Where one prediction value is shared by at least a span's worth of patients (``int(frac n)``: a
    class given probability 0, or one rounded value, to most patients) the lowess neighbourhood has
    zero width and statsmodels returns one arbitrary patient's outcome (0 or 1) for all of them; the
    smooth at that value is set to those patients' observed rate, the limit of the local fit, and the
    ICI recomputed. (Predictions next to such a value keep Cleveland's convention: with fewer than two
    positive weights, a patient's own outcome.)
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # the zero-width neighbourhoods
        smooth = smoothed_calibration(outcome, p, frac=frac)
    k = min(max(int(frac * p.size + 1e-10), 2), p.size)
    _, first, count = np.unique(smooth.p_sorted, return_index=True, return_counts=True)
    if not np.any(count >= k):
        return smooth.p_sorted, smooth.smoothed, smooth.ici
    fitted = smooth.smoothed.copy()
    y_sorted = outcome[np.argsort(p, kind="stable")]
    for s, c in zip(first[count >= k], count[count >= k]):
        fitted[s : s + c] = y_sorted[s : s + c].mean()
    return smooth.p_sorted, fitted, float(np.mean(np.abs(fitted - smooth.p_sorted)))


def _calibration_error(outcome, p, n_bins: int, frac: float, confidence: float, curve_points: int) -> CalibrationError:
    """The binary machinery of :mod:`audit.stats.calibration` on one (outcome, prediction) pair."""
    outcome = np.asarray(outcome, dtype=float)
    bins = f"{n_bins} equal-width bins of [0, 1]"
    if outcome.size == 0:
        empty = {"predicted": [], "observed": []}
        return CalibrationError(np.nan, np.nan, _estimator(frac), bins, (), empty, 0, 0, np.nan)
    p_sorted, fitted, ici = _smoothed(outcome, p, frac)
    at = np.unique(np.linspace(0, p.size - 1, min(curve_points, p.size)).round().astype(int))
    curve = {"predicted": p_sorted[at].tolist(), "observed": fitted[at].tolist()}
    points = tuple(binned_points(outcome, p, n_bins, "uniform", confidence))
    return CalibrationError(ici, ece(outcome, p, n_bins, "uniform"), _estimator(frac), bins, points, curve,
                            outcome.size, int(outcome.sum()), float(np.mean(p)))


def top_label_calibration(y, P, n_bins: int = 10, frac: float = 0.75, confidence: float = 0.95,
                          curve_points: int = 50) -> CalibrationError:
    """Top-label (confidence) calibration: the largest probability against a correct arg-max.

    Parameters
    ----------
    y : array_like of int, shape (n,)
        True class codes ``0 .. K-1``.
    P : array_like, shape (n, K)
        Predicted probabilities, rows summing to 1.
    n_bins : int
        Equal-width bins of ``[0, 1]`` for the ECE and the binned points.
    frac : float
        Span of the lowess smoother behind the ICI.
    confidence : float
        Level of the Wilson intervals of the binned observed rates.
    curve_points : int
        At most this many points of the smoothed curve are returned.

    Returns
    -------
    CalibrationError
        ICI, ECE, binned points and smoothed curve of ``(c_i, conf_i)``.

    Notes
    -----
    ``conf_i = max_k P_ik`` and ``c_i = 1[argmax_k P_ik = y_i]`` (ties to the first class). Then
    ``ICI = mean_i |p_c(conf_i) - conf_i|`` with ``p_c`` the lowess smooth of ``c`` on ``conf``, and
    ``ECE = sum_b (n_b / n) |cbar_b - confbar_b|`` over equal-width bins ``b``. The top-label
    calibration of Gupta & Ramdas (ICLR 2022) conditions on the predicted class as well; this is the
    confidence calibration of Guo et al.

    References
    ----------
    Guo C, Pleiss G, Sun Y, Weinberger KQ. On calibration of modern neural networks. ICML 2017.
    Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics for
    quantifying the calibration of logistic regression models. Stat Med 2019;38:4051-4065.
    Naeini MP, Cooper GF, Hauskrecht M. Obtaining well calibrated probabilities using Bayesian
    binning. AAAI 2015.

    Examples
    --------
    >>> P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    >>> top_label_calibration([0, 1, 0, 1], P).events
    2
    """
    y, P = _check(y, P)
    correct = (np.argmax(P, axis=1) == y).astype(float)
    return _calibration_error(correct, P.max(axis=1, initial=0.0), n_bins, frac, confidence, curve_points)


def classwise_calibration(y, P, n_bins: int = 10, frac: float = 0.75, confidence: float = 0.95,
                          curve_points: int = 50) -> ClasswiseCalibration:
    """Classwise calibration: each class's probability against the indicator of that class.

    Parameters
    ----------
    y : array_like of int, shape (n,)
        True class codes ``0 .. K-1``.
    P : array_like, shape (n, K)
        Predicted probabilities, rows summing to 1.
    n_bins : int
        Equal-width bins of ``[0, 1]`` for the ECE and the binned points.
    frac : float
        Span of the lowess smoother behind the ICI.
    confidence : float
        Level of the Wilson intervals of the binned observed rates.
    curve_points : int
        At most this many points of each smoothed curve are returned.

    Returns
    -------
    ClasswiseCalibration
        One :class:`CalibrationError` per class and ``mean_ici``, ``mean_ece``: their unweighted
        means over the ``K`` classes.

    Notes
    -----
    For class ``k``: ``ICI_k = mean_i |p_c,k(P_ik) - P_ik|`` with ``p_c,k`` the lowess smooth of
    ``1[y_i = k]`` on ``P_ik``, and ``ECE_k = sum_b (n_b / n) |ybar_b - pbar_b|`` over equal-width bins
    of ``P[:, k]``. ``mean_ece = (1/K) sum_k ECE_k`` is the classwise-ECE of Kull et al.

    References
    ----------
    Kull M, Perello-Nieto M, Kängsepp M, Silva Filho T, Song H, Flach P. Beyond temperature scaling:
    obtaining well-calibrated multiclass probabilities with Dirichlet calibration. NeurIPS 2019.
    Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics for
    quantifying the calibration of logistic regression models. Stat Med 2019;38:4051-4065.
    Naeini MP, Cooper GF, Hauskrecht M. Obtaining well calibrated probabilities using Bayesian
    binning. AAAI 2015.

    Examples
    --------
    >>> P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    >>> sorted(classwise_calibration([0, 1, 2, 0], P).classes)
    [0, 1, 2]
    """
    y, P = _check(y, P)
    per_class = {k: _calibration_error(y == k, P[:, k], n_bins, frac, confidence, curve_points)
                 for k in range(P.shape[1])}
    icis = [c.ici for c in per_class.values()]
    eces = [c.ece for c in per_class.values()]
    return ClasswiseCalibration(per_class, float(np.mean(icis)), float(np.mean(eces)))
