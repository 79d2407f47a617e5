"""Plain numbers from stored values: one helper every reader of results.json (report, views, figures) shares."""

from __future__ import annotations

import math


def finite_or_none(x: object) -> float | None:
    """``x`` as a float when it is a finite number, else ``None`` (``None``, booleans, text, NaN and infinity)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        value = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
