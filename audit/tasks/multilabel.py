"""The multilabel task: K findings per patient (chest X-ray style), each a 0/1 label with its own probability.

``data.target`` lists one 0/1 column per label and ``data.prediction`` (or the model) one probability per
label, in the same order; the labels are named by their target columns. Each label is its own binary
outcome: every binary check runs on each label alone (``audit.derived.label_sections``), at the
label's threshold (``settings.threshold``: one number, or a mapping label -> threshold). The task adds the
averages over labels (``audit.stats.multilabel``) and, with ``data.no_finding`` naming the label that
means "no abnormality", the underdiagnosis rate of Seyyed-Kalantari et al. (Nat Med 2021): the share of
patients with at least one finding whom the model calls "no finding", the false-positive rate of that label.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import AuditInputError
from ..stats import proportion
from ..stats.multilabel import MULTILABEL_METRICS, MultilabelMetrics
from .base import Prediction, Target, Task

TOLERANCE = 1e-9


def labels(data: Any) -> list[str]:
    """The labels, named by their target columns, in order."""
    return data.target_columns


def thresholds(data: Any, settings: Any) -> dict[str, float]:
    """Each label's decision threshold: the mapping's value, or the one number for every label."""
    if isinstance(settings.threshold, dict):
        return {label: float(settings.threshold[label]) for label in labels(data)}
    return {label: float(settings.threshold) for label in labels(data)}


def check_label_spec(spec: Any) -> None:
    """The spec's keys for a multilabel audit agree with each other (raises ``ValueError`` for pydantic)."""
    data, settings = spec.data, spec.settings
    targets = data.target_columns
    if len(targets) < 2:
        raise ValueError("a multilabel audit needs data.target as a list of two or more 0/1 columns, one per label")
    if len(set(targets)) != len(targets):
        raise ValueError("data.target names a column twice; list each label's column once")
    if data.prediction is not None and (not isinstance(data.prediction, list) or len(data.prediction) != len(targets)):
        raise ValueError(f"data.prediction must list one probability column per label of data.target ({len(targets)}), in the same order")
    if data.no_finding is not None and data.no_finding not in targets:
        raise ValueError(f"data.no_finding is {data.no_finding!r}, which is not one of the labels of data.target ({', '.join(targets[:8])})")
    if isinstance(settings.threshold, dict):
        missing = [t for t in targets if t not in settings.threshold]
        extra = [k for k in settings.threshold if k not in targets]
        if missing or extra:
            raise ValueError("settings.threshold as a mapping needs one threshold for each label of data.target"
                             + (f"; {missing[0]!r} has none" if missing else f"; {extra[0]!r} is not a label"))
    for key, given, why in (
        ("data.positive_label", data.positive_label is not None, "each label is coded 0/1"),
        ("data.readers", bool(data.readers), "reader agreement is computed for binary outcomes only"),
        ("settings.binary_views", bool(settings.binary_views), "each label is already audited as a binary outcome"),
    ):
        if given:
            raise ValueError(f"{key} is not used by a multilabel audit ({why}); remove it")
    if settings.sampling == "case-control":
        raise ValueError("settings.sampling: case-control is not defined for a multilabel audit (each patient carries several "
                         "outcomes); audit the label that was sampled on as a binary outcome instead")


class MultilabelTask(Task):
    """K 0/1 labels (``data.target``) and K probabilities; optionally a "no finding" label (``data.no_finding``)."""

    name: ClassVar[str] = "multilabel"
    metrics: ClassVar[tuple[str, ...]] = MULTILABEL_METRICS

    def read_target(self, frame: pd.DataFrame, data: Any, where: str) -> Target:
        from ..data import _is_zero_one, plural

        columns = labels(data)
        out = np.empty((len(frame), len(columns)), dtype=np.int8)
        for j, column in enumerate(columns):
            values = frame[column]
            missing = int(values.isna().sum())
            if missing:
                raise AuditInputError(f"{where}: the label column {column!r} is empty in {plural(missing, 'row')} of {len(values)}; "
                                      "drop those rows or fill in their labels (0 or 1).")
            bad = [v for v in pd.unique(values) if not _is_zero_one(v)]
            if bad:
                raise AuditInputError(f"{where}: the label column {column!r} holds {bad[0]!r}; each label of a multilabel audit "
                                      "is coded 0 (absent) or 1 (present).")
            out[:, j] = values.to_numpy().astype(bool)
        if data.no_finding is not None:
            j = columns.index(data.no_finding)
            others = np.delete(out, j, axis=1).any(axis=1)
            clash = np.flatnonzero((out[:, j] == 1) & others)
            if clash.size:
                shown = ", ".join(str(int(r) + 1) for r in clash[:5])
                raise AuditInputError(
                    f"{where}: {plural(int(clash.size), 'row')} say both '{data.no_finding}' (data.no_finding) and a finding "
                    f"(rows {shown}{' ...' if clash.size > 5 else ''}); a patient with a finding has no 'no finding' label. "
                    "Correct the labels of those rows."
                )
        out.flags.writeable = False
        return Target(out)

    def read_prediction(self, frame: pd.DataFrame, data: Any) -> np.ndarray:
        return frame[list(data.prediction)].to_numpy(dtype=np.float64)

    def check_prediction_column(self, frame: pd.DataFrame, data: Any, where: str) -> None:
        from ..data import check_probabilities

        for column in data.prediction:
            check_probabilities(frame[column], column, where)

    def check_prediction(self, values: Any, n: int, name: str, where: str) -> Prediction:
        from ..data import plural

        try:
            P = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise AuditInputError(f"{where}: the model returned predictions that are not numbers.") from None
        if P.ndim != 2 or P.shape[0] != n:
            raise AuditInputError(f"the model returned an array of shape {P.shape} for {n} rows of dataset {name!r}; a multilabel "
                                  "model must return one probability per label and row (shape (n, K)).")
        missing = int(np.isnan(P).any(axis=1).sum())
        if missing:
            raise AuditInputError(f"{where}: the model returned NaN for {missing} of {n} rows; check those rows' inputs.")
        outside = (P < -TOLERANCE) | (P > 1 + TOLERANCE)
        if outside.any():
            raise AuditInputError(f"{where}: the model returned {plural(int(outside.sum()), 'value')} outside [0, 1]; it must return "
                                  "one probability per label.")
        return Prediction(np.clip(P, 0.0, 1.0))

    def outcome_strata(self, target: Target) -> np.ndarray:
        raise AuditInputError("case-control sampling is not defined for a multilabel audit")  # refused by the spec first

    def kernel(self, target: Target, prediction: Prediction, settings: Any, metrics: tuple[str, ...]) -> MultilabelMetrics:
        return MultilabelMetrics(target.values, prediction.values, metrics)

    def summary(self, target: Target, confidence: float, data: Any, settings: Any = None) -> dict:
        Y = np.asarray(target.values)
        n = int(Y.shape[0])
        return {"n": n, "labels": [{"label": label, "n_events": int(Y[:, j].sum()),
                                    "prevalence": proportion(int(Y[:, j].sum()), n, confidence).to_dict()}
                                   for j, label in enumerate(labels(data))]}
