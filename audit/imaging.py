"""Read segmentation cases as users have them: NIfTI (``.nii``, ``.nii.gz``, via nibabel), NumPy ``.npy`` / ``.npz``
and PNG, one reference label map and one prediction per case, without ever transposing silently.

Rules (every breach is an ``AuditInputError`` naming the case):

- A NIfTI array is used in nibabel's voxel order (i, j, k = x, y, z as stored), its voxel size from the header.
  A NIfTI prediction for a NIfTI mask must have the mask's shape and affine (within ``AFFINE_TOLERANCE`` mm); a
  flipped or permuted affine is an error, never resampled.
- An array prediction (``.npy``/``.npz``/``.png``) for a NIfTI mask must state its axis order in
  ``data.prediction_axes`` (``"zyx"``; with ``c`` for the channel axis of probabilities, e.g. nnU-Net's
  ``"czyx"``); it is transposed to the mask's ``xyz`` order by that statement only.
- Array masks and predictions must have one shape (channels first for probabilities); spacing comes from
  ``data.spacing`` (mm per axis), which is an error when it contradicts a NIfTI header.
- Probabilities have one channel per label value, background first: channel ``v`` is P(label = v).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AuditInputError

#: Largest difference (mm) between two affines' entries that still counts as the same grid.
AFFINE_TOLERANCE = 1e-3
NIFTI_SUFFIXES = (".nii", ".nii.gz")
ARRAY_SUFFIXES = (".npy", ".npz", ".png")


@dataclass(frozen=True)
class Volume:
    """One file's array with where it came from: ``affine`` and ``spacing`` from a NIfTI header, else ``None``."""

    array: np.ndarray
    affine: np.ndarray | None
    spacing: tuple[float, ...] | None

    @property
    def nifti(self) -> bool:
        return self.affine is not None


def file_kind(path: Path) -> str:
    """``"nifti"``, ``"npy"``, ``"npz"`` or ``"png"`` by the file name; ``AuditInputError`` otherwise."""
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    for suffix in ARRAY_SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:]
    raise AuditInputError(f"{path.name} is neither NIfTI (.nii, .nii.gz) nor NumPy (.npy, .npz) nor PNG; "
                          "convert it to one of them.")


def read_volume(path: Path, case: str, npz_key: str | None = None) -> Volume:
    """The array of one file (NIfTI with its affine and voxel size)."""
    if not path.is_file():
        raise AuditInputError(f"case {case}: the file {str(path)!r} does not exist; check the path in the case table "
                              "(relative paths are relative to the table's folder).")
    kind = file_kind(path)
    try:
        if kind == "nifti":
            try:
                import nibabel
            except ImportError:  # pragma: no cover - depends on the installation
                raise AuditInputError("reading NIfTI files needs nibabel; install it with pip install 'trustaudit[imaging]'.") from None
            image = nibabel.load(str(path))
            array = np.asanyarray(image.dataobj)
            zooms = tuple(float(np.format_float_positional(np.float32(z))) for z in image.header.get_zooms()[: array.ndim])
            return Volume(array, np.asarray(image.affine, dtype=np.float64), zooms)
        if kind == "npy":
            return Volume(np.load(path, allow_pickle=False), None, None)
        if kind == "npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if npz_key is None and len(names) != 1:
                    raise AuditInputError(f"case {case}: {path.name} holds the arrays {', '.join(names)}; name the one to read "
                                          "in data.npz_key (nnU-Net's probability exports use 'probabilities').")
                key = npz_key if npz_key is not None else names[0]
                if key not in names:
                    raise AuditInputError(f"case {case}: {path.name} has no array {key!r} (data.npz_key); it holds {', '.join(names)}.")
                return Volume(archive[key], None, None)
        from PIL import Image

        with Image.open(path) as image:
            return Volume(np.asarray(image), None, None)
    except AuditInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise AuditInputError(f"case {case}: {path.name} cannot be read ({type(exc).__name__}: {exc}).") from None


def reorient(array: np.ndarray, axes: str, case: str, what: str) -> np.ndarray:
    """An array whose axes are named by ``axes`` (letters of ``xyz`` and ``c``) in ``c``-first ``xyz`` order."""
    letters = axes.lower()
    if len(letters) != array.ndim:
        raise AuditInputError(f"case {case}: data.prediction_axes is {axes!r} ({len(letters)} axes), but the {what} has "
                              f"{array.ndim} axes (shape {array.shape}).")
    order = [letters.index(a) for a in "c" + "xyz" if a in letters]
    return np.transpose(array, order)


