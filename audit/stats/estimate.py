"""The one shape every estimate with uncertainty takes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval, like a ``scipy.stats`` result.

    ``ci`` is ``None`` when no interval could be formed, and then ``reason`` says why (a metric
    undefined on the data, too few events, a degenerate bootstrap); ``value`` is ``nan`` when the
    metric itself is undefined. ``method`` names how the interval was obtained (``"delong-logit"``,
    ``"bootstrap-bca"``, ``"bootstrap-percentile"``, ``"wilson"``, ``"clopper-pearson"``, ...),
    ``n`` the number of observations it rests on. ``sides`` marks a one-sided bound:
    ``"lower"`` (``ci = (bound, None)`` in JSON, ``(bound, nan)`` here) or ``"upper"``.
    ``simultaneous`` names the family when the interval is simultaneous over several comparisons.
    """

    value: float
    ci: tuple[float, float] | None
    method: str
    n: int
    reason: str | None = None
    sides: Literal["two", "lower", "upper"] = "two"
    simultaneous: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        if self.ci is not None:
            object.__setattr__(self, "ci", (float(self.ci[0]), float(self.ci[1])))
        object.__setattr__(self, "n", int(self.n))

    @property
    def confidence_interval(self) -> tuple[float, float] | None:
        return self.ci

    def to_dict(self) -> dict:
        """The results.json shape: ``{"value", "ci", "method", "n"}`` with NaN as ``null``, plus
        ``reason``, ``sides`` and ``simultaneous`` where they apply."""
        out = {
            "value": _finite_or_none(self.value),
            "ci": None if self.ci is None else [_finite_or_none(c) for c in self.ci],
            "method": self.method,
            "n": int(self.n),
        }
        reason = self.reason
        if reason is None and (out["value"] is None or out["ci"] is None):
            reason = "not estimable on these data" if out["value"] is None else None
        if reason is not None:
            out["reason"] = reason
        if self.sides != "two":
            out["sides"] = self.sides
        if self.simultaneous is not None:
            out["simultaneous"] = self.simultaneous
        return out


def not_estimable(reason: str, method: str, n: int, value: float = math.nan) -> Estimate:
    """An estimate whose interval (and, by default, value) cannot be formed, with the reason."""
    return Estimate(value, None, method, n, reason=reason)


def cluster_labelled(est: Estimate, clustered: bool) -> Estimate:
    """``est`` with its method marked ``cluster-`` when its bootstrap resampled clusters (``data.cluster``) whole."""
    return Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason) if clustered else est


def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
