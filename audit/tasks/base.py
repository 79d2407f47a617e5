"""The task seam: what the audit must know about one kind of outcome (DESIGN.md, "The task seam").

A ``Task`` reads the target from a table, checks the model's predictions, says which strata the
outcome adds to the bootstrap under case-control sampling, names its metric table and builds the
statistic kernel the resampling engine runs, and summarises a dataset. Everything above it (the
engine, the checks, the report) is shared. ``binary`` is today's behaviour; the other tasks of
DESIGN.md's table (multiclass, multilabel, survival, segmentation) each add one short module.

A check declares the tasks it supports (``TASKS`` in its module); for any other task the runner
gives "not run: not defined for <task> outcomes".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Target:
    """The observed outcome of every row, as the task codes it (binary: 0/1, int8)."""

    values: np.ndarray


@dataclass(frozen=True)
class Prediction:
    """What the model predicts for every row, as the task checks it (binary: P(positive) in [0, 1])."""

    values: np.ndarray


class Task(ABC):
    """One kind of outcome."""

    #: The name written in the spec's ``task:``.
    name: ClassVar[str]
    #: Names of the metrics the kernel computes, in its column order (the metric table).
    metrics: ClassVar[tuple[str, ...]]

    @abstractmethod
    def read_target(self, frame: pd.DataFrame, data: Any, where: str) -> Target:
        """The target of every row of ``frame`` (``data`` is the spec's ``data`` block); ``AuditInputError`` otherwise."""

    @abstractmethod
    def read_prediction(self, frame: pd.DataFrame, data: Any) -> np.ndarray:
        """The predictions held in the table's ``data.prediction`` column(s), already checked by ``check_prediction_column``."""

    @abstractmethod
    def check_prediction_column(self, frame: pd.DataFrame, data: Any, where: str) -> None:
        """Refuse a prediction column (``data.prediction``) that cannot hold this task's predictions."""

    @abstractmethod
    def check_prediction(self, values: Any, n: int, name: str, where: str) -> Prediction:
        """Validate what a model returned for the ``n`` rows of dataset ``name``."""

    @abstractmethod
    def outcome_strata(self, target: Target) -> np.ndarray:
        """The stratum of every row when outcomes were sampled separately (case-control sampling)."""

    @abstractmethod
    def kernel(self, target: Target, prediction: Prediction, settings: Any, metrics: tuple[str, ...]) -> Any:
        """The statistic the resampling engine runs for ``metrics`` (a subset of ``self.metrics``)."""

    @abstractmethod
    def summary(self, target: Target, confidence: float, data: Any, settings: Any = None) -> dict:
        """The dataset's size and outcome make-up for results.json's ``datasets`` block (``settings`` for tasks whose
        outcome is read at settings' times, e.g. survival horizons)."""
