"""Tables (CSV, Parquet) and arrays (NPZ) → validated datasets with roles.

``load_datasets`` reads the internal test set and every external site named in the spec,
hashes each file, turns the target column into 0/1 labels and checks every column the spec
names. Every problem becomes an :class:`~audit.errors.AuditInputError` naming the dataset and
the file.

Input size is bounded before anything is loaded: no file may take more than
``settings.max_input_mb`` (default 2048 MB, 1 MB = 2**20 bytes) once decompressed. A plain CSV
counts its size on disk; a compressed CSV (``.gz``, ``.bz2``, ``.xz``, ``.zip``) is decompressed as
a stream that stops past the limit (a gzip trailer's declared size is checked first); a Parquet
file counts its metadata's uncompressed sizes and ``rows × row width``; an ``.npz`` archive counts
the sizes its zip directory and each array's ``.npy`` header declare. Zipped model files
(``.skops``, ``.pt``) are measured by :func:`check_archive_size`.
"""

from __future__ import annotations

import bz2
import difflib
import gzip
import hashlib
import importlib.util
import io
import lzma
import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import AuditInputError
from audit.spec import AuditSpec, resolve
from audit.tasks import get_task

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".zst")
FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV (tab-separated)", "parquet": "Parquet"}
#: 1 MB as ``settings.max_input_mb`` counts it.
MB = 1 << 20
#: The default of ``settings.max_input_mb``: the most one input file may take once decompressed.
DEFAULT_MAX_INPUT_MB = 2048


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


