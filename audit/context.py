"""The audit context: everything loaded once, read by every check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Dataset
from .errors import AuditInputError
from .groups import group_labels
from .memory import return_free_memory
from .models import ModelAdapter
from .spec import AuditSpec
from .stats import ResamplingEngine
from .stats.resample import SamplingDesign, strata_codes
from .tasks import Prediction, Target, Task, get_task

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
    """One dataset with its target, the model's predictions and sensitive attributes.

    ``target`` and ``prediction`` are what the task seam passes on (``audit.tasks``); ``y`` and ``p``
    are their arrays as the binary checks read them.
    """

    dataset: Dataset
    p: np.ndarray  # the prediction per row (binary: P(positive), in [0, 1]; segmentation: the per-case metrics)
    #: segmentation: every case's metrics per structure (``audit.segmentation.CaseEvaluation``), else None
    cases: object = None
    #: What is derived from this dataset alone and read by several checks (its partitions); never compared.
    cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def target(self) -> Target:
        if self.cases is not None:  # segmentation: the structures the per-case metrics are ordered by
            return Target(np.asarray(self.cases.structures, dtype=object))
        return Target(self.dataset.y)

    @property
    def prediction(self) -> Prediction:
        return Prediction(self.p)

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
        return int(self.dataset.y.shape[0])

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
    #: Results computed once and read by several checks (``audit.estimates``); never compared.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def task(self) -> Task:
        """The kind of outcome the spec audits (``spec.task``)."""
        return get_task(self.spec.task)

    @property
    def internal(self) -> EvaluatedDataset:
        return self.datasets["test"]

    @property
    def external(self) -> list[EvaluatedDataset]:
        return [d for d in self.datasets.values() if d.role == "external"]

    def design(self, ds: EvaluatedDataset) -> SamplingDesign:
        """How ``ds`` was sampled, for every bootstrap of it (DESIGN.md, "Resample as the data were sampled").

        Patients (or the clusters of ``data.cluster``, resampled whole) are drawn within strata:
        the sites of ``data.site`` when set, and the outcome classes only under
        ``settings.sampling: case-control``. A cohort's prevalence varies between resamples.
        """
        data, sampling = self.spec.data, self.spec.settings.sampling
        frame = ds.dataset.frame
        keys = []
        if data.site is not None:
            keys.append(group_labels(frame[data.site]))
        if sampling == "case-control":
            keys.append(self.task.outcome_strata(ds.target))
        clusters = None
        if data.cluster is not None:
            clusters = frame[data.cluster].astype("string").to_numpy(dtype=object).astype(str)
        design = SamplingDesign(strata_codes(*keys) if keys else None, clusters, sampling)
        if clusters is not None and keys:
            nested = pd.DataFrame({"c": clusters, "s": design.strata}).groupby("c")["s"].nunique()
            if (nested > 1).any():
                what = "sites (data.site)" if sampling == "cohort" else "sites or outcome classes (case-control sampling)"
                raise AuditInputError(
                    f"dataset {ds.name!r}: data.cluster {nested.index[nested > 1][0]!r} has rows in several {what}; "
                    "a cluster is resampled whole, so it must lie within one stratum. Check the cluster identifiers."
                )
        return design

    def stream(self, ds: EvaluatedDataset) -> str:
        """The name of ``ds``'s resample stream: every check reads the same resampled patients."""
        return f"dataset/{ds.name}"

    def report_progress(self, step: str) -> None:
        """Start a step of a check: show it, and return the memory freed by the last step to the system."""
        return_free_memory()
        if self.progress is not None:
            self.progress(step)
