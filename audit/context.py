"""The audit context: everything loaded once, read by every check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset
from .models import ModelAdapter
from .spec import AuditSpec
from .stats import ResamplingEngine

Progress = Callable[[str], None]


class StepProgress:
    """Turns steps ("check: performance") and resampling counts into one line for a display."""

    def __init__(self, sink: Progress | None):
        self.sink = sink
        self.current = ""

    def step(self, text: str) -> None:
        self.current = text
        if self.sink is not None:
            self.sink(text)

    def resamples(self, done: int, total: int) -> None:
        if self.sink is not None:
            self.sink(f"{self.current} [{done:,}/{total:,} resamples]")


@dataclass(frozen=True)
class EvaluatedDataset:
    """One dataset with its labels, the model's predicted probabilities and sensitive attributes."""

    dataset: Dataset
    p: np.ndarray  # P(positive) per row, in [0, 1]

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def role(self) -> str:
        return self.dataset.role

    @property
    def y(self) -> np.ndarray:
        return self.dataset.y

    @property
    def n(self) -> int:
        return int(self.dataset.y.size)

    @property
    def n_events(self) -> int:
        return int(self.dataset.y.sum())


@dataclass(frozen=True)
class AuditContext:
    """What the checks read: the spec, the evaluated datasets (``test`` first), the engine, the model."""

    spec: AuditSpec
    base_dir: Path
    datasets: dict[str, EvaluatedDataset]
    engine: ResamplingEngine
    model: ModelAdapter | None = None
    progress: Progress | None = None
    calibration: EvaluatedDataset | None = None  # data.calibration, for conformal calibration only
    train_ids: object = None  # pandas Series of data.train's identifiers, for the leakage check

    @property
    def internal(self) -> EvaluatedDataset:
        return self.datasets["test"]

    @property
    def external(self) -> list[EvaluatedDataset]:
        return [d for d in self.datasets.values() if d.role == "external"]

    def report_progress(self, step: str) -> None:
        if self.progress is not None:
            self.progress(step)