def read_table(path: Path, *, label: str | None = None, max_bytes: int | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/TXT (comma- or tab-separated) or Parquet file into a DataFrame.

    ``label`` (e.g. ``"dataset 'test'"``) prefixes error messages; ``max_bytes`` is the most the
    file may take once decompressed (default: :data:`DEFAULT_MAX_INPUT_MB`), checked before the
    table is loaded (see the module docstring). Raises ``AuditInputError`` when the file is
    missing, too large, has an unsupported extension, cannot be parsed or has no rows.
    """
    path = Path(path)
    where = label or str(path)
    limit = DEFAULT_MAX_INPUT_MB * MB if max_bytes is None else int(max_bytes)
    require_file(path, where, "a table file; point to a .csv or .parquet file")
    kind = table_format(path)
    if kind is None:
        raise AuditInputError(
            f"{where}: unsupported file type {_short(path.suffix) or '(no extension)'!r}; "
            "use CSV (.csv, .tsv, .txt, optionally compressed like .csv.gz) or Parquet (.parquet, .pq)."
        )
    try:
        if kind == "parquet":
            check_parquet_size(path, where, limit)
            frame = pd.read_parquet(path)
        else:
            frame = _read_csv(path, "\t" if kind == "tsv" else ",", where, limit)
    except AuditInputError:
        raise
    except pd.errors.EmptyDataError:
        raise AuditInputError(f"{where}: the file is empty; it needs a header row and at least one data row.") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file, not a bug
        raise AuditInputError(
            f"{where}: the file could not be read as {FORMAT_NAMES[kind]} ({first_line(exc)}); "
            f"check that it is a valid {FORMAT_NAMES[kind]} file."
        ) from None
    if len(frame) == 0:
        raise AuditInputError(f"{where}: the table has no rows; it needs at least one data row.")
    return frame


def input_limit(spec: AuditSpec) -> int:
    """``settings.max_input_mb`` in bytes: the most one input file may take once decompressed."""
    return int(spec.settings.max_input_mb * MB)


# --------------------------------------------------------------------------------------------
# Bounded decompression
# --------------------------------------------------------------------------------------------


class _PastLimit(Exception):
    """Raised by :class:`_CountingReader` once more than its limit has been read."""


class _CountingReader(io.RawIOBase):
    """A binary stream over ``source`` that raises :class:`_PastLimit` once more than ``limit`` bytes were read.

    ``source.read(n)`` must return at most ``n`` bytes (as gzip, bz2, lzma and zip member streams
    do), so no more than the limit plus one buffer is ever decompressed.
    """

    def __init__(self, source: Any, limit: int):
        self.source = source
        self.limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise _PastLimit
        buffer[: len(data)] = data
        return len(data)


def _read_csv(path: Path, sep: str, where: str, limit: int) -> pd.DataFrame:
    """``pd.read_csv``, the file's decompressed size held to ``limit`` bytes (see :func:`decompressed_stream`)."""
    on_disk = path.stat().st_size
    if path.suffix.lower() not in COMPRESSION_SUFFIXES:
        if on_disk > limit:
            raise too_large(where, f"the file is {size_text(on_disk)}", limit, needed=on_disk)
        return pd.read_csv(path, sep=sep)
    with decompressed_stream(path, where, limit) as stream:
        if stream is None:  # pandas says why it cannot read the file (zero or several files in a zip, no zstandard)
            return pd.read_csv(path, sep=sep)
        try:
            return pd.read_csv(io.BufferedReader(_CountingReader(stream, limit)), sep=sep)
        except _PastLimit:
            raise too_large(
                where, f"the file is {size_text(on_disk)} compressed but decompresses to more than "
                f"{size_text(limit)} (reading stopped there)", limit,
            ) from None


@contextmanager
def decompressed_stream(path: Path, where: str, limit: int) -> Iterator[Any]:
    """A stream of a compressed table's decompressed bytes, each ``read(n)`` returning at most ``n`` bytes.

    A gzip file whose trailer declares more than ``limit`` bytes is refused at once (the trailer
    holds the size modulo 2**32, so it can only understate it); a zip archive's one file must be
    stored or deflated. Yields None when pandas should report the problem itself.
    """
    suffix = path.suffix.lower()
    if suffix == ".gz":
        declared = _gzip_declared_size(path)
        if declared > limit:
            raise too_large(
                where, f"the file is {size_text(path.stat().st_size)} compressed and its gzip trailer declares "
                f"{size_text(declared)} decompressed", limit, needed=declared,
            )
        with gzip.open(path, "rb") as stream:
            yield stream
    elif suffix in (".bz2", ".xz"):
        with (bz2.open if suffix == ".bz2" else lzma.open)(path, "rb") as stream:
            yield stream
    elif suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if len(names) != 1:
                yield None
                return
            info = archive.getinfo(names[0])
            _require_zip_method(info, where, "the zip archive's file", "write it with the zip tool's defaults or as .csv.gz")
            with archive.open(info) as stream:
                yield stream
    elif suffix == ".zst" and importlib.util.find_spec("zstandard") is not None:
        import zstandard

        with zstandard.open(path, "rb") as stream:
            yield stream
    else:
        yield None


def _gzip_declared_size(path: Path) -> int:
    """The size a gzip file's trailer declares (ISIZE, the last member's size modulo 2**32); 0 if too short."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        if handle.tell() < 18:
            return 0
        handle.seek(-4, 2)
        return struct.unpack("<I", handle.read(4))[0]


def check_parquet_size(path: Path, where: str, limit: int) -> None:
    """Refuse a Parquet file whose data would take more than ``limit`` bytes, from its metadata alone.

    The size is the larger of the row groups' uncompressed sizes and ``rows × row width`` (the
    fixed width of each column's Arrow type, 4 bytes for text and nested columns), which also
    catches a long run of repeated values encoded in a few bytes. A file whose metadata cannot be
    read is left to the reader, which says what is wrong with it.
    """
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            metadata, schema = parquet.metadata, parquet.schema_arrow
    except Exception:  # noqa: BLE001 - not Parquet: pd.read_parquet gives the plain message
        return
    stored = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        columns = sum(group.column(j).total_uncompressed_size for j in range(group.num_columns))
        stored += max(group.total_byte_size, columns)
    rows = int(metadata.num_rows)
    size = max(stored, rows * sum(_arrow_width(field.type) for field in schema))
    if size > limit:
        raise too_large(
            where, f"the Parquet file is {size_text(path.stat().st_size)} on disk but its {rows:,} row{'' if rows == 1 else 's'} take "
            f"{size_text(size)} uncompressed (from its metadata)", limit, needed=size,
        )


def _arrow_width(arrow_type: Any) -> int:
    """Bytes per row an Arrow column takes at least: its fixed width, a dictionary's index, else 4 (an offset)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.index_type
    try:
        return max(1, arrow_type.bit_width // 8)
    except ValueError:
        return 4


def check_npz_size(path: Path, where: str, limit: int) -> None:
    """Refuse an ``.npz`` archive whose arrays would take more than ``limit`` bytes, before reading them.

    Each member must be a NumPy ``.npy`` array, stored or deflated (what ``numpy.savez`` and
    ``numpy.savez_compressed`` write). Its size is the larger of what the zip directory declares
    and what the ``.npy`` header declares (shape × item size); ``numpy.load`` reads no more than
    the header declares and zip reads no more than the directory declares, so a lying header
    cannot make either read more.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {}
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                _require_zip_method(info, where, f"the .npz file's array {_short(name)!r}", "write it with numpy.savez")
                sizes[name] = max(info.file_size, _npy_declared_size(archive, info, name, where))
    except AuditInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged archive, whatever zipfile raises
        raise AuditInputError(
            f"{where}: the file could not be read as .npz ({first_line(exc)}); check that it was written with numpy.savez."
        ) from None
    total = sum(sizes.values())
    if total > limit:
        largest = max(sizes, key=sizes.__getitem__)
        raise too_large(
            where, f"the .npz file is {size_text(path.stat().st_size)} on disk but its arrays take {size_text(total)} "
            f"decompressed ({_short(largest)!r} alone {size_text(sizes[largest])})", limit, needed=total,
        )


def _npy_declared_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, where: str) -> int:
    """Bytes the ``.npy`` header of a zip member declares (shape × item size), reading only the header."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member)
        except Exception:  # noqa: BLE001 - not an array: numpy would read it whole as bytes
            raise AuditInputError(
                f"{where}: the .npz file holds {_short(name)!r}, which is not a NumPy array; write the file with "
                "numpy.savez, which stores arrays only."
            ) from None
    return math.prod(int(length) for length in shape) * int(dtype.itemsize)


def check_archive_size(path: Path, where: str, limit: int) -> None:
    """Refuse a zip archive (a ``.skops`` or ``.pt`` model file) that decompresses to more than ``limit`` bytes.

    Members must be stored or deflated. Deflated members are measured by inflating their raw data
    in bounded steps, stopping past the limit, so that a zip directory understating a size is
    caught too (a reader that asks for a member whole inflates all of it before cutting it to the
    declared size). Does nothing for a file that is not a zip archive, nor for a damaged one (its
    reader fails at the same place, having read no more than was measured, and says so).
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            total = 0
            for info in archive.infolist():
                _require_zip_method(info, where, f"the archive's file {_short(info.filename)!r}", "save the model again")
                total += max(info.file_size, _inflated_size(raw, info, limit - total))
                if total > limit:
                    break
    except AuditInputError:
        raise
    except Exception:  # noqa: BLE001 - a damaged archive: the model loader gives the plain message
        return
    if total > limit:
        raise too_large(
            where, f"the file is {size_text(path.stat().st_size)} on disk but decompresses to more than {size_text(limit)}",
            limit,
        )


def _inflated_size(raw: Any, info: zipfile.ZipInfo, budget: int) -> int:
    """Bytes a zip member really decompresses to, inflating at most 1 MB at a time and stopping past ``budget``."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    raw.seek(info.header_offset + 26)
    name_length, extra_length = struct.unpack("<2H", raw.read(4))
    raw.seek(info.header_offset + 30 + name_length + extra_length)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left, size = info.compress_size, 0
    while left > 0 and size <= budget:
        data = raw.read(min(left, MB))
        if not data:
            break
        left -= len(data)
        while data and size <= budget:
            size += len(inflater.decompress(data, MB))
            data = inflater.unconsumed_tail
    return size


def _require_zip_method(info: zipfile.ZipInfo, where: str, what: str, fix: str) -> None:
    """A zip member must be stored or deflated: other methods cannot be decompressed in bounded steps."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        method = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}.get(info.compress_type, f"method {info.compress_type}")
        raise AuditInputError(f"{where}: {what} is compressed with {method}, which trustaudit does not read; {fix}.")


def too_large(where: str, found: str, limit: int, *, needed: int | None = None) -> AuditInputError:
    """The error for a file above the input-size limit: ``found`` gives its sizes, ``needed`` the bytes it needs if known."""
    raise_to = f" to at least {math.ceil(needed / MB)}" if needed is not None else ""
    return AuditInputError(
        f"{where}: {found}, above the input-size limit of {limit / MB:g} MB (settings.max_input_mb); "
        f"if the file is genuine and this machine has the memory, raise settings.max_input_mb{raise_to}."
    )


def size_text(n: int) -> str:
    """``2147483648`` → ``'2.0 GB'``, ``1536`` → ``'1.5 KB'``, ``12`` → ``'12 bytes'`` (1 KB = 1024 bytes)."""
    for unit, scale in (("GB", 1 << 30), ("MB", MB), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return plural(int(n), "byte")


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
        x, frame = read_npz(path, label=where, target=spec.data.target_columns[0], max_bytes=input_limit(spec))
    else:
        frame = read_table(path, label=where, max_bytes=input_limit(spec))
    data = spec.data
    for column in data.target_columns:
        require_column(frame, column, "data.target", where)
    for key in ("mask", "image"):  # segmentation: the columns of file paths
        if getattr(data, key, None) is not None:
            require_column(frame, getattr(data, key), f"data.{key}", where)
    task = get_task(spec.task)
    y = task.read_target(frame, data, where).values
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
    for column in data.prediction_columns:
        require_column(frame, column, "data.prediction", where)
    if data.prediction is not None:
        task.check_prediction_column(frame, data, where)
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


def read_npz(
    path: Path, *, label: str | None = None, target: str = "y", max_bytes: int | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read an ``.npz`` dataset: the input array ``x`` and a table of the other per-row arrays.

    ``x`` is N×C×H×W (images) or N×F (features); uint8 images are scaled to [0, 1] (÷ 255), other
    inputs are kept as float32. Every other array with one value per row (shape (N,) or (N, 1),
    e.g. ``y``, a sensitive attribute, a site) becomes a column of the table, named by its key,
    so ``data.target``, ``data.sensitive`` and ``data.site`` name arrays. Arrays of another
    shape are ignored. Raises ``AuditInputError`` with a plain message when the file is missing or
    unreadable, its arrays would take more than ``max_bytes`` (default :data:`DEFAULT_MAX_INPUT_MB`)
    once decompressed (checked before reading them, :func:`check_npz_size`), ``x`` or the target
    array is missing, or an array's length differs from ``x``'s.
    """
    path = Path(path)
    where = label or str(path)
    require_file(path, where, "an .npz file; point to the .npz file")
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise AuditInputError(
                f"{where}: the file could not be read as .npz (it is not a zip archive); write it with numpy.savez."
            )
    check_npz_size(path, where, DEFAULT_MAX_INPUT_MB * MB if max_bytes is None else int(max_bytes))
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
        raise AuditInputError(f"{where}: the file could not be read as .npz ({first_line(exc)}); check that it was written with numpy.savez.") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, not a bug
        raise AuditInputError(f"{where}: the file could not be read as .npz ({first_line(exc)}); check that it was written with numpy.savez.") from None
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
                    f"{where}: the label array {_short(key)!r} has shape {values.shape}; it must hold one label per row (shape ({n},))."
                )
            continue
        if values.shape[0] != n:
            raise AuditInputError(
                f"{where}: the array {_short(key)!r} has {values.shape[0]} values but 'x' has {n} rows; "
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
                f"{where}: reader column {column!r} holds {_shown(bad)}, which the target {target.name!r} does not use "
                f"(its values are {_shown(positive)} and {_shown(negative)}); code every reader's labels like the target, "
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
    shown = ", ".join(repr(_short(name)) for name in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    fix = f"did you mean {_short(close[0])!r}?" if close else "correct the name in the spec or add the column to the table."
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
    shown = ", ".join(_shown(value) for value in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _shown(value: Any) -> str:
    """A value as a message shows it: plain (never a numpy repr), quoted if text, cut to 40 characters."""
    value = _plain(value)
    return repr(_short(value)) if isinstance(value, str) else _short(repr(value))


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


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (at most ``limit`` characters), its type when the message is empty."""
    text = str(exc).strip().splitlines()
    return _short(text[0], limit) if text else type(exc).__name__


def _short(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when cut (names and values from files in messages)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
