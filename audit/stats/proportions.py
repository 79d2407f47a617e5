"""Confidence intervals for a binomial proportion, a difference of proportions, and predictive values.

- Wilson score interval (Wilson, JASA 1927): good coverage at every n, never outside [0, 1].
- Clopper–Pearson exact interval (Biometrika 1934): quantiles of beta distributions;
  conservative, for very small groups.
- ``proportion_interval(method="auto")``: Wilson, but Clopper–Pearson within ``BOUNDARY_COUNT``
  of 0 or n, where Wilson's coverage dips (Brown, Cai & DasGupta, Stat Sci 2001).
- Agresti–Caffo adjusted difference of two independent proportions (Am Stat 2000).
- PPV and NPV at a known prevalence by Bayes' theorem, logit intervals of Mercaldo, Lau & Zhou
  (Stat Med 2007).
- Newcombe's method 10 for the difference of two paired proportions (Stat Med 1998).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit, ndtri
from scipy.stats import beta

from .estimate import Estimate, not_estimable

#: ``method="auto"`` switches to Clopper–Pearson when the count is this close to 0 or to n.
BOUNDARY_COUNT = 3

_METHODS = ("auto", "wilson", "clopper-pearson")


def _z(confidence: float) -> float:
    """Two-sided normal quantile ``Phi^-1(1/2 + confidence/2)``."""
    return float(ndtri(0.5 + confidence / 2.0))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``."""
    if n <= 0:
        raise ValueError("a proportion needs n >= 1")
    z = ndtri(0.5 + confidence / 2.0)
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    den = 1 + z * z / n
    # at 0 or n successes the bound is exactly p (0 or 1); the formula gives it only up to rounding
    lo = 0.0 if successes == 0 else min(p, max(0.0, (centre - half) / den))
    hi = 1.0 if successes == n else max(p, min(1.0, (centre + half) / den))
    return float(lo), float(hi)


def clopper_pearson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact interval from the beta quantiles ``B(alpha/2; k, n-k+1)``, ``B(1-alpha/2; k+1, n-k)``."""
    if n <= 0:
        raise ValueError("a proportion needs n >= 1")
    alpha = 1.0 - confidence
    lo = 0.0 if successes == 0 else beta.ppf(alpha / 2, successes, n - successes + 1)
    hi = 1.0 if successes == n else beta.ppf(1 - alpha / 2, successes + 1, n - successes)
    return float(lo), float(hi)


def _interval_method(successes: int, n: int, method: str) -> str:
    """The method ``proportion_interval`` uses: ``method`` itself, or the ``"auto"`` choice."""
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(_METHODS)}")
    if method != "auto":
        return method
    near_edge = successes <= BOUNDARY_COUNT or successes >= n - BOUNDARY_COUNT
    return "clopper-pearson" if near_edge else "wilson"


def proportion_interval(
    successes: int, n: int, confidence: float = 0.95, method: str = "auto"
) -> tuple[tuple[float, float], str]:
    """Confidence interval for ``successes / n`` and the name of the method that gave it.

    Parameters
    ----------
    successes, n : int
        Count of successes and of trials, ``0 <= successes <= n``, ``n >= 1``.
    confidence : float
        Two-sided confidence level.
    method : {"auto", "wilson", "clopper-pearson"}
        ``"auto"`` is Wilson, except Clopper–Pearson when ``successes <= BOUNDARY_COUNT`` or
        ``successes >= n - BOUNDARY_COUNT``; the other two force one method.

    Returns
    -------
    (lo, hi), method : tuple[tuple[float, float], str]
        The interval and ``"wilson"`` or ``"clopper-pearson"``.

    Notes
    -----
    Wilson: ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``. Clopper–Pearson:
    ``(B(alpha/2; x, n-x+1), B(1-alpha/2; x+1, n-x))`` with ``B`` the beta quantile. Near 0 and
    n the Wilson interval's coverage falls well below nominal for some true p (Brown, Cai &
    DasGupta, Stat Sci 2001; 16:101-133), hence the exact interval there.

    Raises
    ------
    ValueError
        If ``n <= 0``, ``successes`` is outside ``[0, n]`` or ``method`` is unknown.
    """
    if n <= 0:
        raise ValueError("a proportion needs n >= 1")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    used = _interval_method(successes, n, method)
    interval = wilson_interval if used == "wilson" else clopper_pearson_interval
    return interval(successes, n, confidence), used


def proportion(successes: int, n: int, confidence: float = 0.95, method: str = "auto") -> Estimate:
    """A proportion with its interval from :func:`proportion_interval`.

    Parameters
    ----------
    successes, n : int
        Count of successes and of trials.
    confidence : float
        Two-sided confidence level.
    method : {"auto", "wilson", "clopper-pearson"}
        As in :func:`proportion_interval`.

    Returns
    -------
    Estimate
        ``successes / n`` with the interval, method ``"wilson"`` or ``"clopper-pearson"``;
        when ``n == 0`` a not-estimable estimate (value ``nan``, no interval) with the reason.

    Notes
    -----
    Wilson (JASA 1927), Clopper & Pearson (Biometrika 1934); the ``"auto"`` switch follows
    Brown, Cai & DasGupta (Stat Sci 2001).
    """
    if n == 0:
        reason = "not estimable: the denominator is 0 (no observations in this group)"
        return not_estimable(reason, _interval_method(successes, n, method), 0)
    ci, used = proportion_interval(successes, n, confidence, method)
    return Estimate(successes / n, ci, used, int(n))


def _scalar_or_array(x: np.ndarray):
    """A Python float for 0-d input, the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


