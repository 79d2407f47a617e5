"""The binary task: a 0/1 outcome and P(positive). Today's behaviour, moved behind the seam; no number changes
(tests/test_golden_binary.py compares a whole audit with the stored one)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import AuditInputError
from ..stats import BinaryMetrics, proportion
from ..stats.metrics import METRICS
from .base import Prediction, Target, Task

#: Model outputs this close outside [0, 1] are rounding, and are clipped.
TOLERANCE = 1e-9


class BinaryTask(Task):
    """A 0/1 outcome (``data.target``, with ``data.positive_label`` for other codings) and P(positive)."""

    name: ClassVar[str] = "binary"
    metrics: ClassVar[tuple[str, ...]] = tuple(METRICS)

    def read_target(self, frame: pd.DataFrame, data: Any, where: str) -> Target:
        from ..data import binary_labels

        return Target(binary_labels(frame[data.target], data.target, data.positive_label, where))

    def read_prediction(self, frame: pd.DataFrame, data: Any) -> np.ndarray:
        return frame[data.prediction].to_numpy(dtype=float)

    def check_prediction_column(self, frame: pd.DataFrame, data: Any, where: str) -> None:
        from ..data import check_probabilities

        check_probabilities(frame[data.prediction], data.prediction, where)

    def check_prediction(self, values: Any, n: int, name: str, where: str) -> Prediction:
        """P(positive): 1-d, one per row, no NaN, inside [0, 1] (values within 1e-9 of the bounds are clipped)."""
        from ..data import plural

        try:
            scores = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise AuditInputError(f"{where}: the model returned predictions that are not numbers.") from None
        scores = scores.reshape(-1) if scores.ndim == 2 and 1 in scores.shape else scores
        if scores.ndim != 1 or scores.shape[0] != n:
            count = scores.shape[0] if scores.ndim == 1 else f"an array of shape {scores.shape} as"
            raise AuditInputError(
                f"the model returned {count} predictions for {n} rows of dataset {name!r}; "
                "it must return one probability per row."
            )
        missing = int(np.isnan(scores).sum())
        if missing:
            raise AuditInputError(f"{where}: the model returned NaN for {missing} of {n} rows; check those rows' inputs.")
        outside = (scores < -TOLERANCE) | (scores > 1 + TOLERANCE)
        if outside.any():
            raise AuditInputError(
                f"{where}: the model returned {plural(int(outside.sum()), 'value')} outside [0, 1] "
                f"(min {scores.min():g}, max {scores.max():g}); its predict_proba must return probabilities."
            )
        return Prediction(np.clip(scores, 0.0, 1.0))

    def outcome_strata(self, target: Target) -> np.ndarray:
        return target.values

    def kernel(self, target: Target, prediction: Prediction, settings: Any, metrics: tuple[str, ...]) -> BinaryMetrics:
        return BinaryMetrics(target.values, prediction.values, settings.threshold, metrics)

    def summary(self, target: Target, confidence: float, data: Any = None, settings: Any = None) -> dict:
        n, events = int(target.values.size), int(target.values.sum())
        return {"n": n, "n_events": events, "prevalence": proportion(events, n, confidence).to_dict()}
