"""Is the validation sample large enough? Achieved precision against Riley et al.'s targets.

Riley, Debray, Collins et al., "Minimum sample size for external validation of a clinical
prediction model with a binary outcome", Stat Med 2021; 40:4230-4251, recommend a sample giving
95% confidence intervals no wider than 0.1 for the C-statistic and 0.2 for O:E, the calibration
slope and the standardised net benefit. For each, this module gives

- the **achieved width** on the data, and the number of patients that would reach the target by
  scaling the observed standard error as ``1/sqrt(n)``: ``n_needed = n (width / target)^2`` (an
  approximation that holds when the case mix stays the same);
- Riley's **closed forms** for the sample size at assumed values (used as checks and by readers
  planning a study):

  * O:E: ``SE(ln O/E) = sqrt((1 - phi) / (n phi))``, and the interval
    ``exp(ln(O/E) +- z SE)`` has width ``2 (O/E) sinh(z SE)``, so
    ``n = (1 - phi) / (phi SE^2)`` with ``SE = asinh(width / (2 O/E)) / z``;
  * C-statistic: Newcombe's (2006) variance
    ``C (1 - C) [1 + (n/2 - 1)(1 - C)/(2 - C) + (n/2 - 1) C / (1 + C)] / (n^2 phi (1 - phi))``,
    solved for the n that gives ``2 z SE = width``;
  * standardised net benefit ``sNB = NB / phi`` at threshold ``t`` with
    ``w = (1 - phi) t / (phi (1 - t))``:
    ``SE^2 = [sens (1 - sens) / phi + w^2 spec (1 - spec) / (1 - phi) + w^2 (1 - spec)^2 / (phi (1 - phi))] / n``
    (Riley et al. 2021, eq. 8 in the notation of Marsh et al.), so ``n = [...] / SE^2``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri

#: Riley et al. (2021)'s default targets for the width of 95% intervals.
TARGET_WIDTHS = {"auroc": 0.1, "oe_ratio": 0.2, "calibration_slope": 0.2, "standardised_net_benefit": 0.2}


def _z(confidence: float) -> float:
    return float(ndtri(0.5 + confidence / 2))


def n_by_scaling(width: float, target: float, n: int) -> int | None:
    """Patients needed for an interval of ``target`` width when the observed one, on ``n``, is ``width``."""
    if not (np.isfinite(width) and width > 0 and target > 0):
        return None
    return int(math.ceil(n * (width / target) ** 2))


def oe_sample_size(prevalence: float, width: float = 0.2, oe: float = 1.0, confidence: float = 0.95) -> int:
    """Riley et al. (2021) criterion 1: patients for an O:E interval of ``width`` (closed form)."""
    se = math.asinh(width / (2.0 * oe)) / _z(confidence)
    return int(math.ceil((1.0 - prevalence) / (prevalence * se**2)))


def c_statistic_se(c: float, prevalence: float, n: float) -> float:
    """Newcombe's (2006) standard error of the C-statistic used by Riley et al. (2021), criterion 3."""
    half = n / 2.0 - 1.0
    var = c * (1 - c) * (1 + half * (1 - c) / (2 - c) + half * c / (1 + c)) / (n**2 * prevalence * (1 - prevalence))
    return math.sqrt(var)


def c_statistic_sample_size(c: float, prevalence: float, width: float = 0.1, confidence: float = 0.95) -> int:
    """Patients for a C-statistic interval of ``width``: the root of ``2 z SE(n) = width``."""
    z = _z(confidence)
    n = brentq(lambda m: 2 * z * c_statistic_se(c, prevalence, m) - width, 10.0, 1e9)
    return int(math.ceil(n))


def snb_variance_per_patient(sensitivity: float, specificity: float, prevalence: float, threshold: float) -> float:
    """``n Var(sNB)`` (module docstring), Riley et al. (2021) criterion 4."""
    phi, t = prevalence, threshold
    w = (1 - phi) / phi * t / (1 - t)
    return (sensitivity * (1 - sensitivity) / phi + w**2 * specificity * (1 - specificity) / (1 - phi)
            + w**2 * (1 - specificity) ** 2 / (phi * (1 - phi)))


def snb_sample_size(sensitivity: float, specificity: float, prevalence: float, threshold: float,
                    width: float = 0.2, confidence: float = 0.95) -> int:
    """Patients for a standardised-net-benefit interval of ``width`` (closed form)."""
    se = width / (2 * _z(confidence))
    return int(math.ceil(snb_variance_per_patient(sensitivity, specificity, prevalence, threshold) / se**2))


def achieved(name: str, width: float | None, n: int, target: float | None = None) -> dict:
    """One row of the precision table: achieved width, target, whether it is met, patients needed (by scaling)."""
    target = TARGET_WIDTHS[name] if target is None else target
    if width is None or not np.isfinite(width):
        return {"metric": name, "width": None, "target": target, "met": None, "n": n, "n_needed": None,
                "reason": "no interval on these data"}
    return {"metric": name, "width": float(width), "target": target, "met": bool(width <= target), "n": n,
            "n_needed": n_by_scaling(width, target, n)}
