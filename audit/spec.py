"""The audit spec: parse and validate ``audit.yaml`` with messages a person understands.

``load_spec`` accepts a path to a YAML file, a dict or an ``AuditSpec`` and returns the validated
spec together with the directory that relative paths in it are resolved against. Every problem
becomes an :class:`~audit.errors.AuditInputError` with a plain sentence that names the key, what
was given and what is expected; pydantic and YAML tracebacks never reach the user.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
import typing
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from audit.errors import AuditInputError

CheckName = Literal["profile", "performance", "fairness", "calibration", "utility", "uncertainty", "robustness", "external"]
KNOWN_CHECKS: tuple[str, ...] = typing.get_args(CheckName)

#: Validation context key: a model object is passed from Python, so the spec needs no model source.
MODEL_OBJECT = "model_object"
#: Most resamples a spec may ask for: past this, intervals do not move but memory and time do.
MAX_RESAMPLES = 100_000
#: A Dask scheduler address: tcp, tls or ucx, a host name or address, and a port.
SCHEDULER_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}")
#: Deepest nesting a spec may have (the deepest real spec is 4 levels), and most values once YAML aliases are expanded.
MAX_DEPTH = 20
MAX_NODES = 100_000
#: Problems listed in one message; the rest are counted.
MAX_PROBLEMS = 3
#: Most classes a multiclass audit may have.
MAX_CLASSES = 1000


def scheduler_address(value: str | None) -> str | None:
    """``settings.scheduler`` (audit and benchmark specs): a Dask scheduler address, stripped, or None."""
    if value is not None and not SCHEDULER_ADDRESS.fullmatch(value.strip()):
        raise ValueError(f"settings.scheduler is {_show(value)}, which is not a Dask scheduler address; give "
                         "tcp://host:port (e.g. tcp://10.0.0.5:8786), or leave it out to run on this machine")
    return value.strip() if value is not None else value


def jobs_not_zero(value: int) -> int:
    """``settings.n_jobs`` (audit and benchmark specs): a number of processes, -1 for every core; never 0."""
    if value == 0:
        raise ValueError("settings.n_jobs is a number of processes (1 = serial, -1 = every core), not 0")
    return value


def _targets_of_task(targets: dict, task: str, ordinal: bool = False) -> None:
    """``settings.targets`` names only metrics this task's audit computes (a target never silently goes unjudged)."""
    from .labels import METRICS_BY_NAME
    from .stats.multiclass import MULTICLASS_METRICS, ORDINAL_METRICS

    if task == "multiclass":
        known = MULTICLASS_METRICS + (ORDINAL_METRICS if ordinal else ())
    else:
        known = tuple(m for m, row in METRICS_BY_NAME.items() if "binary" in row.tasks)
    for metric in targets:
        if metric not in known:
            extra = " (the ordinal metrics need data.ordinal: true)" if metric in ORDINAL_METRICS and task == "multiclass" else ""
            raise ValueError(f"settings.targets names {metric!r}, which a {task} audit does not compute{extra}; "
                             f"use one of {', '.join(sorted(known))}")


def _no_duplicates(values: list[str] | None, key: str) -> list[str] | None:
    """Raise ``ValueError`` naming the first entry of ``values`` that appears more than once."""
    if values is None:
        return values
    repeated = [value for value, count in Counter(values).items() if count > 1]
    if repeated:
        raise ValueError(f"{key} lists {repeated[0]!r} more than once; remove the duplicate")
    return values


