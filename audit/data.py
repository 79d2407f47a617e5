"""Tables (CSV, Parquet) and arrays (NPZ) → validated datasets with roles.

``load_datasets`` reads the internal test set and every external site named in the spec,
hashes each file, turns the target column into 0/1 labels and checks every column the spec
names. Every problem becomes an :class:`~audit.errors.AuditInputError` naming the dataset and
the file.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.spec import AuditSpec, resolve

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".zst")
FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV (tab-separated)", "parquet": "Parquet"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """One table of the audit with its labels.

    ``path`` is the path as written in the spec (never absolute: it goes into results.json);
    ``y`` is a read-only int8 array of 0/1 labels, 1 = positive.
    """

    name: str
    role: Literal["internal", "external"]
    path: str
    sha256: str
    frame: pd.DataFrame
    y: np.ndarray
    #: The model input array of an ``.npz`` dataset (N×C×H×W images or N×F features), else None.
    x: np.ndarray | None = None
    #: Several readers' labels (N × readers; 1, 0, NaN where not read) when ``data.readers`` is set and
    #: this table has their columns, else None.
    reads: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])

    @property
    def prevalence(self) -> float:
        """Fraction of positive labels."""
        return float(self.y.mean())


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_file(path: Path, where: str, what: str) -> None:
    """A missing file or a directory is bad input; ``what`` says what the path should be and how to fix it."""
    if not path.exists():
        raise AuditInputError(
            f"{where}: the file {str(path)!r} does not exist; check the path (relative paths are relative to the spec file)."
        )
    if not path.is_file():
        raise AuditInputError(f"{where}: the path is a directory, not {what}.")


def table_format(path: Path) -> Literal["csv", "tsv", "parquet"] | None:
    """The table format implied by the file name (compressed CSVs such as ``.csv.gz`` included)."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] in PARQUET_SUFFIXES:
        return "parquet"
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in CSV_SUFFIXES:
        return "tsv" if suffixes[-1] == ".tsv" else "csv"
    return None


