"""The multiclass task (optionally ordinal): one of K classes per patient and K predicted probabilities.

The classes are ``data.classes`` in order (default: the order of the prediction columns). Every class is
matched by its text, ``str(label)``: a target value ``1``, ``1.0`` or ``"1"`` is class ``1``, and the
probability column of class ``1`` is named ``"1"`` (or given by a mapping class -> column). Inside the
audit a target is the class's position ``0 .. K-1`` (int8/int16) and a prediction an ``(n, K)`` matrix
in class order; the decision is the arg-max class, ties to the first (``stats.multiclass.decisions``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import AuditInputError
from ..stats import proportion
from ..stats.multiclass import MULTICLASS_METRICS, ORDINAL_METRICS, MulticlassMetrics
from .base import Prediction, Target, Task

#: Rows whose probabilities sum to 1 within this are accepted (rounding in CSV files, float32 softmax).
SUM_TOLERANCE = 1e-3
#: Model outputs this close outside [0, 1] are rounding, and are clipped.
TOLERANCE = 1e-9


def label_text(value: Any) -> str:
    """A class label as text: whole-number floats lose their ``.0`` (a CSV's ``1.0`` is class ``1``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def class_labels(data: Any) -> list:
    """The classes in order: ``data.classes``, else the prediction mapping's keys or list's columns."""
    if data.classes is not None:
        return list(data.classes)
    if isinstance(data.prediction, dict):
        return list(data.prediction)
    if isinstance(data.prediction, list):
        return list(data.prediction)
    raise AuditInputError("a multiclass audit with a model needs data.classes: the class labels in the order of the model's outputs.")


def prediction_columns(data: Any) -> list[str]:
    """The probability column of every class, in class order."""
    labels = class_labels(data)
    if isinstance(data.prediction, dict):
        by_text = {label_text(k): column for k, column in data.prediction.items()}
        return [by_text[label_text(label)] for label in labels]
    by_text = {label_text(column): column for column in data.prediction}
    return [by_text[label_text(label)] for label in labels]


def check_class_spec(spec: Any) -> None:
    """The spec's keys for a multiclass audit agree with each other (raises ``ValueError`` for pydantic)."""
    data, settings = spec.data, spec.settings
    if "threshold" in settings.model_fields_set:
        raise ValueError("settings.threshold does not apply to a multiclass audit: the decision is the most probable class; "
                         "remove it, or audit a dichotomy at a threshold with settings.binary_views: "
                         "{name: {classes: [...], threshold: 0.3}}")
    for key, given, why in (
        ("data.positive_label", data.positive_label is not None, "every class is an outcome; list them in data.classes"),
        ("data.readers", bool(data.readers), "reader agreement is computed for binary outcomes only"),
        ("settings.prevalence", settings.prevalence is not None, "it gives PPV and NPV of a binary outcome under case-control sampling"),
    ):
        if given:
            raise ValueError(f"{key} is not used by a multiclass audit ({why}); remove it")
    if isinstance(data.prediction, str):
        raise ValueError("a multiclass audit reads one probability column per class: give data.prediction as a list of columns "
                         "named like the classes, e.g. ['1', '2', '3'], or a mapping {class: column}")
    if data.prediction is None and data.classes is None:
        if spec.model is None:
            return  # the "neither model nor data.prediction" message comes from the spec's own check
        raise ValueError("a multiclass audit with a model needs data.classes: the class labels in the order of the model's "
                         "outputs (PyTorch, ONNX) or as its classes_ holds them (scikit-learn), e.g. data.classes: [0, 1, 2]")
    labels = [label_text(c) for c in class_labels(data)]
    if len(labels) < 2:
        raise ValueError("a multiclass audit needs at least two classes (data.classes or one data.prediction column per class)")
    if data.prediction is not None:
        given = [label_text(k) for k in data.prediction] if isinstance(data.prediction, dict) else [label_text(c) for c in data.prediction]
        missing = [c for c in labels if c not in given]
        extra = [c for c in given if c not in labels]
        if missing:
            raise ValueError(f"data.prediction has no probability column for class {missing[0]!r}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                             + "; name one column per class of data.classes, as the class's label (str(label)) or in a mapping {class: column}")
        if extra:
            raise ValueError(f"data.prediction names {extra[0]!r}, which is not a class of data.classes ({', '.join(labels[:8])}); "
                             "name each probability column as its class, or use a mapping {class: column}")
    for name, view in settings.binary_views.items():
        inside = [label_text(c) for c in view.classes]
        unknown = [c for c in inside if c not in labels]
        if unknown:
            raise ValueError(f"settings.binary_views.{name} names class {unknown[0]!r}, which is not one of data.classes ({', '.join(labels[:8])})")
        if not inside or len(inside) == len(labels):
            raise ValueError(f"settings.binary_views.{name} must hold some classes but not all of them; it is the positive side of a dichotomy")


class MulticlassTask(Task):
    """One of K classes (``data.target``, classes ``data.classes``) and K probabilities; ordinal with ``data.ordinal``."""

    name: ClassVar[str] = "multiclass"
    metrics: ClassVar[tuple[str, ...]] = MULTICLASS_METRICS + ORDINAL_METRICS

    def metric_names(self, data: Any) -> tuple[str, ...]:
        """The whole-sample metrics of this audit: the ordinal ones only for ordered grades."""
        return MULTICLASS_METRICS + (ORDINAL_METRICS if data.ordinal else ())

    def classes(self, data: Any) -> list:
        return class_labels(data)

    def read_target(self, frame: pd.DataFrame, data: Any, where: str) -> Target:
        from ..data import plural

        values = frame[data.target]
        column = data.target
        missing = int(values.isna().sum())
        if missing:
            raise AuditInputError(f"{where}: the target column {column!r} is empty in {plural(missing, 'row')} of {len(values)}; "
                                  "drop those rows or fill in their classes.")
        labels = class_labels(data)
        code = {label_text(label): k for k, label in enumerate(labels)}
        text = values.map(label_text)
        codes = text.map(code)
        unknown = text[codes.isna()]
        if len(unknown):
            counts = unknown.value_counts()
            shown = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(3).items())
            raise AuditInputError(
                f"{where}: the target column {column!r} holds {plural(len(counts), 'class')} with no probability column: {shown}; "
                f"the classes are {', '.join(label_text(c) for c in labels[:10])}. Add the class to data.classes and its "
                "probability column to data.prediction (or the model), or drop those rows."
            )
        y = codes.to_numpy(dtype=np.int16)
        present = np.unique(y)
        if present.size < 2:
            raise AuditInputError(
                f"{where}: the target column {column!r} holds only one class ({label_text(labels[int(present[0])]) if present.size else 'none'}); "
                "discrimination, calibration and per-class metrics need at least two classes present."
            )
        y.flags.writeable = False
        return Target(y)

    def read_prediction(self, frame: pd.DataFrame, data: Any) -> np.ndarray:
        return frame[prediction_columns(data)].to_numpy(dtype=np.float64)

    def check_prediction_column(self, frame: pd.DataFrame, data: Any, where: str) -> None:
        from ..data import check_probabilities, require_column

        columns = prediction_columns(data)
        for column in columns:
            require_column(frame, column, "data.prediction", where)
            check_probabilities(frame[column], column, where)
        check_sums(frame[columns].to_numpy(dtype=np.float64), where, "the prediction columns")

    def check_prediction(self, values: Any, n: int, name: str, where: str) -> Prediction:
        """K probabilities per row: shape (n, K), no NaN, inside [0, 1] (1e-9 of rounding clipped), each row summing to 1."""
        from ..data import plural

        try:
            P = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise AuditInputError(f"{where}: the model returned predictions that are not numbers.") from None
        if P.ndim != 2 or P.shape[0] != n:
            raise AuditInputError(f"the model returned an array of shape {P.shape} for {n} rows of dataset {name!r}; "
                                  "a multiclass model must return one probability per class and row (shape (n, K)).")
        missing = int(np.isnan(P).any(axis=1).sum())
        if missing:
            raise AuditInputError(f"{where}: the model returned NaN for {missing} of {n} rows; check those rows' inputs.")
        outside = (P < -TOLERANCE) | (P > 1 + TOLERANCE)
        if outside.any():
            raise AuditInputError(f"{where}: the model returned {plural(int(outside.sum()), 'value')} outside [0, 1] "
                                  f"(min {P.min():g}, max {P.max():g}); it must return probabilities.")
        P = np.clip(P, 0.0, 1.0)
        check_sums(P, where, "the model's probabilities")
        return Prediction(P)

    def outcome_strata(self, target: Target) -> np.ndarray:
        return np.asarray(target.values)

    def kernel(self, target: Target, prediction: Prediction, settings: Any, metrics: tuple[str, ...]) -> MulticlassMetrics:
        return MulticlassMetrics(target.values, prediction.values, metrics)

    def summary(self, target: Target, confidence: float, data: Any, settings: Any = None) -> dict:
        y = np.asarray(target.values)
        labels = class_labels(data)
        counts = np.bincount(y, minlength=len(labels))
        return {
            "n": int(y.size),
            "classes": [{"class": label_text(label), "n": int(c), "share": proportion(int(c), int(y.size), confidence).to_dict()}
                        for label, c in zip(labels, counts)],
        }


def check_sums(P: np.ndarray, where: str, what: str) -> None:
    """Every row's probabilities sum to 1 within ``SUM_TOLERANCE``; else one message with the count and the first row."""
    from ..data import plural

    sums = P.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        first = int(bad[0])
        raise AuditInputError(
            f"{where}: {what} do not sum to 1 in {plural(int(bad.size), 'row')} (within {SUM_TOLERANCE:g}); the first is row "
            f"{first + 1}, which sums to {sums[first]:.6g}. Give one probability per class for every class "
            "(softmax outputs, not logits or one-vs-rest scores)."
        )