def agresti_caffo(x_a, n_a, x_b, n_b) -> tuple[float, float]:
    """Agresti–Caffo adjusted difference of two independent proportions and its standard error.

    Parameters
    ----------
    x_a, n_a, x_b, n_b : int or array_like
        Successes and trials in groups a and b; broadcast elementwise.

    Returns
    -------
    difference, se : float or ndarray
        ``p~_b - p~_a`` and ``sqrt(p~_a(1-p~_a)/(n_a+2) + p~_b(1-p~_b)/(n_b+2))``.

    Notes
    -----
    One success and one failure are added to each group, ``p~ = (x + 1) / (n + 2)``; the Wald
    interval ``d~ +- z se`` on these has near-nominal coverage even for small groups (Agresti &
    Caffo, "Simple and effective confidence intervals for proportions and differences of
    proportions result from adding two successes and two failures", Am Stat 2000; 54:280-288).
    Since ``0 < p~ < 1`` the standard error is never 0.
    """
    (pa, se_a), (pb, se_b) = plus_two(x_a, n_a), plus_two(x_b, n_b)
    return _scalar_or_array(np.asarray(pb) - pa), _scalar_or_array(np.hypot(se_a, se_b))


def plus_two(x, n) -> tuple[float, float]:
    """One group's part of Agresti–Caffo: ``p~ = (x + 1) / (n + 2)`` and ``sqrt(p~ (1 - p~) / (n + 2))``.

    The difference of two groups' ``p~`` and the root sum of squares of their standard errors are
    :func:`agresti_caffo`; simultaneous inference over many groups (``simultaneous.py``) composes
    pairs from these parts.
    """
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    p = (x + 1) / (n + 2)
    return _scalar_or_array(p), _scalar_or_array(np.sqrt(p * (1 - p) / (n + 2)))


def _bayes_ppv_npv(sens, spec, prevalence):
    """``PPV = se pi / (se pi + (1-sp)(1-pi))``, ``NPV = sp(1-pi) / (sp(1-pi) + (1-se) pi)``."""
    sens, spec = np.float64(sens), np.float64(spec)
    tp, fp = sens * prevalence, (1 - spec) * (1 - prevalence)
    tn, fn = spec * (1 - prevalence), (1 - sens) * prevalence
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fp), tn / (tn + fn)


