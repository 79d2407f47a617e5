"""The segmentation task: a reference label map per case (an image or volume), a predicted label or probability map,
scored per case and structure (Dice, IoU, HD95, NSD, ...; ``stats.segmentation``) and summarised over cases.

Spec keys: ``data.mask`` (the column of reference file paths), ``data.prediction`` (the column of prediction file
paths), ``data.prediction_type`` (``labels`` or ``probabilities``), ``data.image`` (input image paths, for a model and
for robustness), ``data.labels`` (structures), ``data.spacing``, ``data.prediction_axes``, ``data.npz_key``;
``settings.hd_percentile``, ``settings.nsd_tolerance``, ``settings.distance_cap``, ``settings.both_empty``.
Cases are resampled whole, and by patient when ``data.cluster`` is set.

Arrays behind the seam: the target is the ``(n,)`` mask paths as written; the prediction the ``(n,)`` prediction
paths. The audit evaluates each case once (``audit.segmentation.evaluate_cases``) into per-case metrics
``(n, S, M)``, which is what the checks read (``EvaluatedDataset.cases``); the kernel is the mean over cases of
those values (``stats.segmentation.CaseMeans``), columns named ``<metric>/<structure>``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import AuditInputError
from ..stats.segmentation import CASE_METRICS, CaseMeans
from .base import Prediction, Target, Task

#: The metrics judged and summarised over cases (volumes are shown per case only).
SEGMENTATION_METRICS: tuple[str, ...] = ("dice", "iou", "hd95", "hd", "nsd", "masd", "assd", "volume_difference",
                                         "relative_volume_difference")
AXES = set("cxyz")

#: Keys only a segmentation audit reads, with their defaults.
SEGMENTATION_DATA_KEYS = ("mask", "image", "prediction_axes", "npz_key", "spacing", "labels")


def refuse_segmentation_keys(spec: Any) -> None:
    """Other tasks do not take the segmentation keys (raises ``ValueError`` for pydantic)."""
    data, settings = spec.data, spec.settings
    for key in SEGMENTATION_DATA_KEYS:
        if getattr(data, key) is not None:
            raise ValueError(f"data.{key} is only used by a segmentation audit; add task: segmentation, or remove data.{key}")
    if spec.model is not None and spec.model.window is not None:
        raise ValueError("model.window is only used by a segmentation audit (the intensity window of its images); remove it")
    if data.prediction_type != "labels":
        raise ValueError("data.prediction_type is only used by a segmentation audit; add task: segmentation, or remove it")
    for key, default in (("hd_percentile", 95.0), ("nsd_tolerance", None), ("distance_cap", 100.0), ("both_empty", "exclude")):
        if getattr(settings, key) != default:
            raise ValueError(f"settings.{key} is only used by a segmentation audit; add task: segmentation, or remove it")


def check_segmentation_spec(spec: Any) -> None:
    """The spec's keys for a segmentation audit agree with each other (raises ``ValueError`` for pydantic)."""
    data, settings = spec.data, spec.settings
    if data.mask is None:
        raise ValueError("a segmentation audit needs data.mask: the column holding each case's reference label map file "
                         "(NIfTI, .npy, .npz or PNG)")
    if data.target is not None:
        raise ValueError("a segmentation audit reads the reference label maps named in data.mask, not data.target; remove data.target")
    if data.prediction is not None and not isinstance(data.prediction, str):
        raise ValueError("data.prediction for a segmentation audit names one column: the path of each case's prediction file")
    if spec.model is not None and data.image is None:
        raise ValueError("a segmentation model needs its input: name the column of image files in data.image")
    if data.prediction_axes is not None:
        letters = data.prediction_axes.lower()
        if set(letters) - AXES or len(set(letters)) != len(letters) or not (2 <= len(letters.replace("c", "")) <= 3):
            raise ValueError(f"data.prediction_axes {data.prediction_axes!r} must name each axis once with letters x, y, z "
                             "(and c for the channels of probabilities), e.g. 'zyx' or 'czyx'")
        if ("c" in letters) != (data.prediction_type == "probabilities"):
            raise ValueError("data.prediction_axes names a channel axis c exactly when data.prediction_type is probabilities")
    if data.spacing is not None and (len(data.spacing) not in (2, 3) or any(s <= 0 for s in data.spacing)):
        raise ValueError("data.spacing gives the voxel size in mm per axis: two or three positive numbers, e.g. [1.0, 0.8, 0.8]")
    if data.labels is not None:
        if not data.labels:
            raise ValueError("data.labels is empty; map each structure's name to its label value(s), e.g. {tumour: [1, 2]}")
        for name, values in data.labels.items():
            values = values if isinstance(values, list) else [values]
            if not values or any(v <= 0 for v in values):
                raise ValueError(f"data.labels.{name} must list positive label values (0 is the background)")
    for key, given, why in (
        ("data.positive_label", data.positive_label is not None, "structures are named in data.labels"),
        ("data.readers", bool(data.readers), "reader agreement is computed for binary outcomes only"),
        ("data.classes", data.classes is not None, "structures are named in data.labels"),
        ("data.no_finding", data.no_finding is not None, "it is not a multilabel audit"),
        ("data.time", data.time is not None, "it is not a survival audit"),
        ("data.event", data.event is not None, "it is not a survival audit"),
        ("data.risk_score", data.risk_score is not None, "it is not a survival audit"),
        ("settings.horizon", settings.horizon is not None, "it is not a survival audit"),
        ("settings.binary_views", bool(settings.binary_views), "it is not a multiclass audit"),
        ("settings.threshold", settings.threshold != 0.5, "a label map is already a decision (probabilities: the most probable label)"),
    ):
        if given:
            raise ValueError(f"{key} is not used by a segmentation audit ({why}); remove it")
    if settings.sampling == "case-control":
        raise ValueError("settings.sampling: case-control is not defined for a segmentation audit; cases are resampled whole")
    for metric in settings.targets:
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(f"settings.targets names {metric!r}, which a segmentation audit does not judge; use one of "
                             + ", ".join(SEGMENTATION_METRICS))


