"""Confidence intervals for a binomial proportion.

- Wilson score interval (Wilson, JASA 1927): good coverage at every n, never outside [0, 1].
- Clopper–Pearson exact interval (Biometrika 1934): quantiles of beta distributions;
  conservative, for very small groups.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import beta

from .estimate import Estimate


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


def proportion(successes: int, n: int, confidence: float = 0.95, method: str = "wilson") -> Estimate:
    """A proportion with its Wilson (default) or Clopper–Pearson interval."""
    interval = {"wilson": wilson_interval, "clopper-pearson": clopper_pearson_interval}[method]
    return Estimate(successes / n, interval(successes, n, confidence), method, int(n))