def label_map(volume: Volume, case: str, what: str) -> np.ndarray:
    """An integer label map: whole non-negative numbers only."""
    array = np.asarray(volume.array)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise AuditInputError(f"case {case}: the {what} holds values that are not whole numbers; a label map holds "
                                  "label values (0 background, 1, 2, ...). For probabilities set data.prediction_type: probabilities.")
    elif array.dtype.kind not in "iub":
        raise AuditInputError(f"case {case}: the {what} has values of type {array.dtype}, not label values.")
    if array.size and array.min() < 0:
        raise AuditInputError(f"case {case}: the {what} holds the negative label {int(array.min())}.")
    return array.astype(np.int64, copy=False)


def case_spacing(reference: Volume, prediction: Volume | None, given: list[float] | None, case: str,
                 ndim: int) -> tuple[float, ...]:
    """The voxel size: the NIfTI header's (equal in both files), checked against ``data.spacing``; else
    ``data.spacing``; else 1 per axis (distances then count voxels)."""
    header = reference.spacing
    if prediction is not None and prediction.spacing is not None and header is not None:
        if not np.allclose(prediction.spacing, header, atol=AFFINE_TOLERANCE):
            raise AuditInputError(f"case {case}: the mask's voxel size {_mm(header)} differs from the prediction's {_mm(prediction.spacing)}.")
    if header is not None:
        if given is not None and (len(given) != len(header) or not np.allclose(given, header, atol=AFFINE_TOLERANCE)):
            raise AuditInputError(f"case {case}: data.spacing {given} contradicts the mask's NIfTI header {_mm(header)}; "
                                  "remove data.spacing (the header is used) or fix the file.")
        return tuple(header)
    if given is not None:
        if len(given) != ndim:
            raise AuditInputError(f"case {case}: data.spacing gives {len(given)} numbers for a {ndim}-D mask; give one per axis.")
        return tuple(float(s) for s in given)
    return (1.0,) * ndim


def _mm(spacing) -> str:
    return " × ".join(f"{s:g}" for s in spacing) + " mm"


def aligned_prediction(reference: Volume, prediction: Volume, data: Any, case: str) -> np.ndarray:
    """The prediction's array in the mask's orientation: equal affines for NIfTI pairs, the stated axis order for an
    array prediction of a NIfTI mask, equal shapes always (channels first for probabilities)."""
    probabilities = data.prediction_type == "probabilities"
    array = np.asarray(prediction.array)
    what = "probability map" if probabilities else "prediction"
    if prediction.nifti:
        if probabilities:  # NIfTI stores channels last (x, y, z, c)
            array = np.moveaxis(array, -1, 0)
        if not reference.nifti:
            raise AuditInputError(f"case {case}: the prediction is NIfTI but the mask is not; give both as NIfTI, or both as arrays.")
        if not np.allclose(prediction.affine, reference.affine, atol=AFFINE_TOLERANCE):
            raise AuditInputError(f"case {case}: the prediction's NIfTI affine differs from the mask's (flipped, permuted or "
                                  "shifted axes); resample or reorient the prediction to the mask's grid. Nothing is "
                                  "transposed silently.")
    elif reference.nifti:
        if data.prediction_axes is None:
            raise AuditInputError(f"case {case}: the mask is NIfTI but the prediction is an array file, whose axis order is "
                                  "unknown; state it in data.prediction_axes (e.g. 'zyx', or 'czyx' for nnU-Net's probabilities).")
        array = reorient(array, data.prediction_axes, case, what)
    elif data.prediction_axes is not None:
        array = reorient(array, data.prediction_axes, case, what)
    spatial = array.shape[1:] if probabilities else array.shape
    if spatial != reference.array.shape:
        raise AuditInputError(f"case {case}: the {what} has shape {array.shape}, the mask {reference.array.shape}"
                              + ("; probabilities have the channel axis first" if probabilities else "")
                              + ". A prediction must have the mask's shape in the mask's orientation.")
    return array


__all__ = ["AFFINE_TOLERANCE", "Volume", "aligned_prediction", "case_spacing", "file_kind", "label_map", "read_volume", "reorient"]
