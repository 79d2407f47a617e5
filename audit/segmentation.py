"""Evaluate every case of a segmentation dataset once: read its reference and prediction, compute each structure's
metrics (``stats.segmentation.case_score``), in parallel on local cores or a Dask cluster with identical results.

Structures come from ``data.labels`` (name -> label value or list of values, a list making a region); without it
every non-zero label value found in a reference or prediction is one structure, ``label_<v>``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AuditInputError
from .imaging import aligned_prediction, case_spacing, label_map, read_volume
from .stats.parallel import map_ordered
from .stats.segmentation import BOTH_EMPTY, CALIBRATION_BINS, CASE_METRICS, LESION_COUNTS, STATUS, calibration_sums, case_score

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
    #: with probability maps: per case and structure the voxel-calibration bin sums ``(n, S, bins, 3)``
    #: (``stats.segmentation.calibration_sums``), else None
    calibration: np.ndarray | None = None
    #: SHA-256 over the SHA-256 of every file the cases read (mask, then prediction or image, case by case), so a
    #: reviewer can tell the files are the audited ones; set by the runner
    files_sha256: str | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    def metric(self, name: str) -> np.ndarray:
        """``(n, S)`` values of one metric."""
        return self.values[:, :, CASE_METRICS.index(name)]

    def summary(self) -> dict:
        """Cases and, per structure, how many fall in each branch of the empty-mask policy."""
        out: dict[str, Any] = {"n": self.n, "spacing": self.spacing_source}
        if self.files_sha256 is not None:
            out["case_files_sha256"] = self.files_sha256
        out["structures"] = {
            s: {name: int((self.status[:, j] == code).sum()) for code, name in enumerate(STATUS)}
            for j, s in enumerate(self.structures)
        }
        return out


def files_digest(paths: list[str]) -> str:
    """SHA-256 of the files' SHA-256 digests in order (one hash for every file of a dataset's cases)."""
    from .data import sha256_file

    outer = hashlib.sha256()
    for path in paths:
        outer.update(sha256_file(Path(path)).encode("ascii"))
    return outer.hexdigest()


def with_files_digest(cases: CaseEvaluation, paths: list[str]) -> CaseEvaluation:
    return replace(cases, files_sha256=files_digest(paths))


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
        probabilities = None
        if isinstance(predictions[i], np.ndarray):  # a model's probabilities, already on the mask's grid
            prediction_file, probabilities = None, predictions[i]
            prediction = np.argmax(probabilities, axis=0)
        else:
            prediction_file = read_volume(Path(predictions[i]), case, data.npz_key)
            aligned = aligned_prediction(reference_file, prediction_file, data, case)
            prediction = predicted_labels(aligned, data, case)
            probabilities = aligned if data.prediction_type == "probabilities" else None
        spacing = case_spacing(reference_file, prediction_file, data.spacing, case, reference.ndim)
        regions = _case_labels(reference, prediction, structures, case)
        scores = {
            name: case_score(r, p, spacing, percentile=settings.hd_percentile, tolerance=settings.nsd_tolerance,
                             cap=settings.distance_cap, both_empty=settings.both_empty)
            for name, (r, p) in regions.items()
        }
        sums = None
        if probabilities is not None:
            sums = {name: calibration_sums(_structure_probability(probabilities, name, structures, case), r, p, spacing)
                    for name, (r, p) in regions.items()}
        out.append((scores, spacing, reference_file.nifti, sums))
    return out


def _structure_probability(probabilities: np.ndarray, name: str, structures: dict | None, case: str) -> np.ndarray:
    """P(voxel in the structure): the sum of its label values' channels."""
    values = structures[name] if structures is not None else (int(name.split("_")[1]),)
    if max(values) >= probabilities.shape[0]:
        raise AuditInputError(f"case {case}: the probability map has {probabilities.shape[0]} channels, but {name} needs the "
                              f"channel of label value {max(values)}; give one channel per label value, background first.")
    return probabilities[list(values)].sum(axis=0)


def evaluate_cases(cases: list[str], masks: list[str], predictions: list, data: Any, settings: Any,
                   n_jobs: int = 1, scheduler: Any = None) -> CaseEvaluation:
    """Every case's metrics per structure (``masks``: absolute paths; ``predictions``: absolute paths, or a model's
    label maps on the masks' grids; in case order)."""
    structures = structure_values(data.labels)
    rows = list(range(len(cases)))
    tasks = [(rows[i:i + CASES_PER_TASK],) for i in range(0, len(rows), CASES_PER_TASK)]
    shared = (list(cases), list(masks), list(predictions), data, settings, structures)
    results = [r for block in map_ordered(_evaluate_chunk, shared, tasks, n_jobs, scheduler) for r in block]
    names = tuple(structures) if structures is not None else tuple(
        sorted({s for scores, *_ in results for s in scores}, key=lambda s: int(s.split("_")[1])))
    if not names:
        raise AuditInputError("no structure to evaluate: every reference and prediction is empty (all zeros); check the "
                              "files, or name the structures in data.labels.")
    n, S = len(cases), len(names)
    values = np.full((n, S, len(CASE_METRICS)), np.nan)
    status = np.full((n, S), BOTH_EMPTY, dtype=np.int8)
    lesions = np.zeros((n, S, len(LESION_COUNTS)))
    empty = _empty_score(settings)
    calibration = np.zeros((n, S, CALIBRATION_BINS, 3)) if results and results[0][3] is not None else None
    for i, (scores, _, _, sums) in enumerate(results):
        for j, name in enumerate(names):
            score = scores.get(name, empty)
            values[i, j], status[i, j], lesions[i, j] = score.values, score.status, score.lesions
            if calibration is not None and name in sums:
                calibration[i, j] = sums[name]
    nifti = {header for _, _, header, _ in results}
    source = "NIfTI header" if nifti == {True} else "data.spacing" if data.spacing is not None else (
        "none (distances in voxels)" if nifti == {False} else "NIfTI header, else data.spacing")
    for arr in (values, status, lesions, *([calibration] if calibration is not None else [])):
        arr.flags.writeable = False
    return CaseEvaluation(tuple(cases), names, values, status, lesions, tuple(s for _, s, *_ in results), source, calibration)