def _logit_pv_interval(sens, spec, n_pos, n_neg, prevalence, z) -> dict[str, tuple[float, float]]:
    """Mercaldo et al.'s logit intervals for PPV and NPV from sensitivity, specificity and counts."""
    ppv, npv = _bayes_ppv_npv(sens, spec, prevalence)
    var_ppv = (1 - sens) / (sens * n_pos) + spec / ((1 - spec) * n_neg)
    var_npv = sens / ((1 - sens) * n_pos) + (1 - spec) / (spec * n_neg)
    out = {}
    for key, pv, var in (("ppv", ppv, var_ppv), ("npv", npv, var_npv)):
        half = z * np.sqrt(var)
        out[key] = (float(expit(logit(pv) - half)), float(expit(logit(pv) + half)))
    return out


def predictive_values_from_prevalence(
    tp: int, n_pos: int, tn: int, n_neg: int, prevalence: float, confidence: float = 0.95
) -> dict[str, Estimate]:
    """PPV and NPV at a known prevalence, by Bayes' theorem, with Mercaldo's logit intervals.

    Parameters
    ----------
    tp, n_pos : int
        True positives among the ``n_pos`` events (sensitivity ``tp / n_pos``).
    tn, n_neg : int
        True negatives among the ``n_neg`` non-events (specificity ``tn / n_neg``).
    prevalence : float
        The prevalence of the target population, ``0 < prevalence < 1``, taken as known.
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    dict[str, Estimate]
        ``"ppv"`` and ``"npv"``, method ``"bayes-logit"``, ``n = n_pos + n_neg``. Not estimable
        when a class is empty or the value is 0/0 (PPV with sensitivity 0 and specificity 1,
        NPV with sensitivity 1 and specificity 0).

    Notes
    -----
    With ``se = tp/n_pos``, ``sp = tn/n_neg`` and prevalence ``pi``::

        PPV = se pi / (se pi + (1 - sp)(1 - pi))      NPV = sp (1 - pi) / (sp (1 - pi) + (1 - se) pi)
        var(logit PPV) = (1 - se) / (se n_pos) + sp / ((1 - sp) n_neg)
        var(logit NPV) = se / ((1 - se) n_pos) + (1 - sp) / (sp n_neg)

    and the interval is ``expit(logit PV +- z sqrt(var))``: the "standard logit" interval of
    Mercaldo, Lau & Zhou ("Confidence intervals for predictive values with an emphasis to
    case-control studies", Stat Med 2007; 26:2170-2183, section 2.2, eqs 8-11), by the delta
    method since ``logit PPV = log(se / (1 - sp)) + logit(pi)``.

    When a cell is 0 or equals its total (``tp`` in {0, n_pos} or ``tn`` in {0, n_neg}) the
    standard logit is undefined, and both intervals are Mercaldo et al.'s *adjusted* logit
    intervals (their Table II): ``z^2/2`` added to the successes and ``z^2`` to the totals,
    ``se~ = (tp + z^2/2) / (n_pos + z^2)``, ``sp~ = (tn + z^2/2) / (n_neg + z^2)``, and the same
    formulas evaluated at ``se~``, ``sp~``, ``n_pos + z^2``, ``n_neg + z^2`` (as in the R
    package bdpv, whose ``BDtest`` makes the same switch). The value stays the unadjusted Bayes
    estimate; where it falls outside the adjusted interval (a PV of exactly 0 or 1), the
    interval is extended to it.
    """
    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"the prevalence must lie in (0, 1); got {prevalence}")
    n = int(n_pos + n_neg)
    if n_pos == 0 or n_neg == 0:
        reason = f"not estimable: {'no events' if n_pos == 0 else 'no non-events'}"
        return {k: not_estimable(reason, "bayes-logit", n) for k in ("ppv", "npv")}
    z = _z(confidence)
    sens, spec = tp / n_pos, tn / n_neg
    values = dict(zip(("ppv", "npv"), _bayes_ppv_npv(sens, spec, prevalence)))
    if tp in (0, n_pos) or tn in (0, n_neg):
        sens, spec = (tp + z * z / 2) / (n_pos + z * z), (tn + z * z / 2) / (n_neg + z * z)
        n_pos, n_neg = n_pos + z * z, n_neg + z * z
    intervals = _logit_pv_interval(sens, spec, n_pos, n_neg, prevalence, z)
    return {k: _pv_estimate(values[k], intervals[k], k, n) for k in ("ppv", "npv")}