class _StrictModel(BaseModel):
    """Base for every spec section: unknown keys are errors, and so is a number that is not finite
    (NaN or infinity could never be written to results.json)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NormalizeSpec(_StrictModel):
    """Per-channel (or per-feature) normalisation a PyTorch/ONNX model applies to inputs in [0, 1]:
    the model sees ``(x - mean) / std``, so attacks and corruptions work in the [0, 1] space."""

    mean: list[float] = Field(min_length=1)
    std: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _matching(self) -> NormalizeSpec:
        if len(self.mean) != len(self.std):
            raise ValueError(
                f"model.normalize has {len(self.mean)} mean values but {len(self.std)} std values; "
                "give one of each per channel (or per feature)"
            )
        if any(not value > 0 for value in self.std):
            raise ValueError("model.normalize.std must hold positive numbers (a standard deviation of 0 divides by zero)")
        return self


class ModelSpec(_StrictModel):
    """Where the model comes from. ``trust`` allows pickles and skops types outside skops' trusted set.

    PyTorch and ONNX models take more keys: ``kind`` (default: from the file extension),
    ``architecture`` (``module:function`` or ``file.py:function`` that builds the ``nn.Module``
    whose state dict a ``.pt`` file holds), ``normalize`` (mean/std applied inside the model
    wrapper), ``output`` (what the model returns), ``output_index`` (the positive class among
    several outputs), ``batch_size`` and ``device``. ``path`` may be left out when the model
    object is passed from Python.
    """

    path: str | None = None
    trust: bool = False
    kind: Literal["sklearn", "torchscript", "torch_state_dict", "onnx"] | None = None
    architecture: str | None = None
    normalize: NormalizeSpec | None = None
    output: Literal["auto", "logits", "probabilities"] = "auto"
    output_index: int | None = Field(None, ge=0)
    batch_size: int = Field(256, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: segmentation: the intensity window mapping raw image values to [0, 1] (clipped), where corruptions and attacks
    #: act: [low, high] (a CT window in HU), or "percentile" (each image's 0.5th to 99.5th percentile, for MR);
    #: ``normalize`` then applies inside the model wrapper, to the [0, 1] values
    window: tuple[float, float] | Literal["percentile"] | None = None

    @field_validator("window")
    @classmethod
    def _window_order(cls, value: Any) -> Any:
        if isinstance(value, tuple) and not value[0] < value[1]:
            raise ValueError(f"model.window {list(value)} must be [low, high] with low < high, e.g. [-100, 300] for a CT soft-tissue window")
        return value

    @model_validator(mode="after")
    def _architecture_needs_state_dict(self) -> ModelSpec:
        if self.architecture is not None and self.kind not in (None, "torch_state_dict"):
            raise ValueError(
                f"model.architecture is only used with a PyTorch state dict (kind: torch_state_dict), not kind: {self.kind}; "
                "remove one of them"
            )
        if self.kind == "torch_state_dict" and self.architecture is None:
            raise ValueError(
                "model.kind is torch_state_dict, but a state dict holds only weights; name the function that builds "
                "the network in model.architecture, e.g. 'mynet.py:build'"
            )
        return self


Attack = Literal["fgsm", "pgd", "pgdl2", "autoattack", "cw", "deepfool"]
Perturbation = Literal[
    "noise", "missing", "categorical_flip",
    "gaussian_noise", "blur", "contrast", "gamma", "bias_field", "downsample", "jpeg",
]
TABULAR_PERTURBATIONS: tuple[str, ...] = ("noise", "missing", "categorical_flip")
IMAGE_CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "blur", "contrast", "gamma", "bias_field", "downsample", "jpeg")


class RobustnessSpec(_StrictModel):
    """Settings of the robustness check.

    ``epsilons`` are L-infinity budgets in the [0, 1] input space (FGSM, PGD, AutoAttack), ``l2_epsilons``
    L2 budgets (PGD-L2). ``severities`` lie in [0, 1]; 0 leaves the input unchanged. ``datasets``
    names the datasets to stress (default: the internal test set); ``max_samples`` attacks a
    seeded, outcome-stratified subsample of at most that many patients per dataset.
    """

    attacks: list[Attack] = Field(default_factory=lambda: ["fgsm", "pgd"])
    epsilons: list[float] = Field(default_factory=lambda: [0.0, 0.01, 0.03, 0.1])
    l2_epsilons: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0])
    steps: int = Field(10, ge=1, le=10000)  # iterations of PGD, PGD-L2, CW and DeepFool (CW and AutoAttack: at least 100)
    step_size: float | None = Field(None, gt=0)  # PGD step as a share of epsilon; default 2.5 / steps
    cw_c: float = Field(1.0, gt=0)
    cw_lr: float = Field(0.01, gt=0)
    square_queries: int = Field(5000, ge=1, le=100000)  # AutoAttack's gradient-free Square attack
    perturbations: list[Perturbation] | None = None  # default: noise, missing, categorical_flip or the image suite
    severities: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.3, 0.5])
    missing_as: Literal["nan", "mean", "zero"] = "nan"  # what a dropped-out value becomes
    datasets: list[str] | None = None
    max_samples: int | None = Field(None, ge=10)
    batch_size: int | None = Field(None, ge=1)  # default: model.batch_size
    examples: int = Field(6, ge=0, le=24)  # images in the clean vs adversarial grid

    @field_validator("epsilons", "l2_epsilons")
    @classmethod
    def _budgets(cls, value: list[float], info: ValidationInfo) -> list[float]:
        if not value:
            raise ValueError(f"robustness.{info.field_name} is empty; give at least one budget, e.g. [0, 0.01, 0.03]")
        if any(v < 0 for v in value):
            raise ValueError(f"robustness.{info.field_name} holds a negative budget; budgets are distances, 0 or more")
        if info.field_name == "epsilons" and any(v > 1 for v in value):
            raise ValueError("robustness.epsilons are in the [0, 1] input space, so none can exceed 1")
        return sorted(dict.fromkeys(float(v) for v in value))

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("robustness.severities is empty; give at least one, e.g. [0, 0.1, 0.3, 0.5]")
        if any(v < 0 or v > 1 for v in value):
            raise ValueError("robustness.severities must lie between 0 (no change) and 1 (the strongest corruption)")
        return sorted(dict.fromkeys(float(v) for v in value))

    @field_validator("attacks", "perturbations", "datasets")
    @classmethod
    def _unique(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return _no_duplicates(value, f"robustness.{info.field_name}")


class DataSpec(_StrictModel):
    """The tables and which columns play which role."""

    test: str
    external: dict[str, str] = Field(default_factory=dict)
    calibration: str | None = None  # conformal calibration set (same columns as test); default: a split of test
    train: str | None = None  # the model's training table: only its data.id column is read, for the leakage check
    #: the outcome column; multilabel: one 0/1 column per label; survival: none (data.time and data.event)
    target: str | list[str] | None = None
    #: survival: the follow-up time (> 0) and the event indicator (1 event, 0 censored)
    time: str | None = None
    event: str | None = None
    #: survival: a risk score (e.g. a linear predictor; higher = event sooner), for discrimination when no risks are given
    risk_score: str | None = None
    #: binary: the column of P(positive); multiclass: one probability column per class, as a list of columns named
    #: like the classes (``str(label)``) or a mapping class -> column; survival: the risk of the event by the horizon,
    #: one column for one horizon or a mapping horizon -> column
    prediction: str | list[str] | dict[str | int | float | bool, str] | None = None
    positive_label: str | int | bool | None = None
    #: multiclass: the class labels in order (the order of a torch or ONNX model's outputs; the grades in order when
    #: ``ordinal``); default: the order of the prediction columns
    classes: list[str | int | bool] | None = None
    ordinal: bool = False  # multiclass: the classes are ordered grades, in ``classes`` order
    #: multilabel: the target column (one of the labels) that means "no abnormality", for the underdiagnosis rate
    no_finding: str | None = None
    sensitive: list[str] = Field(default_factory=list)
    features: list[str] | None = None
    id: str | None = None
    # "global": an identifier names the same patient in every file (shared ones are leakage); "dataset": identifiers
    # are only unique within a file (two studies numbering their patients 1, 2, ...), so no cross-file check is made
    id_scope: Literal["global", "dataset"] = "global"
    site: str | None = None
    #: rows that belong together (several images or visits of one patient): resampled together.
    #: Never inferred from ``id``.
    cluster: str | None = None
    readers: list[str] = Field(default_factory=list)  # columns of several readers' labels, coded like the target
    #: segmentation: the columns holding each case's reference label map and input image (file paths, relative to the
    #: table's folder); ``data.prediction`` holds the prediction's path
    mask: str | None = None
    image: str | None = None
    #: segmentation: an integer label map per case, or probabilities with one channel per label value (channels first)
    prediction_type: Literal["labels", "probabilities"] = "labels"
    #: segmentation: the axis order of an array prediction for a NIfTI mask, e.g. "zyx" or nnU-Net's "czyx"
    prediction_axes: str | None = None
    npz_key: str | None = None  # segmentation: the array of an .npz prediction (default: its only array)
    spacing: list[float] | None = None  # segmentation: voxel size in mm per axis, for files without a header
    #: segmentation: structure name -> label value, or a list of values making one region (default: each non-zero value)
    labels: dict[str, int | list[int]] | None = None

    @field_validator("readers")
    @classmethod
    def _readers(cls, value: list[str]) -> list[str]:
        if len(value) == 1:
            raise ValueError(f"data.readers names one column ({value[0]!r}); agreement needs two or more readers' columns")
        if len(set(value)) != len(value):
            raise ValueError("data.readers names a column twice; list each reader's column once")
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _class_labels(cls, value: Any) -> Any:
        """Whole-number floats (``1.0``) become ints; labels are unique as text, since columns are named ``str(label)``."""
        if value is None:
            return value
        if not isinstance(value, list):
            raise ValueError(f"data.classes is {_show(value)}, but it should be a list of class labels such as [1, 2, 3, 4]")
        labels = [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
        if len(labels) < 2:
            raise ValueError("data.classes lists fewer than two classes; a multiclass audit needs at least two")
        if len(labels) > MAX_CLASSES:
            raise ValueError(f"data.classes lists {len(labels)} classes, more than {MAX_CLASSES}; that many classes is not a classification audit")
        _no_duplicates([str(v) for v in labels], "data.classes")
        return labels

    @field_validator("prediction", mode="before")
    @classmethod
    def _prediction_columns(cls, value: Any) -> Any:
        """A mapping's whole-number float keys become ints; a list names each column once."""
        if isinstance(value, dict):
            return {int(k) if isinstance(k, float) and k.is_integer() else k: v for k, v in value.items()}
        if isinstance(value, list):
            _no_duplicates([str(v) for v in value], "data.prediction")
        return value

    @property
    def target_columns(self) -> list[str]:
        """Every column ``data.target`` names (several for a multilabel audit; ``data.time`` and ``data.event`` for a
        survival audit)."""
        if self.target is None:
            return [c for c in (self.time, self.event) if c is not None]
        return list(self.target) if isinstance(self.target, list) else [self.target]

    @property
    def prediction_columns(self) -> list[str]:
        """Every column ``data.prediction`` names (one for a binary audit, one per class for a multiclass one)."""
        if self.prediction is None:
            return []
        if isinstance(self.prediction, str):
            return [self.prediction]
        return list(self.prediction.values()) if isinstance(self.prediction, dict) else list(self.prediction)

    @property
    def model_output_columns(self) -> list[str]:
        """The columns holding what a model would give: the predictions and (survival) the risk score."""
        return self.prediction_columns + ([self.risk_score] if self.risk_score is not None else [])

    @field_validator("positive_label", mode="before")
    @classmethod
    def _scalar_label(cls, value: Any) -> Any:
        """Accept one scalar label; floats that are whole numbers (``1.0``) become ints."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if value is not None and not isinstance(value, (str, int, bool)):
            raise ValueError(
                f"data.positive_label is {_show(value)}, but it should be a single label such as 1, true or 'yes'"
            )
        return value

    @field_validator("external")
    @classmethod
    def _site_names(cls, value: dict[str, str]) -> dict[str, str]:
        """External site names must not clash with the internal test set's name."""
        for name in value:
            if name.strip().lower() == "test":
                raise ValueError(
                    "data.external uses the site name 'test', which is reserved for the internal test set "
                    "(data.test); give the external site another name"
                )
            if not name.strip():
                raise ValueError("data.external has a site with an empty name; give every external site a name")
        return value

    @field_validator("sensitive", "features")
    @classmethod
    def _unique_columns(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return _no_duplicates(value, f"data.{info.field_name}")

    @model_validator(mode="after")
    def _roles_do_not_clash(self) -> DataSpec:
        """The target cannot also be a model input or the prediction column."""
        for target in self.target_columns:
            if target in self.prediction_columns:
                raise ValueError(
                    f"data.prediction and data.target are both {target!r}; "
                    "the prediction columns must hold predicted probabilities, not the labels"
                )
            if self.features is not None and target in self.features:
                raise ValueError(
                    f"data.features includes the target column {target!r}; remove it from the model inputs"
                )
        if self.train is not None and self.id is None:
            raise ValueError("data.train is only used to look for patients shared with the training data; name the identifier column in data.id")
        if self.train is not None and self.id_scope == "dataset":
            raise ValueError("data.train is compared with the test data by identifier, but data.id_scope: dataset says identifiers "
                             "are only unique within a file; remove data.train, or use identifiers shared across files (id_scope: global)")
        return self


class BinaryView(_StrictModel):
    """A clinically used dichotomy of a multiclass outcome (e.g. referable retinopathy = grades 2-4): P(view) is the sum
    of its classes' probabilities, audited with the whole binary machinery at ``threshold``."""

    classes: list[str | int | bool]
    threshold: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _list_shorthand(cls, value: Any) -> Any:
        """``referable: [2, 3, 4]`` is short for ``referable: {classes: [2, 3, 4]}``."""
        return {"classes": value} if isinstance(value, list) else value

    @field_validator("classes", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
            _no_duplicates([str(v) for v in value], "a binary view's classes")
        return value


class Settings(_StrictModel):
    """Numerical settings shared by every check."""

    @field_validator("dca_range")
    @classmethod
    def _ordered_range(cls, value):
        if value is not None and not (0 < value[0] < value[1] < 1):
            raise ValueError("settings.dca_range is [low, high] with 0 < low < high < 1")
        return value

    @field_validator("fairness_margins")
    @classmethod
    def _positive_margins(cls, value: dict) -> dict:
        for metric, margin in value.items():
            if not (np.isfinite(margin) and margin > 0):
                raise ValueError(f"settings.fairness_margins.{metric} must be a positive number (an absolute difference)")
        return value

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, value: dict) -> dict:
        from .labels import METRIC_DIRECTION

        ranged = {"calibration_slope", "calibration_intercept", "oe_ratio"}
        judged = {m for m in METRIC_DIRECTION if m not in ("coverage", "ece", "ece_equal_mass", "mean_set_size")}  # by a check
        for metric, target in value.items():
            if metric not in judged and metric not in ranged:
                known = ", ".join(sorted(judged | ranged))
                raise ValueError(f"settings.targets names {metric!r}, which has no direction to judge; use one of {known}")
            if isinstance(target, tuple):
                if not target[0] < target[1]:
                    raise ValueError(f"settings.targets.{metric} is a range [low, high] with low < high")
            elif metric in ranged:
                raise ValueError(f"settings.targets.{metric} needs a range [low, high], e.g. [0.8, 1.2]")
            if not all(np.isfinite(x) for x in (target if isinstance(target, tuple) else (target,))):
                raise ValueError(f"settings.targets.{metric} must be finite")
        return value

    seed: int = Field(0, ge=0, lt=2**32)  # numpy's SeedSequence and MAPIE take 32-bit seeds
    n_resamples: int = Field(2000, ge=50, le=MAX_RESAMPLES)
    confidence: float = Field(0.95, ge=0.5, le=0.999)  # past 0.999 score intervals' root finders lose precision
    #: binary: the decision threshold on P(positive); multilabel: one number or a mapping label -> threshold
    threshold: float | dict[str, float] = 0.5
    ci_method: Literal["bca", "percentile"] = "bca"
    # how the validation data were sampled: a cohort (random sample of the target population,
    # prevalence varies between samples) or cases and controls sampled separately
    sampling: Literal["cohort", "case-control"] = "cohort"
    # the target population's prevalence, for PPV and NPV under case-control sampling (Bayes' theorem)
    prevalence: float | None = Field(None, gt=0, lt=1)
    # interval for proportions: Wilson with Clopper–Pearson within 3 of 0 or n ("auto"), or always Clopper–Pearson
    proportion_ci: Literal["auto", "clopper-pearson"] = "auto"
    # pre-specified targets per metric: a number (a minimum, or a maximum for lower-is-better metrics such as
    # brier) or a range [low, high] (e.g. calibration_slope: [0.8, 1.2]); judged by one-sided bounds
    targets: dict[str, float | tuple[float, float]] = Field(default_factory=dict)
    targets_by_group: bool = False  # also judge the targets in every adequately sized subgroup (fairness check)
    min_group_size: int = Field(30, ge=1)
    # at most this many groups per sensitive attribute or site, and intersections (more is an error / not analysed)
    max_groups: int = Field(50, ge=2, le=10_000)
    # subgroup fairness
    min_group_events: int = Field(5, ge=0)
    intersectional: bool = True
    reference_groups: dict[str, str] = Field(default_factory=dict)
    gap_warning: float = Field(0.05, ge=0, le=1)  # robustness: attack-success gaps between groups at least this large warn
    # site meta-analysis: also pool the internal test set as one cluster (default: external clusters only)
    pool_internal: bool = False
    # fairness: equivalence margins per metric (defaults in audit.labels.EQUIVALENCE_MARGINS)
    fairness_margins: dict[str, float] = Field(default_factory=dict)
    # calibration
    calibration_bins: int = Field(10, ge=2, le=100)
    calibration_ci: Literal["wald", "profile"] = "wald"  # interval for intercept and slope
    # decision curve analysis: threshold probabilities (default 0.01, 0.02, ..., 0.99)
    dca_thresholds: list[float] | None = None
    dca_subgroups: bool = False  # also draw decision curves per group of each sensitive attribute
    # a pre-specified range of threshold probabilities: the utility verdict is judged throughout it with
    # simultaneous bands (default: at settings.threshold only)
    dca_range: tuple[float, float] | None = None
    # conformal uncertainty: target coverage(s), share of test used to calibrate, per-group quantiles
    coverage: float | list[float] = 0.90
    # share of the test set that calibrates the conformal sets when no data.calibration is given
    conformal_calibration_share: float = Field(0.5, ge=0.1, le=0.9)
    mondrian: bool = True
    #: multiclass: clinically used dichotomies, each audited as a binary outcome, e.g. {referable: [2, 3, 4]}
    binary_views: dict[str, BinaryView] = Field(default_factory=dict)
    #: survival: the horizon(s) at which risks are predicted and judged (in the unit of data.time), and that unit's name
    horizon: float | list[float] | None = None
    # segmentation: the Hausdorff percentile, the NSD tolerance (mm; task-specific, so no default), the distance given
    # to a missed or false-positive structure (mm), and whether cases with both masks empty are excluded or scored best
    hd_percentile: float = Field(95.0, gt=0, le=100)
    nsd_tolerance: float | None = Field(None, gt=0)
    distance_cap: float = Field(100.0, gt=0)
    both_empty: Literal["exclude", "best"] = "exclude"
    time_unit: str | None = None
    #: Where resampling runs; never changes a number, so left out of results.json.
    n_jobs: int = Field(1, ge=-64, le=1024)
    scheduler: str | None = None
    #: Largest input file, decompressed (NPZ members, gzip tables, Parquet), in megabytes: checked before loading.
    max_input_mb: int = Field(2048, ge=1, le=1_000_000)

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold_values(cls, value: Any) -> Any:
        """A probability in [0, 1], or (multilabel) a mapping of labels to such probabilities."""
        def check(v: Any, where: str) -> Any:
            # a Python int is finite at any size (np.isfinite refused 2**64 with a TypeError)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not np.isfinite(v)):
                raise ValueError(f"{where!r} in the spec is {_show(v)}, but it should be a probability between 0 and 1, e.g. 0.5")
            if not 0 <= v <= 1:
                bound = "greater than or equal to 0" if v < 0 else "less than or equal to 1"
                raise ValueError(f"{where!r} in the spec is {_show(v)}, but it should be {bound}")
            return float(v)

        if isinstance(value, dict):
            if not value:
                raise ValueError("settings.threshold is an empty mapping; give one number, or a threshold for each label")
            return {str(k): check(v, f"settings.threshold.{k}") for k, v in value.items()}
        return check(value, "settings.threshold")

    @field_validator("coverage")
    @classmethod
    def _coverage_levels(cls, value: float | list[float]) -> float | list[float]:
        levels = value if isinstance(value, list) else [value]
        if not levels:
            raise ValueError("settings.coverage is an empty list; give a target coverage such as 0.9, or a list such as [0.8, 0.9]")
        if any(not 0 < level < 1 for level in levels):
            raise ValueError("settings.coverage is the share of patients whose prediction set holds the true label: "
                             "each target must lie strictly between 0 and 1, e.g. 0.9")
        _no_duplicates([str(level) for level in levels], "settings.coverage")
        return value

    @field_validator("dca_thresholds")
    @classmethod
    def _threshold_probabilities(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (not value or any(not 0 < t < 1 for t in value)):
            raise ValueError("settings.dca_thresholds are threshold probabilities: a non-empty list of numbers strictly "
                             "between 0 and 1, e.g. [0.05, 0.1, 0.2]")
        return value

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        return scheduler_address(value)

    @field_validator("n_jobs")
    @classmethod
    def _jobs_not_zero(cls, value: int) -> int:
        return jobs_not_zero(value)


#: Settings that choose where the work runs, not what is computed (excluded from results.json).
EXECUTION_SETTINGS = frozenset({"n_jobs", "scheduler", "max_input_mb"})


class Attestation(_StrictModel):
    """The user's statement for one checklist item: ``text`` (and where it is documented), or ``na: reason``.

    A plain string is short for ``{text: ...}``. Checked by ``AuditSpec._attestations_filled``, which
    knows the item's place in the spec for the message.
    """

    text: str | None = None
    source: str | None = None
    na: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"text": value}
        if value is None:
            return {}
        if not isinstance(value, dict):  # reported as "... is 5, but it should be text"
            raise PydanticCustomError("string_type", "Input should be text, {text: ..., source: ...} or {na: reason}")
        return value


class AuditSpec(_StrictModel):
    """A whole audit: what is audited, on which data, with which checks, reported how."""

    name: str
    task: Literal["binary", "multiclass", "multilabel", "survival", "segmentation"] = "binary"
    description: str | None = None
    intended_use: str | None = None
    model: ModelSpec | None = None
    data: DataSpec
    settings: Settings = Field(default_factory=Settings)
    checks: list[CheckName] = Field(default_factory=lambda: ["performance"])
    checklists: list[str] = Field(default_factory=list)
    attestations: dict[str, dict[str, Attestation] | None] = Field(default_factory=dict)
    report: list[Literal["html", "pdf"]] = Field(default_factory=lambda: ["html"])
    robustness: RobustnessSpec = Field(default_factory=RobustnessSpec)

    @field_validator("model", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        """``model: model.skops`` is short for ``model: {path: model.skops}``."""
        return {"path": value} if isinstance(value, str) else value

    @field_validator("checks", "checklists", "report")
    @classmethod
    def _unique_entries(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _no_duplicates(value, info.field_name)

    @field_validator("attestations")
    @classmethod
    def _attestations_filled(cls, value: dict[str, dict[str, Attestation] | None]) -> dict[str, dict[str, Attestation]]:
        """Every attestation says something: text or ``na: reason``, never both, never empty."""
        for guideline, items in value.items():
            for item_id, a in (items or {}).items():
                where = f"attestations.{guideline}.{item_id}"
                for key in ("text", "source", "na"):
                    given = getattr(a, key)
                    if given is not None and not given.strip():
                        raise ValueError(f"{where}.{key} is empty; write it, or remove the key")
                if a.na is not None and (a.text is not None or a.source is not None):
                    raise ValueError(f"{where} gives both na and text; keep na: <reason> when the item does not apply, else the text")
                if a.text is None and a.na is None:
                    raise ValueError(f"{where} is empty; write what was done (text: ..., source: ...), or na: <reason> when the item does not apply")
        return {guideline: items or {} for guideline, items in value.items()}

    @model_validator(mode="after")
    def _task_keys(self) -> AuditSpec:
        """The keys of one task are not given to another (a binary audit has no classes; a multiclass one no threshold)."""
        data, settings = self.data, self.settings
        if self.task == "segmentation":
            from .tasks.segmentation import check_segmentation_spec

            check_segmentation_spec(self)
            return self
        from .tasks.segmentation import refuse_segmentation_keys

        refuse_segmentation_keys(self)
        if self.task == "survival":
            from .tasks.survival import check_survival_spec

            check_survival_spec(self)
            return self
        survival_keys = (("data.time", data.time), ("data.event", data.event), ("data.risk_score", data.risk_score),
                         ("settings.horizon", settings.horizon), ("settings.time_unit", settings.time_unit))
        for key, given in survival_keys:
            if given is not None:
                raise ValueError(f"{key} is only used by a survival audit; add task: survival, or remove {key}")
        if data.target is None:
            raise ValueError("data.target is missing; name the outcome column (a survival audit names data.time and data.event "
                             "instead, with task: survival)")
        if isinstance(data.prediction, dict) and any(isinstance(k, float) for k in data.prediction):
            raise ValueError("data.prediction maps numbers with decimals to columns, which only a survival audit reads "
                             "(horizon -> column); add task: survival, or name the classes")
        multiclass_keys = (("data.classes", data.classes is not None), ("data.ordinal", data.ordinal),
                           ("settings.binary_views", bool(settings.binary_views)))
        if self.task != "multiclass":
            for key, given in multiclass_keys:
                if given:
                    raise ValueError(f"{key} is only used by a multiclass audit; add task: multiclass, or remove {key}")
        if self.task != "multilabel":
            if data.no_finding is not None:
                raise ValueError("data.no_finding is only used by a multilabel audit; add task: multilabel, or remove it")
            if isinstance(data.target, list):
                raise ValueError("data.target names several columns, which only a multilabel audit reads (task: multilabel); "
                                 "name one target column")
            if isinstance(settings.threshold, dict):
                raise ValueError("settings.threshold is a mapping of labels, which only a multilabel audit reads; give one number")
        if self.task == "multilabel":
            from .tasks.multilabel import check_label_spec

            check_label_spec(self)
            _targets_of_task(settings.targets, "binary")  # judged on each label
            return self
        if self.task == "binary":
            if data.prediction is not None and not isinstance(data.prediction, str):
                raise ValueError("a binary audit reads one prediction column, P(positive); give data.prediction: <column>, "
                                 "or add task: multiclass to audit one probability column per class")
            _targets_of_task(settings.targets, "binary")
            return self
        from .tasks.multiclass import check_class_spec

        check_class_spec(self)
        _targets_of_task(settings.targets, "multiclass", data.ordinal)
        return self

    @model_validator(mode="after")
    def _sites_within_limit(self) -> AuditSpec:
        limit = self.settings.max_groups
        if len(self.data.external) > limit:
            raise ValueError(f"data.external names {len(self.data.external)} sites, more than settings.max_groups ({limit}); "
                             "raise settings.max_groups if you mean it, or pool small sites")
        return self

    @model_validator(mode="after")
    def _one_prediction_source(self, info: ValidationInfo) -> AuditSpec:
        """Exactly one of ``model`` and ``data.prediction`` says where the probabilities come from."""
        model_object = bool(info.context and info.context.get(MODEL_OBJECT))
        if self.model is not None and self.data.prediction is not None:
            raise ValueError(
                "the spec gives both model and data.prediction; keep model to audit the saved model, "
                "or keep data.prediction to audit the probabilities already in that column"
            )
        if self.model is None and self.data.prediction is None and not model_object and self.data.risk_score is None:
            raise ValueError(
                "the spec gives neither model nor data.prediction; add model: {path: model.skops} to audit "
                "a saved model, or data.prediction: <column> to audit probabilities already in the table"
            )
        if self.model is not None and self.model.path is None and not model_object:
            raise ValueError(
                "model gives no path; add model: {path: model.pt} (or .skops, .onnx), or pass the model object from Python"
            )
        if model_object and self.data.prediction is not None:
            raise ValueError(
                "a model object was passed but the spec also gives data.prediction; remove one of them"
            )
        return self


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_spec(
    source: str | os.PathLike | dict | AuditSpec, *, model_object: bool = False
) -> tuple[AuditSpec, Path]:
    """Validate an audit spec and return it with the directory relative paths are resolved against.

    ``source`` is a path to a YAML file (base directory: the file's directory), a dict or an
    ``AuditSpec`` (base directory: the current directory). Set ``model_object`` when the model is
    passed as a Python object, so the spec may omit both ``model`` and ``data.prediction``.
    Raises ``AuditInputError`` with a plain message for every problem.
    """
    if isinstance(source, AuditSpec):
        return source, Path.cwd()
    if isinstance(source, dict):
        check_structure(source, "the spec")
        return _validate(_plain(source), "the spec", model_object), Path.cwd()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        raw = read_yaml(path)
        check_structure(raw, path.name)
        return _validate(raw, path.name, model_object), path.resolve().parent
    raise AuditInputError(
        f"cannot read an audit spec from a {type(source).__name__}; pass a path to a YAML file, a dict or an AuditSpec."
    )


def resolve(base_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Return ``path`` made absolute against ``base_dir`` (``~`` expanded; absolute paths are kept)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate


def check_structure(raw: Any, source: str) -> None:
    """Refuse a spec nested deeper than ``MAX_DEPTH`` or holding more than ``MAX_NODES`` values once every
    shared part (a YAML alias) is counted as often as it is used: such a spec is an attack, not an audit,
    and validating or printing it would take minutes and gigabytes.

    Iterative, and each distinct list or mapping is visited once (its expanded size is remembered), so
    the check itself costs time linear in the spec as written.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(raw, 1, False)]
    while stack:
        value, depth, children_done = stack.pop()
        if not isinstance(value, (dict, list, tuple)):
            continue
        if depth > MAX_DEPTH:
            raise AuditInputError(f"{source} is nested more than {MAX_DEPTH} levels deep; an audit spec needs at most a few "
                                  "(name:, data:, settings:, ...): check for a runaway structure.")
        children = list(value.values()) if isinstance(value, dict) else list(value)
        if children_done:
            sizes[id(value)] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[id(value)] > MAX_NODES:
                raise AuditInputError(f"{source} expands to more than {MAX_NODES:,} values (YAML aliases repeat shared parts); "
                                      "an audit spec is far smaller: write it out without nested aliases.")
            continue
        if id(value) in sizes:
            continue
        stack.append((value, depth, True))
        stack.extend((c, depth + 1, False) for c in children if isinstance(c, (dict, list, tuple)) and id(c) not in sizes)


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (from a dict built in Python) made plain Python values."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in the same mapping, and nesting deeper than
    ``MAX_DEPTH`` while it composes (before PyYAML's recursion could overflow)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeepError(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooDeepError(yaml.composer.ComposerError):
    """The YAML nests deeper than an audit spec ever needs."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice (PyYAML would silently keep the last one)."""

    def __init__(self, key: Any, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"the key {key!r} appears twice in the same mapping", mark)
        self.key = key


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; the base constructor reports it
            break
        if duplicate:
            raise _DuplicateKeyError(key, key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> dict:
    """Read a YAML file that must hold a mapping; every failure becomes an ``AuditInputError``."""
    if not path.exists():
        raise AuditInputError(f"spec file {str(path)!r} does not exist; check the path.")
    if not path.is_file():
        raise AuditInputError(f"spec path {str(path)!r} is not a file; pass the path of the audit YAML file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditInputError(f"spec file {path.name!r} cannot be read as UTF-8 text ({exc}); save it as a YAML text file.") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKeyError as exc:
        raise AuditInputError(
            f"{path.name} gives the key {exc.key!r} twice in the same mapping at line {exc.problem_mark.line + 1}; "
            "keep only one of them."
        ) from None
    except _TooDeepError as exc:
        raise AuditInputError(
            f"{path.name} is nested more than {MAX_DEPTH} levels deep at line {exc.problem_mark.line + 1}; an audit spec "
            "needs at most a few levels (name:, data:, settings:, ...): check for a runaway structure."
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise AuditInputError(
            f"{path.name} is not valid YAML{where}: {problem}; check the indentation, colons and quotes there."
        ) from None
    except yaml.YAMLError as exc:
        raise AuditInputError(f"{path.name} is not valid YAML ({exc}); check its syntax.") from None
    if raw is None:
        raise AuditInputError(f"{path.name} is empty; an audit spec needs at least 'name' and 'data'.")
    if not isinstance(raw, dict):
        raise AuditInputError(
            f"{path.name} must be a YAML mapping of keys (name:, data:, ...), but it holds a {_yaml_kind(raw)}."
        )
    return raw


def _validate(raw: dict, source: str, model_object: bool) -> AuditSpec:
    """Validate ``raw`` as an ``AuditSpec``, translating pydantic's errors into one plain message."""
    try:
        return AuditSpec.model_validate(raw, context={MODEL_OBJECT: model_object})
    except ValidationError as exc:
        problems = list(dict.fromkeys(explain_error(error, source) for error in _one_per_place(exc.errors())))
    raise problems_error(source, problems) from None


def problems_error(source: str, problems: list[str]) -> AuditInputError:
    """One message, on one line, for the problems found in ``source``: the first ``MAX_PROBLEMS`` numbered, the rest counted."""
    if len(problems) == 1:
        return AuditInputError(problems[0] if problems[0].endswith(("?", ".")) else problems[0] + ".")
    shown = "; ".join(f"({k}) {problem.rstrip('.')}" for k, problem in enumerate(problems[:MAX_PROBLEMS], 1))
    more = f"; and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
    return AuditInputError(f"{source} has {len(problems)} problems; fix each of them: {shown}{more}.")


# --------------------------------------------------------------------------------------------
# Translating pydantic errors
# --------------------------------------------------------------------------------------------

_EXPECTED = {
    "string_type": "text (put it in quotes)",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


_UNION_TAG = re.compile(r"^(?:float|int|str|bool|none|(?:list|dict|tuple)\[.*\]|.*\|.*)$")


def _one_per_place(errors: list[dict]) -> list[dict]:
    """Pydantic's errors without the member tags of a union (``coverage.float``, ``coverage.list[float]``),
    keeping the first error at each place: a value that fits no member of a union is one problem."""
    seen, out = set(), []
    for error in errors:
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and _UNION_TAG.match(part)))
        if loc not in seen:
            seen.add(loc)
            out.append({**error, "loc": loc})
    return out


def explain_error(error: dict, source: str) -> str:
    """One sentence (no final full stop) for one pydantic error dict."""
    loc = tuple(error["loc"])
    kind = error["type"]
    where = _dotted(loc)
    if kind == "extra_forbidden":
        return _unknown_key(loc, source)
    if kind == "missing":
        return f"missing required key {where!r} in {source}; add it"
    if kind == "invalid_key":
        return f"the key {where!r} in {source} is not text; keys must be names"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "literal_error":
        return _bad_choice(where, error, source)
    value = _show(error.get("input"))
    expected = _EXPECTED.get(kind)
    given = error.get("input")
    if kind in ("finite_number", "float_type") and isinstance(given, float) and not np.isfinite(given):
        expected = "a finite number"
    if expected is None:  # range checks and the like: reuse pydantic's wording
        msg = error["msg"]
        expected = msg[len("Input should be ") :] if msg.startswith("Input should be ") else msg.lower()
    if loc and loc[-1] == "[key]":
        return f"a key of {_dotted(loc[:-2])!r} in {source} is {value}, but keys must be {expected}"
    return f"{where!r} in {source} is {value}, but it should be {expected}"


def _unknown_key(loc: tuple, source: str) -> str:
    """Name an unknown key by its dotted location and suggest the closest valid key."""
    where = _dotted(loc)
    valid = _valid_keys(loc[:-1])
    message = f"unknown key {where!r} in {source}"
    if not valid:
        return message + "; remove it"
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    if close:
        return message + f"; did you mean {close[0]!r}?"
    if len(valid) > 8:
        return message + f"; valid keys here include {', '.join(valid[:5])} ({len(valid)} in all, see the README)"
    return message + "; valid keys here are " + ", ".join(valid)


def _bad_choice(where: str, error: dict, source: str) -> str:
    """A value that must be one of a fixed set: show the options and the closest one."""
    options = _options(error.get("ctx", {}).get("expected", ""))
    value = error.get("input")
    choices = ", ".join(repr(option) for option in options)
    expected = f"one of {choices}" if len(options) > 1 else choices
    message = f"{where!r} in {source} is {_show(value)}, but it should be {expected}"
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


def _options(expected: str) -> list[str]:
    """Split pydantic's "'a', 'b' or 'c'" into ``['a', 'b', 'c']``."""
    parts = expected.replace(" or ", ", ").split(", ")
    return [part.strip().strip("'") for part in parts if part.strip()]


def _valid_keys(parent: tuple) -> list[str]:
    """The field names of the spec section at ``parent`` (empty if it is not a section)."""
    model: type[BaseModel] | None = AuditSpec
    for part in parent:
        field = model.model_fields.get(part) if model else None
        model = _section_model(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``ModelSpec | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _dotted(loc: tuple) -> str:
    """``('settings', 'seed')`` → ``settings.seed``; ``('checks', 2)`` → ``checks[2]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += ("." if text else "") + str(part)
    return text


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()  # keyword arguments need Python 3.12
    short.maxlevel, short.maxlist, short.maxtuple, short.maxdict, short.maxset = 2, 4, 4, 4, 4
    short.maxstring, short.maxother, short.maxlong = 58, 58, 40
    return short


_SHORT = _short_repr()


def _show(value: Any, limit: int = 60) -> str:
    """A short, YAML-ish rendering of a value for a message: plain Python values (never a numpy repr),
    and never more of a large or deep value than fits (``reprlib`` stops early, so this is cheap)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        text = "null (empty)"
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _yaml_kind(value: Any) -> str:
    """Name the kind of a YAML value: list, string, number, ..."""
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "single string"
    if isinstance(value, (int, float)):
        return "single number"
    return type(value).__name__