def _empty_score(settings: Any):
    """The score of a structure absent from both files of a case (default structures found in other cases only)."""
    empty = np.zeros((3, 3), dtype=bool)
    return case_score(empty, empty, (1.0, 1.0), percentile=settings.hd_percentile, tolerance=settings.nsd_tolerance,
                      cap=settings.distance_cap, both_empty=settings.both_empty)


# --------------------------------------------------------------------------------------------
# A segmentation model: images in, per-class probabilities out
# --------------------------------------------------------------------------------------------

#: The per-image percentiles of ``model.window: percentile``.
PERCENTILE_WINDOW = (0.5, 99.5)


def windowed(raw: np.ndarray, window: Any, case: str) -> np.ndarray:
    """Raw intensities mapped to [0, 1] by the spec's window (``model.window``), clipped; without a window the image
    must already lie in [0, 1]."""
    x = np.asarray(raw, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise AuditInputError(f"case {case}: the image holds NaN or infinite values.")
    if window is None:
        if x.size and (x.min() < 0 or x.max() > 1):
            raise AuditInputError(f"case {case}: the image's intensities run from {x.min():g} to {x.max():g}, outside [0, 1]; "
                                  "state how they map to [0, 1] in model.window ([low, high], e.g. a CT window, or "
                                  "percentile for MR).")
        return x
    low, high = np.percentile(x, PERCENTILE_WINDOW) if window == "percentile" else window
    if high <= low:
        return np.zeros_like(x)
    return np.clip((x - low) / (high - low), 0.0, 1.0).astype(np.float32)


def case_image(image_path: str, mask_path: str, data: Any, window: Any, case: str) -> np.ndarray:
    """One case's model input: ``(C, *spatial)`` in [0, 1] on the mask's grid (a NIfTI image must share the mask's
    affine; NIfTI channels are stored last, array channels first)."""
    from .imaging import AFFINE_TOLERANCE

    reference = read_volume(Path(mask_path), case, None)
    image = read_volume(Path(image_path), case, data.npz_key)
    array = np.asarray(image.array)
    if image.nifti:
        if reference.nifti and not np.allclose(image.affine, reference.affine, atol=AFFINE_TOLERANCE):
            raise AuditInputError(f"case {case}: the image's NIfTI affine differs from the mask's; resample the image to the mask's grid.")
        if array.ndim == reference.array.ndim + 1:
            array = np.moveaxis(array, -1, 0)
    if array.ndim == reference.array.ndim:
        array = array[None]
    if array.shape[1:] != reference.array.shape:
        raise AuditInputError(f"case {case}: the image has shape {image.array.shape}, the mask {reference.array.shape}; the image "
                              "must lie on the mask's grid (channels first for arrays, last for NIfTI).")
    return windowed(array, window, case)


def model_probabilities(adapter: Any, images: list[np.ndarray]) -> list[np.ndarray]:
    """Per-class probabilities ``(K, *spatial)`` for each ``(C, *spatial)`` image in [0, 1]: ``model.normalize`` applied,
    consecutive images of one shape batched (``model.batch_size``), softmax over the model's logits."""
    import torch

    module = segmentation_module(adapter)
    out: list[np.ndarray] = []
    start = 0
    while start < len(images):
        stop = start + 1
        while stop < len(images) and stop - start < adapter.batch_size and images[stop].shape == images[start].shape:
            stop += 1
        batch = torch.from_numpy(np.stack(images[start:stop]).astype(np.float32)).to(adapter.device)
        with torch.no_grad():
            logits = module(batch)
        out += list(torch.softmax(logits.double(), dim=1).cpu().numpy().astype(np.float32))
        start = stop
    return out


def segmentation_module(adapter: Any):
    """The model as attacks see it: ``[0, 1]`` images → per-class logits (log-probabilities for a model that outputs
    probabilities), ``model.normalize`` inside."""
    import torch
    from torch import nn

    from .models import TorchAdapter

    if not isinstance(adapter, TorchAdapter):
        raise AuditInputError("a segmentation audit takes a PyTorch model (an nn.Module mapping an image batch to per-class "
                              "logits); for other models give their predictions in data.prediction.")

    class Segmenter(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = adapter.module
            self.probabilities = adapter.output == "probabilities"
            channels = len(adapter.mean) if adapter.mean is not None else 0
            shape = (1, channels) if channels else (1,)
            self.register_buffer("mean", torch.tensor(adapter.mean or [0.0], dtype=torch.float32).reshape(*shape))
            self.register_buffer("std", torch.tensor(adapter.std or [1.0], dtype=torch.float32).reshape(*shape))

        def forward(self, x):
            extra = (1,) * (x.ndim - 2)
            z = (x - self.mean.reshape(*self.mean.shape, *extra)) / self.std.reshape(*self.std.shape, *extra)
            out = self.model(z)
            return torch.log(out.clamp_min(1e-12)) if self.probabilities else out

    return Segmenter().to(adapter.device).eval()


__all__ = ["CaseEvaluation", "files_digest", "with_files_digest", "case_image", "evaluate_cases", "model_probabilities", "predicted_labels", "segmentation_module",
           "structure_values", "windowed"]