def _pv_estimate(value: float, ci: tuple[float, float], key: str, n: int) -> Estimate:
    """The predictive value with its interval, extended to contain the value; 0/0 not estimable."""
    if np.isnan(value):
        why = {"ppv": "sensitivity 0 and specificity 1: no positive predictions",
               "npv": "sensitivity 1 and specificity 0: no negative predictions"}[key]
        return not_estimable(f"not estimable: the {key.upper()} is 0/0 ({why})", "bayes-logit", n)
    return Estimate(value, (min(ci[0], value), max(ci[1], value)), "bayes-logit", n)


def _wilson_arrays(x, n, z):
    """Wilson bounds elementwise, exactly 0 at ``x = 0`` and 1 at ``x = n``."""
    p = x / n
    centre, den = p + z * z / (2 * n), 1 + z * z / n
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = np.where(x == 0, 0.0, np.minimum(p, (centre - half) / den))
    hi = np.where(x == n, 1.0, np.maximum(p, (centre + half) / den))
    return p, lo, hi


def _newcombe_phi(both, only_a, only_b, neither):
    """Newcombe's corrected phi: ``A = ad - bc`` shrunk by ``n/2`` toward 0 when positive.

    ``phi = (A - n/2) / sqrt(margins)`` if ``A > n/2``, ``0`` if ``0 <= A <= n/2``,
    ``A / sqrt(margins)`` if ``A < 0``; 0 when any margin is empty.
    """
    n = both + only_a + only_b + neither
    a = both * neither - only_a * only_b
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    num = np.where(a > n / 2, a - n / 2, np.where(a < 0, a, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(margins > 0, num / np.sqrt(np.where(margins > 0, margins, 1.0)), 0.0)


def newcombe_paired_difference(both, only_a, only_b, neither, confidence: float = 0.95):
    """Difference of two paired proportions ``p_b - p_a`` with Newcombe's method-10 interval.

    Parameters
    ----------
    both, only_a, only_b, neither : int or array_like
        The paired 2x2 table: pairs positive on both, on a only, on b only, on neither;
        broadcast elementwise.
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    difference, (lo, hi) : float, tuple[float, float] (arrays for array input)
        ``p_b - p_a`` with ``p_a = (both + only_a)/n``, ``p_b = (both + only_b)/n``.

    Notes
    -----
    Newcombe, "Improved confidence intervals for the difference between binomial proportions
    based on paired data", Stat Med 1998; 17:2635-2650, method 10 (square-and-add of Wilson
    intervals with a correlation correction). With Wilson intervals ``(l_a, u_a)`` for ``p_a``
    and ``(l_b, u_b)`` for ``p_b`` and ``d = p_b - p_a``::

        lo = d - sqrt((p_b - l_b)^2 - 2 phi (p_b - l_b)(u_a - p_a) + (u_a - p_a)^2)
        hi = d + sqrt((p_a - l_a)^2 - 2 phi (p_a - l_a)(u_b - p_b) + (u_b - p_b)^2)

    where ``phi`` is the phi coefficient of the table with ``A = both*neither - only_a*only_b``
    replaced by ``A - n/2`` when ``A > n/2`` and by 0 when ``0 <= A <= n/2`` (Newcombe's
    correction; 0 when a margin is empty). Newcombe's example (20, 12, 2, 16 with ``p_1`` the
    proportion with 12) gives 0.2 (0.0562, 0.3292).
    """
    both, only_a, only_b, neither = (np.asarray(v, dtype=float) for v in (both, only_a, only_b, neither))
    n = both + only_a + only_b + neither
    if np.any(n <= 0):
        raise ValueError("a paired difference needs at least one pair")
    z = _z(confidence)
    pa, la, ua = _wilson_arrays(both + only_a, n, z)
    pb, lb, ub = _wilson_arrays(both + only_b, n, z)
    phi = _newcombe_phi(both, only_a, only_b, neither)
    d = pb - pa
    lo = d - np.sqrt(np.maximum((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2, 0.0))
    hi = d + np.sqrt(np.maximum((pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2, 0.0))
    return _scalar_or_array(d), (_scalar_or_array(lo), _scalar_or_array(hi))
