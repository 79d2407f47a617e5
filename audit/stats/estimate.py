"""The one shape every estimate with uncertainty takes."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval, like a ``scipy.stats`` result.

    ``ci`` is ``None`` when no interval could be formed (for example a metric that is
    undefined on the data); ``value`` is ``nan`` when the metric itself is undefined.
    ``method`` names how the interval was obtained (``"delong"``, ``"bootstrap-bca"``,
    ``"bootstrap-percentile"``, ``"wilson"``, ``"clopper-pearson"``, ...), ``n`` the number
    of observations it rests on.
    """

    value: float
    ci: tuple[float, float] | None
    method: str
    n: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        if self.ci is not None:
            object.__setattr__(self, "ci", (float(self.ci[0]), float(self.ci[1])))
        object.__setattr__(self, "n", int(self.n))

    @property
    def confidence_interval(self) -> tuple[float, float] | None:
        return self.ci

    def to_dict(self) -> dict:
        """The results.json shape: ``{"value", "ci", "method", "n"}`` with NaN as ``null``."""
        return {
            "value": _finite_or_none(self.value),
            "ci": None if self.ci is None else [_finite_or_none(c) for c in self.ci],
            "method": self.method,
            "n": int(self.n),
        }


def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