def _paths(frame: pd.DataFrame, column: str, key: str, where: str) -> np.ndarray:
    from ..data import plural

    values = frame[column]
    missing = values.isna() | (values.astype("string").str.strip() == "")
    if missing.any():
        raise AuditInputError(f"{where}: the {key} column {column!r} is empty in {plural(int(missing.sum()), 'row')} "
                              f"(first: row {int(np.flatnonzero(missing.to_numpy())[0]) + 1}); every case needs its file.")
    out = values.astype(str).to_numpy(dtype=object)
    out.flags.writeable = False
    return out


class SegmentationTask(Task):
    """A reference label map per case; a predicted label or probability map."""

    name: ClassVar[str] = "segmentation"
    metrics: ClassVar[tuple[str, ...]] = SEGMENTATION_METRICS

    def read_target(self, frame: pd.DataFrame, data: Any, where: str) -> Target:
        return Target(_paths(frame, data.mask, "data.mask", where))

    def read_prediction(self, frame: pd.DataFrame, data: Any) -> np.ndarray:
        return _paths(frame, data.prediction, "data.prediction", "")

    def check_prediction_column(self, frame: pd.DataFrame, data: Any, where: str) -> None:
        _paths(frame, data.prediction, "data.prediction", where)

    def check_prediction(self, values: Any, n: int, name: str, where: str) -> Prediction:
        out = np.asarray(values, dtype=object)
        if out.shape != (n,):
            raise AuditInputError(f"{where}: the model gave {out.shape[0] if out.ndim else 0} predictions for {n} cases.")
        return Prediction(out)

    def outcome_strata(self, target: Target) -> np.ndarray:
        raise AuditInputError("case-control sampling is not defined for a segmentation audit")  # refused by the spec first

    def kernel(self, target: Target, prediction: Prediction, settings: Any, metrics: tuple[str, ...] = ()) -> CaseMeans:
        """The mean over cases of each metric and structure: ``prediction.values`` is the per-case ``(n, S, M)`` array
        (``CaseEvaluation.values``); ``target.values`` the structure names."""
        values = np.asarray(prediction.values, dtype=np.float64)
        structures = tuple(target.values)
        metrics = metrics or SEGMENTATION_METRICS
        cols = [CASE_METRICS.index(m) for m in metrics]
        flat = values[:, :, cols].reshape(values.shape[0], -1)
        names = tuple(f"{m}/{s}" for s in structures for m in metrics)
        return CaseMeans(flat, names)

    def summary(self, target: Target, confidence: float, data: Any, settings: Any = None) -> dict:
        return {"n": int(np.asarray(target.values).shape[0])}


__all__ = ["SEGMENTATION_METRICS", "SegmentationTask", "check_segmentation_spec", "refuse_segmentation_keys"]
