"""Evaluate every case of a segmentation dataset once: read its reference and prediction, compute each structure's
metrics (``stats.segmentation.case_score``), in parallel on local cores or a Dask cluster with identical results.

Structures come from ``data.labels`` (name -> label value or list of values, a list making a region); without it
every non-zero label value found in a reference or prediction is one structure, ``label_<v>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AuditInputError
from .imaging import aligned_prediction, case_spacing, label_map, read_volume
from .stats.parallel import map_ordered
from .stats.segmentation import BOTH_EMPTY, CASE_METRICS, LESION_COUNTS, STATUS, case_score

#: Cases per parallel task.
CASES_PER_TASK = 8


@dataclass(frozen=True)
class CaseEvaluation:
    """Every case's metrics: ``values`` ``(n, S, M)`` in ``CASE_METRICS`` order, ``status`` ``(n, S)`` (codes of
    ``STATUS``), ``lesions`` ``(n, S, 4)`` in ``LESION_COUNTS`` order, for the structures in ``structures`` order."""

    ids: tuple[str, ...]
    structures: tuple[str, ...]
    values: np.ndarray
    status: np.ndarray
    lesions: np.ndarray
    spacing: tuple[tuple[float, ...], ...]
    spacing_source: str

    @property
    def n(self) -> int:
        return len(self.ids)

    def metric(self, name: str) -> np.ndarray:
        """``(n, S)`` values of one metric."""
        return self.values[:, :, CASE_METRICS.index(name)]

    def summary(self) -> dict:
        """Cases and, per structure, how many fall in each branch of the empty-mask policy."""
        out: dict[str, Any] = {"n": self.n, "spacing": self.spacing_source}
        out["structures"] = {
            s: {name: int((self.status[:, j] == code).sum()) for code, name in enumerate(STATUS)}
            for j, s in enumerate(self.structures)
        }
        return out


def structure_values(labels: dict | None) -> dict[str, tuple[int, ...]] | None:
    """``data.labels`` as name -> tuple of label values (``None`` when not given)."""
    if labels is None:
        return None
    return {name: tuple(v) if isinstance(v, list) else (v,) for name, v in labels.items()}


def _case_labels(reference: np.ndarray, prediction: np.ndarray, structures: dict | None, case: str) -> dict:
    """Name -> (reference mask, predicted mask) for each structure (every non-zero value when ``structures`` is None)."""
    if structures is None:
        values = np.union1d(np.unique(reference), np.unique(prediction))
        return {f"label_{int(v)}": (reference == v, prediction == v) for v in values if v != 0}
    known = {0} | {v for vs in structures.values() for v in vs}
    for what, array in (("reference", reference), ("prediction", prediction)):
        stray = sorted(set(np.unique(array).tolist()) - known)
        if stray:
            raise AuditInputError(f"case {case}: the {what} holds the label value {stray[0]}, which data.labels does not list "
                                  f"(it lists {', '.join(str(v) for v in sorted(known - {0}))}); add it to data.labels or fix the file.")
    return {name: (np.isin(reference, vs), np.isin(prediction, vs)) for name, vs in structures.items()}


def predicted_labels(array: np.ndarray, data: Any, case: str) -> np.ndarray:
    """The predicted label map: the array itself, or the most probable channel of probabilities."""
    if data.prediction_type != "probabilities":
        from .imaging import Volume

        return label_map(Volume(array, None, None), case, "prediction")
    p = np.asarray(array, dtype=np.float64)
    if p.shape[0] < 2:
        raise AuditInputError(f"case {case}: the probability map has {p.shape[0]} channel; give one channel per label value, "
                              "background included.")
    if not np.all(np.isfinite(p)) or p.min() < -1e-6 or p.max() > 1 + 1e-6:
        raise AuditInputError(f"case {case}: the probability map holds values outside [0, 1] (logits?); export softmax probabilities.")
    return np.argmax(p, axis=0)


def _evaluate_chunk(shared: tuple, rows: list[int]) -> list:
    cases, masks, predictions, data, settings, structures = shared
    out = []
    for i in rows:
        case = cases[i]
        reference_file = read_volume(Path(masks[i]), case, None)
        reference = label_map(reference_file, case, "mask")
        prediction_file = read_volume(Path(predictions[i]), case, data.npz_key)
        prediction = predicted_labels(aligned_prediction(reference_file, prediction_file, data, case), data, case)
        spacing = case_spacing(reference_file, prediction_file, data.spacing, case, reference.ndim)
        scores = {
            name: case_score(r, p, spacing, percentile=settings.hd_percentile, tolerance=settings.nsd_tolerance,
                             cap=settings.distance_cap, both_empty=settings.both_empty)
            for name, (r, p) in _case_labels(reference, prediction, structures, case).items()
        }
        out.append((scores, spacing, reference_file.nifti))
    return out


def evaluate_cases(cases: list[str], masks: list[str], predictions: list[str], data: Any, settings: Any,
                   n_jobs: int = 1, scheduler: Any = None) -> CaseEvaluation:
    """Every case's metrics per structure (``masks``/``predictions``: absolute paths, in case order)."""
    structures = structure_values(data.labels)
    rows = list(range(len(cases)))
    tasks = [(rows[i:i + CASES_PER_TASK],) for i in range(0, len(rows), CASES_PER_TASK)]
    shared = (list(cases), list(masks), list(predictions), data, settings, structures)
    results = [r for block in map_ordered(_evaluate_chunk, shared, tasks, n_jobs, scheduler) for r in block]
    names = tuple(structures) if structures is not None else tuple(
        sorted({s for scores, _, _ in results for s in scores}, key=lambda s: int(s.split("_")[1])))
    if not names:
        raise AuditInputError("no structure to evaluate: every reference and prediction is empty (all zeros); check the "
                              "files, or name the structures in data.labels.")
    n, S = len(cases), len(names)
    values = np.full((n, S, len(CASE_METRICS)), np.nan)
    status = np.full((n, S), BOTH_EMPTY, dtype=np.int8)
    lesions = np.zeros((n, S, len(LESION_COUNTS)))
    empty = _empty_score(settings)
    for i, (scores, _, _) in enumerate(results):
        for j, name in enumerate(names):
            score = scores.get(name, empty)
            values[i, j], status[i, j], lesions[i, j] = score.values, score.status, score.lesions
    nifti = {header for _, _, header in results}
    source = "NIfTI header" if nifti == {True} else "data.spacing" if data.spacing is not None else (
        "none (distances in voxels)" if nifti == {False} else "NIfTI header, else data.spacing")
    for arr in (values, status, lesions):
        arr.flags.writeable = False
    return CaseEvaluation(tuple(cases), names, values, status, lesions, tuple(s for _, s, _ in results), source)


def _empty_score(settings: Any):
    """The score of a structure absent from both files of a case (default structures found in other cases only)."""
    empty = np.zeros((3, 3), dtype=bool)
    return case_score(empty, empty, (1.0, 1.0), percentile=settings.hd_percentile, tolerance=settings.nsd_tolerance,
                      cap=settings.distance_cap, both_empty=settings.both_empty)


__all__ = ["CaseEvaluation", "evaluate_cases", "predicted_labels", "structure_values"]