def read_table(path: Path, *, label: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/TXT (comma- or tab-separated) or Parquet file into a DataFrame.

    ``label`` (e.g. ``"dataset 'test'"``) prefixes error messages. Raises ``AuditInputError``
    when the file is missing, has an unsupported extension, cannot be parsed or has no rows.
    """
    path = Path(path)
    where = label or str(path)
    require_file(path, where, "a table file; point to a .csv or .parquet file")
    kind = table_format(path)
    if kind is None:
        raise AuditInputError(
            f"{where}: unsupported file type {path.suffix or '(no extension)'!r}; "
            "use CSV (.csv, .tsv, .txt, optionally compressed like .csv.gz) or Parquet (.parquet, .pq)."
        )
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",")
    except pd.errors.EmptyDataError:
        raise AuditInputError(f"{where}: the file is empty; it needs a header row and at least one data row.") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file, not a bug
        raise AuditInputError(
            f"{where}: the file could not be read as {FORMAT_NAMES[kind]} ({_first_line(exc)}); "
            f"check that it is a valid {FORMAT_NAMES[kind]} file."
        ) from None
    if len(frame) == 0:
        raise AuditInputError(f"{where}: the table has no rows; it needs at least one data row.")
    return frame


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


def load_datasets(spec: AuditSpec, base_dir: Path) -> dict[str, Dataset]:
    """Read and validate every table in the spec: ``"test"`` first, then the external sites in order."""
    sources = {"test": ("internal", spec.data.test)}
    sources.update({name: ("external", path) for name, path in spec.data.external.items()})
    return {
        name: load_dataset(name, role, written, spec, Path(base_dir))  # type: ignore[arg-type]
        for name, (role, written) in sources.items()
    }


def load_dataset(
    name: str, role: Literal["internal", "external"], written: str, spec: AuditSpec, base_dir: Path
) -> Dataset:
    """Read one table (or ``.npz`` arrays), check the columns the spec names and derive the 0/1 labels."""
    path = resolve(base_dir, written)
    where = f"dataset {name!r} ({written})"
    x = None
    if is_npz(path):
        x, frame = read_npz(path, label=where, target=spec.data.target)
    else:
        frame = read_table(path, label=where)
    data = spec.data
    require_column(frame, data.target, "data.target", where)
    y = binary_labels(frame[data.target], data.target, data.positive_label, where)
    for column in data.sensitive:
        require_column(frame, column, "data.sensitive", where)
    for key in ("id", "site", "cluster"):
        column = getattr(data, key)
        if column is not None:
            require_column(frame, column, f"data.{key}", where)
    if data.cluster is not None and frame[data.cluster].isna().any():
        missing = int(frame[data.cluster].isna().sum())
        raise AuditInputError(
            f"{where}: data.cluster column {data.cluster!r} is empty in {plural(missing, 'row')}; every row needs the "
            "identifier of the patient (or other unit) it belongs to, so that its rows are resampled together."
        )
    if data.prediction is not None:
        require_column(frame, data.prediction, "data.prediction", where)
        check_probabilities(frame[data.prediction], data.prediction, where)
    reads = None
    if data.readers and (role == "internal" or all(c in frame.columns for c in data.readers)):
        for column in data.readers:
            require_column(frame, column, "data.readers", where)
        reads = reader_labels(frame, data.readers, frame[data.target], y, where)
    return Dataset(
        name=name,
        role=role,
        path=_portable_path(written, base_dir),
        sha256=sha256_file(path),
        frame=frame,
        y=y,
        x=x,
        reads=reads,
    )


# --------------------------------------------------------------------------------------------
# Arrays (.npz)
# --------------------------------------------------------------------------------------------

NPZ_SUFFIXES = (".npz",)


def is_npz(path: Path) -> bool:
    """True for a NumPy ``.npz`` archive (by extension)."""
    return Path(path).suffix.lower() in NPZ_SUFFIXES


def read_npz(path: Path, *, label: str | None = None, target: str = "y") -> tuple[np.ndarray, pd.DataFrame]:
    """Read an ``.npz`` dataset: the input array ``x`` and a table of the other per-row arrays.

    ``x`` is N×C×H×W (images) or N×F (features); uint8 images are scaled to [0, 1] (÷ 255), other
    inputs are kept as float32. Every other array with one value per row (shape (N,) or (N, 1),
    e.g. ``y``, a sensitive attribute, a site) becomes a column of the table, named by its key,
    so ``data.target``, ``data.sensitive`` and ``data.site`` name arrays. Arrays of another
    shape are ignored. Raises ``AuditInputError`` with a plain message when the file is missing or
    unreadable, ``x`` or the target array is missing, or an array's length differs from ``x``'s.
    """
    path = Path(path)
    where = label or str(path)
    require_file(path, where, "an .npz file; point to the .npz file")
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise AuditInputError(
                f"{where}: the file could not be read as .npz (it is not a zip archive); write it with numpy.savez."
            )
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if "x" not in keys:
                raise AuditInputError(
                    f"{where}: the .npz file has no array 'x' (it has {_list(keys) or 'no arrays'}); save the model "
                    f"inputs as x, e.g. np.savez(file, x=images, {target}=labels)."
                )
            if target not in keys:
                raise AuditInputError(
                    f"{where}: the .npz file has no array {target!r} for the labels (named by data.target; it has "
                    f"{_list(keys)}); save the labels under that name or correct data.target."
                )
            x = archive["x"]
            columns = {key: archive[key] for key in keys if key != "x"}
    except AuditInputError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise AuditInputError(
                f"{where}: the .npz file holds Python objects, which would have to be unpickled (that can run code); "
                "save text labels as fixed-width strings, e.g. np.asarray(labels, dtype=str)."
            ) from None
        raise AuditInputError(f"{where}: the file could not be read as .npz ({_first_line(exc)}); check that it was written with numpy.savez.") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, not a bug
        raise AuditInputError(f"{where}: the file could not be read as .npz ({_first_line(exc)}); check that it was written with numpy.savez.") from None
    if x.ndim not in (2, 4) or x.shape[0] == 0:
        hint = " (add the channel axis: x[:, None])" if x.ndim == 3 else ""
        raise AuditInputError(
            f"{where}: the array 'x' has shape {x.shape}, but it must be N×C×H×W (images) or N×F (features){hint}."
        )
    n = int(x.shape[0])
    frame = {}
    for key, values in columns.items():
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            if key == target:
                raise AuditInputError(
                    f"{where}: the label array {key!r} has shape {values.shape}; it must hold one label per row (shape ({n},))."
                )
            continue
        if values.shape[0] != n:
            raise AuditInputError(
                f"{where}: the array {key!r} has {values.shape[0]} values but 'x' has {n} rows; "
                "every per-row array must have one value per row of x."
            )
        frame[key] = values
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    elif np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating):
        x = x.astype(np.float32, copy=False)
    else:
        raise AuditInputError(f"{where}: the array 'x' holds {x.dtype} values; it must hold numbers.")
    if not np.isfinite(x).all():
        raise AuditInputError(
            f"{where}: the array 'x' holds NaN or infinite values; replace them before the audit."
        )
    x.flags.writeable = False
    return x, pd.DataFrame(frame)


def reader_labels(frame: pd.DataFrame, readers: list[str], target: pd.Series, y: np.ndarray, where: str) -> np.ndarray:
    """Several readers' labels as an ``(n, m)`` float array: 1 positive, 0 negative, NaN not read.

    Readers' columns use the target's two values (the one the target's positives carry is 1; both
    occur, :func:`binary_labels` has checked). Raises ``AuditInputError`` naming the column and the
    value when a reader used any other value.
    """
    positive, negative = target[y == 1].iloc[0], target[y == 0].iloc[0]
    out = np.full((len(frame), len(readers)), np.nan)
    for j, column in enumerate(readers):
        values = frame[column]
        read = values.notna().to_numpy()
        is_positive = (values == positive).to_numpy() & read
        is_negative = (values == negative).to_numpy() & read
        other = read & ~is_positive & ~is_negative
        if other.any():
            bad = values[other].iloc[0]
            raise AuditInputError(
                f"{where}: reader column {column!r} holds {bad!r}, which the target {target.name!r} does not use "
                f"(its values are {positive!r} and {negative!r}); code every reader's labels like the target, "
                "and leave a patient the reader did not see empty."
            )
        out[is_positive, j] = 1.0
        out[is_negative, j] = 0.0
    return out


def require_column(frame: pd.DataFrame, column: str, key: str, where: str) -> None:
    """Raise ``AuditInputError`` if ``column`` (named by spec key ``key``) is not in ``frame``."""
    if column in frame.columns:
        return
    raise AuditInputError(f"{where} has no column {column!r} (named by {key}; {describe_columns(frame, column)}")


def describe_columns(frame: pd.DataFrame, wanted: str, limit: int = 8) -> str:
    """The end of a missing-column message: a few available columns, then the closest name or a fix."""
    names = [str(column) for column in frame.columns]
    by_case = [name for name in names if name.lower() == wanted.lower()]
    close = by_case or difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    shown = ", ".join(repr(name) for name in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    fix = f"did you mean {close[0]!r}?" if close else "correct the name in the spec or add the column to the table."
    return f"the table has {shown}{more}); {fix}"


def binary_labels(values: pd.Series, column: str, positive_label: Any, where: str) -> np.ndarray:
    """Turn a target column into a read-only int8 array of 0/1 labels (1 = positive).

    Labels that are 0/1 or booleans need no ``positive_label``; any other two values do.
    Raises ``AuditInputError`` for missing labels, more than two values, a ``positive_label``
    that is not among the values, or a single class.
    """
    missing = int(values.isna().sum())
    if missing:
        raise AuditInputError(
            f"{where}: the target column {column!r} is empty in {missing} of {len(values)} rows; "
            "drop those rows or fill in their labels."
        )
    distinct = sorted(pd.unique(values).tolist(), key=lambda value: (str(type(value)), str(value)))
    if len(distinct) > 2:
        raise AuditInputError(
            f"{where}: the target column {column!r} has {len(distinct)} distinct values ({_list(distinct)}), "
            "but a binary audit needs exactly two; recode it to two classes."
        )
    if len(distinct) < 2:
        raise AuditInputError(
            f"{where}: the target column {column!r} has only one class ({_list(distinct)}); "
            "AUROC, sensitivity, specificity and calibration need both positive and negative cases."
        )
    if positive_label is not None:
        positive = matching_label(distinct, positive_label)
        if positive is None:
            raise AuditInputError(
                f"{where}: data.positive_label {positive_label!r} is not among the values of {column!r} "
                f"({_list(distinct)}); set it to the value that marks a positive case."
            )
    elif all(_is_zero_one(value) for value in distinct):
        positive = 1
    else:
        raise AuditInputError(
            f"{where}: the target column {column!r} has the values {_list(distinct)}, which are not 0/1 or true/false; "
            "set data.positive_label to the one that marks a positive case."
        )
    y = (values == positive).to_numpy(dtype=bool).astype(np.int8)
    y.flags.writeable = False
    return y


def check_probabilities(values: pd.Series, column: str, where: str) -> None:
    """Check that a prediction column holds numbers in [0, 1] with no missing values."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()].unique().tolist()[:3]
        raise AuditInputError(
            f"{where}: the prediction column {column!r} is not numeric"
            + (f" (it holds values such as {_list(bad)})" if bad else "")
            + "; it must hold the predicted probability of the positive class, between 0 and 1."
        )
    missing = int(values.isna().sum())
    if missing:
        raise AuditInputError(
            f"{where}: the prediction column {column!r} is empty in {missing} of {len(values)} rows; "
            "every row needs a predicted probability."
        )
    outside = int(((values < 0) | (values > 1)).sum())
    if outside:
        raise AuditInputError(
            f"{where}: the prediction column {column!r} has {plural(outside, 'value')} outside [0, 1] "
            f"(min {values.min():g}, max {values.max():g}); it must hold probabilities, not scores or logits."
        )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def matching_label(values: list, wanted: Any) -> Any:
    """The element of ``values`` equal to ``wanted`` (then by text, so ``1`` matches ``'1'``), or None."""
    for value in values:
        if type(value) is type(wanted) and value == wanted:
            return value
    for value in values:
        if _is_zero_one(value) and _is_zero_one(wanted) and value == wanted:
            return value
    for value in values:
        if str(value) == str(wanted):
            return value
    return None


def _is_zero_one(value: Any) -> bool:
    """True for the numbers 0 and 1 and for booleans (not for the strings '0'/'1')."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1)


def _list(values: list, limit: int = 6) -> str:
    """``['a', 'b']`` → ``'a', 'b'`` with at most ``limit`` entries."""
    shown = ", ".join(repr(_plain(value)) for value in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _plain(value: Any) -> Any:
    """numpy scalars → Python scalars, so messages read ``1`` rather than ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


def _portable_path(written: str, base_dir: Path) -> str:
    """The path as written in the spec, made relative (to the spec's folder, else the file name) if absolute."""
    path = Path(written).expanduser()
    if not path.is_absolute():
        return PurePath(written).as_posix()
    try:
        return path.relative_to(Path(base_dir).resolve()).as_posix()
    except ValueError:
        return path.name


def plural(count: int, noun: str) -> str:
    """``plural(1, 'value')`` → ``'1 value'``; ``plural(2, 'value')`` → ``'2 values'``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, with its type when the message is empty."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
