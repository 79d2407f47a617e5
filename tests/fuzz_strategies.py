"""Fuzzing trustaudit from its own spec schema: hypothesis strategies, and a runner that judges one input.

Shared by ``tests/test_fuzz.py`` (a few hundred derandomised examples in the suite) and
``benchmarks/fuzz.py`` (thousands, with the counts for the README). An example is an audit a user
could hand us, made in four steps:

1. **Tables** (:func:`tables`): small tables (8-90 patients) written as CSV, TSV, Parquet, gzip CSV
   or NPZ, with the trouble real data has: one positive, constant or hard 0/1 predictions,
   NaN / inf / 1e308 in a numeric column (used or unused), tiny subgroups (4-19 patients), many
   groups, long labels, numpy dtypes, missing columns, duplicate ids, damaged files.
2. **A spec** (:func:`valid_spec`): made by walking ``AuditSpec.model_json_schema()``. Every property
   of every section may appear; enums (``task``, ``checks``, ``report``, ...) and bounds come from
   the schema, so a task, key or bound added later is fuzzed without touching this file. Values that
   name something outside the schema (a file, a column, a group label, a checklist) come from the
   hooks in :func:`hook_for`; settings that only cost time (``COSTLY``) are kept at their cheapest
   valid value (``n_resamples`` at its minimum, 50).
3. **Mutations** (:func:`mutation`): none to three of: a value out of range or of the wrong type at any
   path of the schema (:func:`invalid_values`), a valid value passed as a numpy scalar or array, a key
   removed or misspelt, a hostile structure (nesting 25 or 1,200 deep, a YAML alias bomb).
4. **A route**: ``audit.run(dict)``, ``audit.run(path to YAML)`` or ``trustaudit run`` in process.

:func:`run_example` runs one example in a directory of its own and returns an :class:`Outcome`:
``success``, ``input error`` (``AuditInputError``, a clean refusal), ``internal error`` (any other
exception, or exit 1) or ``violation`` (a contract broken without an exception: a message with a
numpy repr, too long or on several lines; results.json not strict JSON; a temporary file left behind;
files written on exit 2; a user's file touched; code imported without ``trust: true``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from hypothesis import strategies as st

import audit
import audit.errors
from audit.errors import AuditInputError
from audit.spec import AuditSpec

AUDIT_DIR = Path(audit.__file__).resolve().parent
REPO = AUDIT_DIR.parent

OUTCOMES = ("success", "input error", "internal error", "violation")
#: A message longer than this is a wall of text, not one plain sentence: the project's own limit
#: (``audit.errors.MAX_MESSAGE``) where it declares one, else about 500 characters.
MAX_MESSAGE = getattr(audit.errors, "MAX_MESSAGE", 500)
#: numpy reprs a user should never read: np.int64(1), np.str_('F'), np.True_, array([...]), dtype('<U1'), numpy.int64.
NUMPY_REPR = re.compile(
    r"\bnp\.(?:u?int|float|str_|bool|True_|False_|complex|datetime)|\bnumpy\.(?!savez|load\b|save\b)|\barray\(\[|\bdtype\("
)


# ==============================================================================================
# Small helpers
# ==============================================================================================


def chance(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws; False for hypothesis' simplest choice (so the simplest
    example has no optional extras)."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


def weighted(*pairs: tuple[Any, int]) -> st.SearchStrategy:
    """``sampled_from`` with weights: ``weighted(("a", 3), ("b", 1))``; the first value is the simplest."""
    return st.sampled_from([value for value, weight in pairs for _ in range(weight)])


@dataclass(frozen=True)
class Hostile:
    """A structure built only when the spec is handed over, so that specs stay printable:
    ``nested`` (a list ``size`` levels deep) or ``aliases`` (a YAML alias bomb of ``size`` levels,
    9 ** size values once expanded; as a dict spec, the same shared lists)."""

    kind: str
    size: int

    def build(self) -> Any:
        if self.kind == "nested":
            value: Any = []
            for _ in range(self.size):
                value = [value]
            return value
        value = ["lol"] * 9
        for _ in range(self.size):
            value = [value] * 9
        return value

    def yaml(self) -> str:
        if self.kind == "nested":
            return "[" * self.size + "]" * self.size
        levels = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
        levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, self.size + 1)]
        return "[" + ", ".join(levels) + "]"


def plain(value: Any) -> Any:
    """The spec as YAML can hold it: numpy scalars and arrays become Python values, tuples lists."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def built(value: Any) -> Any:
    """The spec as ``audit.run`` receives it: every :class:`Hostile` built."""
    if isinstance(value, Hostile):
        return value.build()
    if isinstance(value, dict):
        return {k: built(v) for k, v in value.items()}
    if isinstance(value, list):
        return [built(v) for v in value]
    return value


# ==============================================================================================
# Tables
# ==============================================================================================

#: Numeric columns: model inputs (feature1, feature2) and columns nobody uses (lab, time).
NUMERIC_COLUMNS = ("feature1", "feature2", "lab", "time")
FEATURES = ["feature1", "feature2"]


@dataclass
class Table:
    """One data file: its name as the spec writes it (the suffix says the format), its content and
    any damage done to the file after writing it."""

    name: str
    frame: pd.DataFrame
    positive: Any = 1  # the target value that marks a positive case
    damage: str | None = None
    bulk_mb: int = 0  # compressible padding, for settings.max_input_mb

    def describe(self, rows: int = 12) -> str:
        text = f"{self.name}: {len(self.frame)} rows x {self.frame.shape[1]} columns"
        text += f"; damage: {self.damage}" if self.damage else ""
        text += f"; +{self.bulk_mb} MB padding" if self.bulk_mb else ""
        dtypes = ", ".join(f"{c}:{t}" for c, t in self.frame.dtypes.astype(str).items())
        shown = self.frame.head(rows).to_csv(index=False)
        shown = "\n".join(line if len(line) < 200 else line[:197] + "..." for line in shown.splitlines())
        more = f"\n... ({len(self.frame) - rows} more rows)" if len(self.frame) > rows else ""
        return f"{text}\n  dtypes: {dtypes}\n{shown}{more}"


def kinds(survived: tuple, refused: tuple, trouble: bool) -> st.SearchStrategy:
    """Weighted kinds of a value: those an audit must survive, and with ``trouble`` also those it must
    refuse with a plain message."""
    return weighted(*survived, *(refused if trouble else ()))


@st.composite
def outcomes(draw, n: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 outcomes: usually about 30% positive; also a single positive, a single negative, two
    positives, rare or balanced outcomes."""
    shape = draw(weighted(("30%", 4), ("one positive", 2), ("one negative", 1), ("two positives", 1), ("5%", 1), ("50%", 1)))
    positives = {
        "30%": max(1, round(0.3 * n)), "one positive": 1, "one negative": n - 1, "two positives": 2,
        "5%": max(1, round(0.05 * n)), "50%": n // 2,
    }[shape]
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, size=positives, replace=False)] = 1
    return y


@st.composite
def target_coding(draw, y: np.ndarray, trouble: bool, coding: str | None = None) -> tuple[np.ndarray, Any]:
    """The target column and the value that marks a positive: 0/1, booleans, floats or text; with
    ``trouble`` also a third class or a missing label."""
    coding = coding or draw(kinds((("0/1", 6), ("bool", 1), ("text", 2), ("float", 1)), (("three classes", 1), ("missing", 1)), trouble))
    if coding == "bool":
        return y.astype(bool), True
    if coding == "text":
        return np.where(y == 1, "pos", "neg"), "pos"
    if coding == "float":
        return y.astype(float), 1
    column = y.astype(object) if coding == "missing" else y.copy()
    if coding == "three classes":
        column[0] = 2
    if coding == "missing":
        column[-1] = None
    return column, 1


@st.composite
def predictions(draw, y: np.ndarray, rng: np.random.Generator, trouble: bool) -> np.ndarray:
    """P(positive): informative, noise, constant, hard 0/1, ties, backwards, float32 or extremes; with
    ``trouble`` also values outside [0, 1], a missing value or text."""
    kind = draw(kinds(
        (("informative", 8), ("constant", 2), ("hard 0/1", 2), ("noise", 1), ("ties", 1), ("backwards", 1), ("float32", 1), ("extremes", 1)),
        (("out of range", 1), ("missing", 1), ("text", 1)),
        trouble,
    ))
    n = len(y)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    if kind == "constant":
        return np.full(n, draw(st.sampled_from([0.5, 0.0, 1.0, 0.3])))
    if kind == "hard 0/1":
        return draw(st.sampled_from([y.copy(), 1 - y, rng.integers(0, 2, n)]))
    if kind == "noise":
        return rng.random(n)
    if kind == "ties":
        return np.round(p, 1)
    if kind == "backwards":
        return 1 - p
    if kind == "float32":
        return p.astype(np.float32)
    if kind == "extremes":
        return np.where(y == 1, 1 - 1e-16, 5e-324)
    if kind == "out of range":
        p[0] = draw(st.sampled_from([1.5, -0.1, 100.0]))
    if kind == "missing":
        p[rng.integers(0, n)] = np.nan
    if kind == "text":
        return np.where(p > 0.5, "high", "low")
    return p


@st.composite
def group_labels(draw, n: int, rng: np.random.Generator) -> np.ndarray:
    """A sensitive attribute: a few groups, or the trouble groups bring: one group of 4-19 patients,
    many small groups, long labels, numeric or boolean codes, odd text, missing values, one group."""
    kind = draw(weighted(
        ("three groups", 3), ("tiny group", 2), ("many groups", 2), ("long labels", 1), ("numeric codes", 1),
        ("booleans", 1), ("odd text", 1), ("missing", 1), ("one group", 1),
    ))
    if kind == "tiny group":
        size = min(n - 1, draw(st.integers(4, 19)))
        labels = np.where(rng.random(n) < 0.5, "A", "B").astype(object)
        labels[rng.choice(n, size=size, replace=False)] = "tiny"
        return labels
    if kind == "many groups":
        count = draw(st.integers(20, 60))
        return np.array([f"g{i}" for i in rng.integers(0, count, n)], dtype=object)
    if kind == "long labels":
        length = draw(st.sampled_from([300, 2000, 6000]))
        return np.array([letter * length for letter in rng.choice(["x", "y"], n)], dtype=object)
    if kind == "numeric codes":
        return rng.integers(1, 4, n)
    if kind == "booleans":
        return rng.random(n) < 0.4
    if kind == "odd text":
        return rng.choice(np.array(["Ä ö/ü", "<b>x</b>", "a,b", "nan", " ", "{{ x }}", "日本"], dtype=object), n)
    labels = rng.choice(np.array(["A", "B", "C"], dtype=object), n)
    if kind == "missing":
        labels[rng.random(n) < 0.2] = None
    if kind == "one group":
        labels[:] = "A"
    return labels


@st.composite
def patient_ids(draw, n: int, rng: np.random.Generator) -> np.ndarray:
    """Identifiers: unique numbers, text, or with duplicates."""
    kind = draw(weighted(("numbers", 3), ("text", 1), ("duplicates", 2)))
    ids = np.arange(1, n + 1)
    if kind == "duplicates":
        ids[rng.choice(n, size=max(1, n // 5), replace=False)] = 1
    if kind == "text":
        return np.array([f"P{i:04d}" for i in ids], dtype=object)
    return ids


@st.composite
def readers(draw, target: np.ndarray, rng: np.random.Generator, trouble: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two readers' labels coded like the target, some not read; with ``trouble`` now and then a value
    the target does not use."""
    values = pd.unique(pd.Series(target).dropna())
    columns = []
    for _ in range(2):
        read = pd.Series(target, dtype=object).copy()
        flip = rng.random(len(read)) < 0.15
        if len(values) >= 2:
            read[flip] = np.where(read[flip] == values[0], values[1], values[0])
        read[rng.random(len(read)) < 0.1] = None
        columns.append(read.to_numpy(copy=True))
    if trouble and chance(draw, 4):
        columns[1][0] = "unsure"
    return columns[0], columns[1]


@st.composite
def number_trouble(draw, frame: pd.DataFrame, rng: np.random.Generator, trouble: bool) -> pd.DataFrame:
    """NaN, inf, 1e308 (twice, so that sums overflow) or huge integers in one numeric column: one nobody
    uses (lab, time), or with ``trouble`` a model input or the prediction."""
    kind = draw(weighted((None, 3), ("nan", 1), ("inf", 1), ("-inf", 1), ("1e308 twice", 1), ("huge integers", 1)))
    candidates = (*NUMERIC_COLUMNS, "prediction") if trouble else ("lab", "time")
    columns = [c for c in candidates if c in frame and pd.api.types.is_numeric_dtype(frame[c])]
    if kind is None or not columns:
        return frame
    column = draw(st.sampled_from(columns))
    rows = rng.choice(len(frame), size=min(2, len(frame)), replace=False)
    frame = frame.copy()
    if kind == "huge integers":
        frame[column] = np.full(len(frame), 2**62, dtype=np.int64)
        return frame
    value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "1e308 twice": 1e308}[kind]
    frame[column] = frame[column].astype(float)
    frame.loc[frame.index[rows], column] = value
    return frame


@st.composite
def numpy_dtypes(draw, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of narrow numpy types (int8, float32, uint8, category), as Parquet keeps them."""
    if not chance(draw, 3):
        return frame
    frame = frame.copy()
    for column in draw(st.lists(st.sampled_from(list(frame.columns)), max_size=3, unique=True)):
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            frame[column] = values.astype(np.uint8)
        elif pd.api.types.is_integer_dtype(values) and values.between(-128, 127).all():
            frame[column] = values.astype(np.int8)
        elif pd.api.types.is_float_dtype(values):
            frame[column] = values.astype(np.float32)
        else:
            frame[column] = values.astype("category")
    return frame


@st.composite
def patient_table(draw, trouble: bool, coding: str | None = None) -> tuple[pd.DataFrame, Any]:
    """A table of 8-90 patients with every column a spec may name, and the target value of a positive.
    With ``trouble`` a column or two may be missing."""
    n = draw(st.integers(8, 90))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = draw(outcomes(n, rng))
    target, positive = draw(target_coding(y, trouble, coding))
    reader1, reader2 = draw(readers(target, rng, trouble))
    frame = pd.DataFrame({
        "target": target,
        "prediction": draw(predictions(y, rng, trouble)),
        "feature1": rng.normal(50, 10, n) + 5 * y,
        "feature2": rng.normal(0, 1, n),
        "lab": rng.lognormal(0, 1, n),
        "sex": rng.choice(np.array(["F", "M"], dtype=object), n),
        "group": draw(group_labels(n, rng)),
        "id": draw(patient_ids(n, rng)),
        "site": rng.choice(np.array(["north", "south", "east"], dtype=object)[: draw(st.integers(1, 3))], n),
        "cluster": None,  # below: patients of one site and one outcome
        "reader1": reader1,
        "reader2": reader2,
        "time": rng.exponential(5, n),
        "event": y.copy(),
        "grade": rng.integers(1, 4, n),
    })
    frame["cluster"] = frame["site"] + "-" + pd.Series(y).astype(str) + "-" + pd.Series(rng.integers(0, max(1, n // 6), n)).astype(str)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = draw(numpy_dtypes(draw(number_trouble(frame, rng, trouble))))
    if trouble and chance(draw, 6):
        frame = frame.drop(columns=draw(st.lists(st.sampled_from(list(frame.columns)), min_size=1, max_size=2, unique=True)))
    return frame, positive


#: How a file is damaged after it is written.
FILE_DAMAGE = ("empty", "header only", "truncated", "garbage bytes", "not UTF-8")
FORMATS = ("csv", "tsv", "parquet", "csv.gz", "npz")


@st.composite
def table_file(draw, stem: str, trouble: bool, arrays: bool, coding: str | None = None) -> Table:
    """A table written as CSV, TSV, Parquet, gzip CSV or (when ``arrays``: the spec reads no model
    inputs from a table) NPZ; now and then padded (for ``settings.max_input_mb``); with ``trouble``
    also a wrong extension or a damaged file."""
    frame, positive = draw(patient_table(trouble, coding))
    formats = [(f, 4) for f in FORMATS if arrays or f != "npz"]
    suffix = draw(kinds(tuple(formats), (("txt", 1), ("xlsx", 1)), trouble))
    damage = draw(st.sampled_from(FILE_DAMAGE)) if trouble and chance(draw, 8) else None
    bulk = draw(st.sampled_from([2, 3])) if chance(draw, 15) else 0
    return Table(f"{stem}.{suffix}", frame, positive, damage, bulk)


@dataclass
class Tables:
    """The files of one example: the internal test set and, when drawn, external sites, a conformal
    calibration set and a training table (for the leakage check)."""

    test: Table
    external: list[Table] = field(default_factory=list)
    calibration: Table | None = None
    train: Table | None = None

    def all(self) -> list[Table]:
        return [t for t in (self.test, *self.external, self.calibration, self.train) if t is not None]


@st.composite
def tables(draw, trouble: bool, source: str) -> Tables:
    """The test set, 0-2 external sites, maybe a calibration set and a training table. Sites code the
    outcome like the test set unless there is ``trouble``."""
    arrays = source in ("column", "none")
    model_classes = source in ("object", "file") and not trouble  # the model's classes are 0 and 1
    test = draw(table_file("test", trouble, arrays, "0/1" if model_classes else None))
    coding = None if trouble else ("text" if test.positive == "pos" else "bool" if test.positive is True else "0/1")
    external = [draw(table_file(f"site{i}", trouble, arrays, coding)) for i in range(draw(weighted((0, 2), (1, 2), (2, 1))))]
    calibration = draw(table_file("calibration", trouble, arrays, coding)) if chance(draw, 6) else None
    train = draw(table_file("train", trouble, arrays=False)) if chance(draw, 6) else None
    return Tables(test, external, calibration, train)


def write_table(table: Table, directory: Path) -> None:
    """Write ``table`` in the format its name says (CSV for an unknown suffix), then damage it."""
    path = directory / table.name
    frame = table.frame
    if table.bulk_mb:
        frame = frame.assign(bulk="0" * (table.bulk_mb * 2**20 // max(1, len(frame))))
    name = table.name.lower()
    if name.endswith(".npz"):
        _write_npz(frame, path, table.bulk_mb)
    elif name.endswith(".parquet"):
        _parquet_safe(frame).to_parquet(path, index=False)
    elif name.endswith(".gz"):
        frame.to_csv(path, index=False, compression="gzip")
    else:
        frame.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    if table.damage:
        _damage(path, table.damage)


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding values of several types as text (Parquet wants one type per column); missing stays missing."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column].astype(object)
        if len({type(v) for v in values.dropna()}) > 1:
            frame[column] = values.map(lambda v: None if pd.isna(v) else str(v))
    return frame


def _write_npz(frame: pd.DataFrame, path: Path, bulk_mb: int) -> None:
    """The model inputs as ``x`` (N x features, float32), every other column as a per-row array."""
    arrays: dict[str, np.ndarray] = {}
    features = [c for c in FEATURES if c in frame]
    if features:
        arrays["x"] = frame[features].to_numpy(dtype=np.float32)
    for column in frame.columns:
        if column in features or column == "bulk":
            continue
        values = frame[column].astype(object) if isinstance(frame[column].dtype, pd.CategoricalDtype) else frame[column]
        if values.dtype == object:  # numbers with gaps as floats with NaN (as numpy keeps them), else text
            numbers = pd.to_numeric(values, errors="coerce")
            values = numbers if numbers.notna().sum() == values.notna().sum() else values.astype(str)
        arrays[column] = values.to_numpy()
    if bulk_mb:
        arrays["bulk"] = np.zeros(bulk_mb * 2**20, dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def _damage(path: Path, damage: str) -> None:
    data = path.read_bytes()
    if damage == "empty":
        data = b""
    elif damage == "header only":
        data = data.split(b"\n", 1)[0] + b"\n" if not data.startswith((b"PK", b"PAR1", b"\x1f\x8b")) else data[:64]
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage bytes":
        data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    elif damage == "not UTF-8":
        data = data.replace(b"F", "\xe9".encode("latin-1"), 3) if not data.startswith((b"PK", b"PAR1", b"\x1f\x8b")) else data
    path.write_bytes(data)


# ==============================================================================================
# Models
# ==============================================================================================

#: How the probabilities reach the audit: a column, a fitted object passed to ``audit.run``, a model
#: file named in the spec, or neither (a spec error).
SOURCES = ("column", "object", "file", "none")
ARCHITECTURE_MODULE = '''"""A network builder for the fuzz tests: importing it leaves a marker, so untrusted imports show."""
import pathlib

pathlib.Path(__file__).with_name("ARCHITECTURE_IMPORTED").write_text("imported")


def build():
    import torch

    return torch.nn.Linear(2, 1)
'''


@functools.cache
def fitted_model():
    """A logistic regression on feature1 and feature2 (with ``feature_names_in_``)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"feature1": rng.normal(50, 10, 200), "feature2": rng.normal(0, 1, 200)})
    y = (x["feature1"] + 10 * rng.normal(0, 1, 200) > 52).astype(int)
    return LogisticRegression().fit(x, y)


@functools.cache
def model_file_bytes(name: str) -> bytes:
    """The bytes of the model files a spec may name: skops, pickle, a torch state dict of a Linear(2, 1)."""
    if name.endswith(".skops"):
        import skops.io

        return skops.io.dumps(fitted_model())
    if name.endswith(".pkl"):
        import pickle

        return pickle.dumps(fitted_model())
    if name.endswith(".pt"):
        import torch

        buffer = io.BytesIO()
        torch.save({"weight": torch.zeros(1, 2), "bias": torch.zeros(1)}, buffer)
        return buffer.getvalue()
    return b"\x00not a model\x00" * 8  # model.onnx


MODEL_FILES = ("model.skops", "model.pkl", "model.pt", "model.onnx")


# ==============================================================================================
# The schema, walked
# ==============================================================================================


@functools.cache
def schema() -> dict:
    """The spec's JSON schema, as the code in audit/spec.py declares it today."""
    return AuditSpec.model_json_schema()


def resolved(node: dict) -> dict:
    """``node`` with a ``$ref`` followed."""
    while "$ref" in node:
        node = schema()["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def alternatives(node: dict) -> list[dict]:
    """The branches a value may take (``anyOf``/``oneOf``), each resolved; ``[node]`` if there is one."""
    node = resolved(node)
    branches = node.get("anyOf") or node.get("oneOf")
    return [resolved(b) for b in branches] if branches else [node]


def choices(node: dict) -> list | None:
    """The fixed values of an enum or const node, else None."""
    if "enum" in node:
        return list(node["enum"])
    if "const" in node:
        return [node["const"]]
    return None


@dataclass(frozen=True)
class SchemaField:
    """One property of one section: its path (``*`` stands for any key of a mapping) and its schema."""

    path: tuple[str, ...]
    node: dict
    required: bool

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@functools.cache
def schema_fields() -> tuple[SchemaField, ...]:
    """Every property of every section of the spec, at any depth (inside mappings of sections too)."""
    found: list[SchemaField] = []

    def visit(node: dict, path: tuple[str, ...], seen: frozenset) -> None:
        for branch in alternatives(node):
            if "properties" in branch:
                title = branch.get("title", "")
                if title in seen:
                    continue
                for name, child in branch["properties"].items():
                    found.append(SchemaField((*path, name), child, name in branch.get("required", ())))
                    visit(child, (*path, name), seen | {title})
            elif isinstance(branch.get("additionalProperties"), dict):
                visit(branch["additionalProperties"], (*path, "*"), seen)

    visit(schema(), (), frozenset())
    return tuple(found)


def is_section(node: dict) -> bool:
    return any("properties" in b for b in alternatives(node))


def fields_present(spec: Any) -> set[str]:
    """The schema fields (dotted, ``*`` for a mapping's keys) that ``spec`` gives a value, valid or not."""
    known = {f.path for f in schema_fields()}
    prefixes = {f.path[:i] for f in schema_fields() for i in range(1, len(f.path) + 1)}
    found: set[tuple[str, ...]] = set()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            step = next((s for s in ((*path, key), (*path, "*")) if s in prefixes), None)
            if step is not None:
                found.update({step} & known)
                walk(value, step)

    walk(spec, ())
    return {".".join(path) for path in found}


# ==============================================================================================
# Valid values: what the schema allows, with the hooks for what it names
# ==============================================================================================

#: Data keys that name files; every other data key names a column.
FILE_KEYS = frozenset({"test", "external", "calibration", "train"})
#: The column a data key usually names. A key not listed here (one a task adds later) names the
#: column called like it if there is one, else any column.
USUAL_COLUMNS = {
    "target": ["target"], "prediction": ["prediction"], "sensitive": ["sex", "group"], "features": FEATURES,
    "id": ["id"], "site": ["site"], "cluster": ["cluster"], "readers": ["reader1", "reader2"],
}
#: Keys of the multiclass, multilabel and survival tasks: for a binary table they appear only in examples with trouble.
MULTI_TASK_KEYS = frozenset({"task", "data.classes", "data.ordinal", "data.no_finding", "settings.binary_views", "data.time",
                             "data.event", "data.risk_score", "settings.horizon", "settings.time_unit",
                             "data.mask", "data.image", "data.prediction_type", "data.prediction_axes", "data.npz_key",
                             "data.spacing", "data.labels", "settings.hd_percentile", "settings.nsd_tolerance",
                             "settings.distance_cap", "settings.both_empty", "model.window"})
#: Settings that change only how long an audit takes, or where it runs: their valid values are these
#: (n_resamples at its minimum). Out-of-range values are still drawn for them by the mutations.
COSTLY = {
    "settings.n_resamples": [50], "settings.n_jobs": [1], "settings.scheduler": [None],
    "robustness.steps": [1, 5, 20], "robustness.square_queries": [1, 100],
}
TEXTS = ["demo", "", " ", "Rotterdam → GBSG", "<script>alert(1)</script>", "{{ name }}", "a\nb", "x" * 3000, "\t"]
#: Names that name nothing: drawn only for examples with trouble.
MISSING_COLUMNS = ["no_such_column", "Target", " target", ""]
MISSING_FILES = ["missing.csv", ".", "/nonexistent/x.csv", "a\x00b.csv", "../outside.csv"]
SITE_NAMES = ["gbsg", "site B", "Ä", "1", "x" * 300]
BAD_SITE_NAMES = ["test", "", " Test "]
ARCHITECTURES = ["arch.py:build", "sys:exit", "os:getcwd", "no_such_module_xyz:build", "arch.py:missing", "arch.py", ""]


@dataclass(frozen=True)
class Ingredients:
    """What the spec's hooks may name: the tables' files, columns and values, how the probabilities come,
    and whether this example has trouble (names of things that do not exist, values a table lacks)."""

    tables: Tables
    source: str
    trouble: bool

    @property
    def columns(self) -> list[str]:
        return list(self.tables.test.frame.columns)

    def group_values(self) -> list[Any]:
        frame = self.tables.test.frame
        values = [v for c in ("sex", "group") if c in frame for v in pd.unique(frame[c].dropna())[:4]]
        return [plain(v) if not isinstance(v, str) else v[:50] for v in values]

    def target_values(self) -> list[Any]:
        frame = self.tables.test.frame
        values = pd.unique(frame["target"].dropna()).tolist() if "target" in frame else []
        return [plain(self.tables.test.positive), *[plain(v) for v in values]]

    def sometimes_wrong(self, right: st.SearchStrategy, wrong: st.SearchStrategy, odds: int = 10) -> st.SearchStrategy:
        """``right``, and with trouble about once in ``odds`` draws ``wrong``."""
        if not self.trouble:
            return right
        return weighted((right, odds - 1), (wrong, 1)).flatmap(lambda strategy: strategy)


def column_names(key: str, ing: Ingredients) -> st.SearchStrategy:
    """A column a data key names: the one meant for it, and with trouble another or a missing one."""
    usual = USUAL_COLUMNS.get(key) or [c for c in ing.columns if c.rstrip("s") == key.rstrip("s")] or ing.columns
    return ing.sometimes_wrong(st.sampled_from(usual), st.sampled_from(ing.columns + MISSING_COLUMNS))


def column_lists(key: str, ing: Ingredients) -> st.SearchStrategy:
    """The columns a list-valued data key names (sensitive, features, readers): all those meant for it
    or a few of them, and with trouble any columns or missing ones."""
    usual = USUAL_COLUMNS.get(key) or [c for c in ing.columns if c.startswith(key.rstrip("s"))] or ing.columns
    right = weighted((st.just(usual), 4), (st.lists(st.sampled_from(usual), min_size=min(2, len(usual)), max_size=len(usual), unique=True), 1))
    return ing.sometimes_wrong(right.flatmap(lambda s: s), st.lists(st.sampled_from(ing.columns + MISSING_COLUMNS), max_size=3, unique=True))


def file_names(ing: Ingredients, candidates: list[Table]) -> st.SearchStrategy:
    names = [t.name for t in candidates] or [ing.tables.test.name]
    return ing.sometimes_wrong(st.sampled_from(names), st.sampled_from(MISSING_FILES))


def checklist_names() -> list[str]:
    from audit.checklist import available

    return available()


@functools.cache
def checklist_item_ids() -> list[str]:
    from audit.checklist import available, load

    return [i for name in available() for i in load(name).ids[:3]] + ["NO-SUCH-ITEM"]


def metric_names() -> list[str]:
    """Metrics with an equivalence margin: judged by checks, so targets and margins may name them."""
    from audit.labels import EQUIVALENCE_MARGINS

    return list(EQUIVALENCE_MARGINS)


def hook_for(path: tuple[str, ...], node: dict, ing: Ingredients) -> st.SearchStrategy | None:
    """The values of a key whose meaning lies outside the schema (a file, a column, a group), or None."""
    dotted = ".".join(path)
    if dotted in COSTLY:
        return st.sampled_from(COSTLY[dotted])
    if dotted == "data.test":
        return file_names(ing, [ing.tables.test])
    if dotted == "data.calibration":
        return file_names(ing, [ing.tables.calibration or ing.tables.test])
    if dotted == "data.external.*":
        return file_names(ing, ing.tables.external)
    if dotted == "data.train":
        return file_names(ing, [ing.tables.train or ing.tables.test])
    if dotted == "data.positive_label":
        return ing.sometimes_wrong(st.sampled_from(ing.target_values()), st.sampled_from(["yes", 2, "POS"]))
    if dotted in ("data.target", "data.prediction"):  # the tables hold a binary outcome: one column each
        return ing.sometimes_wrong(column_names(path[1], ing), column_lists(path[1], ing))
    if dotted == "task":
        return ing.sometimes_wrong(st.just("binary"), st.sampled_from(["multiclass", "multilabel"]))
    if dotted == "settings.threshold":
        return ing.sometimes_wrong(valid_numbers({"minimum": 0, "maximum": 1}), st.just({"target": 0.5}))
    if len(path) == 2 and path[0] == "data" and path[1] not in FILE_KEYS:
        types = {b.get("type") for b in alternatives(node) if choices(b) is None}
        item_types = {resolved(b.get("items", {})).get("type") for b in alternatives(node) if b.get("type") == "array"}
        if "array" in types and item_types == {"string"}:
            return column_lists(path[1], ing)
        if "string" in types:
            return column_names(path[1], ing)
    if dotted == "model.path":
        return ing.sometimes_wrong(st.just("model.skops"), st.sampled_from(["model.pkl", "model.pt", "model.onnx", "missing.skops", "test.csv"]), 3)
    if dotted == "model.architecture":
        return st.sampled_from(ARCHITECTURES)
    if dotted == "settings.reference_groups.*":
        return st.sampled_from(ing.group_values() or ["A"]).map(str)
    if dotted == "robustness.datasets":
        names = ["test", *SITE_NAMES[:2]]
        return ing.sometimes_wrong(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True), st.just(["nope"]))
    if dotted == "checklists":
        return ing.sometimes_wrong(st.lists(st.sampled_from(checklist_names()), max_size=2, unique=True), st.just(["tripod"]))
    return None


def key_hook(path: tuple[str, ...], ing: Ingredients) -> st.SearchStrategy:
    """The keys of a mapping: site names, sensitive columns, metric names, guideline and item ids."""
    dotted = ".".join(path)
    if dotted == "data.external":
        return ing.sometimes_wrong(st.sampled_from(SITE_NAMES), st.sampled_from(BAD_SITE_NAMES))
    if dotted == "settings.reference_groups":
        return ing.sometimes_wrong(st.sampled_from(["sex", "group"]), st.just("nope"))
    if dotted in ("settings.targets", "settings.fairness_margins"):
        return ing.sometimes_wrong(st.sampled_from(metric_names()), st.sampled_from(["auc", "calibration"]))
    if dotted == "attestations":
        return st.sampled_from(checklist_names())
    if dotted == "attestations.*":
        return st.sampled_from(checklist_item_ids())
    return st.sampled_from(["a", "key", "x" * 100])


def include_rule(path: tuple[str, ...], ing: Ingredients) -> bool | None:
    """Whether an optional key must be present (True), must be absent (False) or is drawn (None), so that
    most generated specs describe an audit that can run (and never run 2,000 resamples)."""
    dotted = ".".join(path)
    if dotted == "model":
        return ing.source == "file"
    if dotted == "data.prediction":
        return ing.source == "column"
    if dotted == "data.target":  # optional in the schema since survival audits name data.time and data.event instead
        return True
    if dotted == "data.positive_label" and ing.tables.test.positive not in (0, 1, True):
        return True
    if dotted in ("settings", "settings.n_resamples", "checks", "model.path"):
        return True
    if dotted in MULTI_TASK_KEYS and not ing.trouble:  # the tables hold a binary outcome
        return False
    return None


def inclusion_odds(path: tuple[str, ...]) -> int:
    """An optional key appears about once in this many specs: the top level and data more often than
    the many settings, attestations rarely (they must name a requested checklist's items)."""
    if path[-1] == "attestations":
        return 10
    if path[0] == "attestations":  # an item's text, source or na: rare specs, so each key often enough to be reached
        return 2
    return 3 if len(path) == 1 or path[0] == "data" else 6


def valid_value(draw, node: dict, path: tuple[str, ...], ing: Ingredients, wanted: bool = False) -> Any:
    """A value the schema at ``path`` allows (hooks first); sections recurse into their properties.
    A nullable key is now and then null, unless it is ``wanted``."""
    hooked = hook_for(path, node, ing)
    if hooked is not None:
        return draw(hooked)
    branches = alternatives(node)
    non_null = [b for b in branches if b.get("type") != "null"]
    if len(branches) > 1:
        nullable = len(non_null) < len(branches) and not wanted
        node = {"type": "null"} if nullable and chance(draw, 6) else draw(st.sampled_from(non_null))
    else:
        node = branches[0]
    fixed = choices(node)
    if fixed is not None:
        return draw(st.sampled_from(fixed))
    if "properties" in node:
        return section_values(draw, node, path, ing)
    kind = node.get("type")
    if kind == "object":
        return mapping_values(draw, node, path, ing)
    if kind == "array":
        return list_values(draw, node, path, ing)
    if kind == "integer":
        return draw(valid_integers(node))
    if kind == "number":
        return draw(valid_numbers(node))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "string":
        return draw(weighted((st.sampled_from(TEXTS), 1), (st.text(max_size=12), 1)).flatmap(lambda s: s))
    return None


def section_values(draw, node: dict, path: tuple[str, ...], ing: Ingredients) -> dict:
    """A section: its required keys, and each optional key now and then (:func:`inclusion_odds`)."""
    out = {}
    required = set(node.get("required", ()))
    for name, child in node["properties"].items():
        rule = include_rule((*path, name), ing)
        if rule is False and name not in required:
            continue
        if name in required or rule is True or chance(draw, inclusion_odds((*path, name))):
            out[name] = valid_value(draw, child, (*path, name), ing, wanted=rule is True)
    return out


def mapping_values(draw, node: dict, path: tuple[str, ...], ing: Ingredients) -> dict:
    values = node.get("additionalProperties")
    if not isinstance(values, dict):
        return {}
    keys = draw(st.lists(key_hook(path, ing), max_size=2, unique=True))
    return {key: valid_value(draw, values, (*path, "*"), ing) for key in keys}


def list_values(draw, node: dict, path: tuple[str, ...], ing: Ingredients) -> list:
    if "prefixItems" in node:  # a tuple such as dca_range: distinct increasing values, as ranges are meant
        items = node["prefixItems"]
        if all(resolved(item).get("type") == "number" for item in items):
            return sorted(draw(st.lists(valid_numbers(resolved(items[0])), min_size=len(items), max_size=len(items), unique=True)))
        return [valid_value(draw, item, (*path, "*"), ing) for item in items]
    low = node.get("minItems", 0)
    size = draw(st.integers(max(low, 1), max(low, 1, min(node.get("maxItems", 4), 4))))  # empty lists come from mutations
    item = resolved(node.get("items", {}))
    fixed = choices(item)
    if fixed is not None:  # a list of choices (checks, report, attacks): distinct, as the spec requires; now and then all
        most = len(fixed) if chance(draw, 10) else min(size, len(fixed))
        return draw(st.lists(st.sampled_from(fixed), min_size=min(low, len(fixed)), max_size=most, unique=True))
    return [valid_value(draw, item, (*path, "*"), ing) for _ in range(size)]


def bounds(node: dict) -> tuple[float | None, float | None, bool, bool]:
    """(low, high, low excluded, high excluded) of a numeric node."""
    low, high = node.get("minimum"), node.get("maximum")
    low_open = "exclusiveMinimum" in node
    high_open = "exclusiveMaximum" in node
    low = node["exclusiveMinimum"] if low_open else low
    high = node["exclusiveMaximum"] if high_open else high
    return low, high, low_open, high_open


def valid_integers(node: dict) -> st.SearchStrategy:
    """Integers inside the bounds, often at them: low, low + 1, high."""
    low, high, low_open, high_open = bounds(node)
    low = 0 if low is None else int(low) + low_open
    high = None if high is None else int(high) - high_open
    top = low + 200 if high is None else min(high, low + 200)
    edges = [low, low + 1] + ([high] if high is not None else [])
    return st.one_of(st.integers(low, top), st.sampled_from([e for e in edges if high is None or e <= high]))


def valid_numbers(node: dict) -> st.SearchStrategy:
    """Finite floats inside the bounds, often at or just inside them. A number without bounds is mostly
    a probability, a budget or a margin, so it is drawn inside (0, 1) (the mutations draw 0, 1 and beyond)."""
    low, high, low_open, high_open = bounds(node)
    if low is None and high is None:
        return st.floats(0.01, 0.99)
    lo = -1e6 if low is None else float(low)
    hi = 1e6 if high is None else float(high)
    edges = [np.nextafter(lo, np.inf) if low_open else lo, np.nextafter(hi, -np.inf) if high_open else hi]
    inner = st.floats(lo, hi, exclude_min=low_open, exclude_max=high_open, allow_nan=False, allow_infinity=False)
    return st.one_of(inner, st.sampled_from([float(e) for e in edges]))


@st.composite
def valid_spec(draw, ing: Ingredients) -> dict:
    """A spec the schema accepts, made coherent where validators look across keys (others may still refuse it)."""
    spec = valid_value(draw, schema(), (), ing)
    data, model = spec.get("data", {}), spec.get("model") or {}
    if "train" in data:  # data.train is read only for its identifiers, compared across files
        data["id"] = "id"
        data.pop("id_scope", None)
    normalize = model.get("normalize") or {}
    if "mean" in normalize and "std" in normalize:  # one mean and one std per channel
        size = min(len(normalize["mean"]), len(normalize["std"]))
        normalize["mean"], normalize["std"] = normalize["mean"][:size], normalize["std"][:size]
    return spec


# ==============================================================================================
# Mutations: out of range, wrong types, numpy values, missing and misspelt keys, hostile structures
# ==============================================================================================

WRONG_TYPED = {
    "string": ["seven", "", " ", "null", "0x10", "x" * 10_000, "a\x00b", "../../etc/passwd"],
    "integer": [7, -1, 0],
    "number": [0.5, -0.5],
    "boolean": [True, False],
    "null": [None],
    "array": [[], [1, "a"], [[1]], list(range(200))],
    "object": [{}, {"a": 1}, {"": None}],
}


def invalid_values(node: dict) -> list[Any]:
    """Values the schema at ``node`` does not allow: out of its bounds, not finite, or of another type
    (some may be coerced by pydantic; the contract is only that none crashes)."""
    branches = alternatives(node)
    kinds = {b.get("type") for b in branches}
    if "number" in kinds:
        kinds.add("integer")
    out: list[Any] = []
    for branch in branches:
        fixed = choices(branch)
        if fixed:
            out += [str(fixed[0]).upper(), f"{fixed[0]} ", str(fixed[0])[:-1], "multiclass"]
        if branch.get("type") in ("integer", "number"):
            out += out_of_range(branch)
        if branch.get("type") == "array":
            out += [1, "a", {"a": 1}, [None], list(range(200))]
            item = resolved(branch.get("items", {}))
            out += [[value] * 2 for value in (choices(item) or [])[:1]]  # the same entry twice
    for kind, values in WRONG_TYPED.items():
        if kind not in kinds:
            out += values
    return out


def out_of_range(node: dict) -> list[Any]:
    low, high, low_open, high_open = bounds(node)
    out: list[Any] = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 2**63, -(2**63), 2**64]
    if low is None and high is None and node.get("type") == "number":
        out += [0.0, 1.0, -0.5, 2.0]  # the edges of the (0, 1) that valid_numbers keeps to
    if node.get("type") == "integer":
        out += [1.5, True]
        out += [] if low is None else [int(low) - 1 + (0 if not low_open else 1)]
        out += [] if high is None else [int(high) + 1 - (0 if not high_open else 1)]
    else:
        out += [] if low is None else ([low] if low_open else [np.nextafter(float(low), -np.inf), low - 1])
        out += [] if high is None else ([high] if high_open else [np.nextafter(float(high), np.inf), high + 1])
    return [float(v) if isinstance(v, np.floating) else v for v in out]


def numpy_typed(value: Any) -> Any:
    """``value`` as a user building a dict with numpy might pass it: np.int64, np.float32, np.str_, np.bool_, arrays."""
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int) and abs(value) < 2**62:
        return np.int64(value)
    if isinstance(value, float):
        return np.float32(value) if abs(value) < 1e30 else np.float64(value)
    if isinstance(value, str):
        return np.str_(value)
    if isinstance(value, list) and value and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
        return np.asarray(value)
    return value


def get_path(spec: dict, path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = spec
    for part in path:
        if not isinstance(node, dict):
            return False, None
        if part == "*":
            if not node:
                return False, None
            part = next(iter(node))
        if part not in node:
            return False, None
        node = node[part]
    return True, node


def set_path(spec: dict, path: tuple[str, ...], value: Any, key: str = "a") -> None:
    """Set ``value`` at ``path``, creating sections on the way (``*``: the first key of the mapping, or ``key``)."""
    node = spec
    for i, part in enumerate(path):
        if part == "*":
            part = next(iter(node), key) if isinstance(node, dict) else key
        last = i == len(path) - 1
        if last:
            node[part] = value
            return
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]


def delete_path(spec: dict, path: tuple[str, ...]) -> bool:
    """Remove the key at ``path`` (``*``: the mapping's first key); False when there is none."""
    found, parent = get_path(spec, path[:-1])
    if not found or not isinstance(parent, dict) or not parent:
        return False
    key = next(iter(parent)) if path[-1] == "*" else path[-1]
    return parent.pop(key, delete_path) is not delete_path


def misspelt(name: str) -> str:
    return name[:-1] if len(name) > 3 else name + "s"


@st.composite
def mutation(draw, spec: dict, ing: Ingredients) -> str:
    """Apply one mutation to ``spec`` in place at a path of the schema; return what was done."""
    kind = draw(weighted(("invalid value", 6), ("numpy value", 2), ("missing key", 1), ("unknown key", 1), ("hostile structure", 1)))
    fields = schema_fields() if kind != "numpy value" else tuple(f for f in schema_fields() if not is_section(f.node))
    target = draw(st.sampled_from(fields))
    path = target.path
    if kind == "invalid value":
        value = draw(st.sampled_from(invalid_values(target.node)))
        set_path(spec, path, value, key=draw(key_hook(path[: path.index("*")], ing)) if "*" in path else "a")
        return f"{target.dotted} = {_short(value)}"
    if kind == "numpy value":
        found, value = get_path(spec, path)
        if not found:
            value = valid_value(draw, target.node, path, ing)
        set_path(spec, path, numpy_typed(value))
        return f"{target.dotted} as numpy {type(numpy_typed(value)).__name__}"
    if kind == "missing key":
        return f"removed {target.dotted}" if delete_path(spec, path) else "nothing removed"
    if kind == "unknown key":
        parent = path[:-1]
        set_path(spec, (*parent, misspelt(path[-1])), 1)
        return f"unknown key {'.'.join((*parent, misspelt(path[-1])))}"
    hostile = draw(st.sampled_from([Hostile("nested", 25), Hostile("nested", 1200), Hostile("aliases", 4), Hostile("aliases", 6)]))
    set_path(spec, path, hostile)
    return f"{target.dotted} = {hostile}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ==============================================================================================
# Examples
# ==============================================================================================

@dataclass
class Example:
    """One generated input: the spec (numpy values and hostile structures included), the files, how the
    probabilities come, the route, and for the command line its extra flags and whether --out exists."""

    spec: dict
    tables: Tables
    source: str
    route: str
    mutations: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    out_exists: bool = False

    def spec_yaml(self) -> str:
        """The spec as a YAML file (hostile structures written as YAML text: deep brackets, aliases)."""
        markers: dict[str, Hostile] = {}

        def mark(value: Any) -> Any:
            if isinstance(value, Hostile):
                token = f"HOSTILE{len(markers)}"
                markers[token] = value
                return token
            if isinstance(value, dict):
                return {k: mark(v) for k, v in value.items()}
            if isinstance(value, list):
                return [mark(v) for v in value]
            return value

        text = yaml.safe_dump(plain(mark(self.spec)), allow_unicode=True, sort_keys=False, width=10_000)
        for token, hostile in markers.items():
            text = text.replace(token, hostile.yaml())
        return text

    def size(self) -> int:
        """How big the example is, to pick the smallest of several with the same cause."""
        return len(repr(self.spec)) + sum(t.frame.size for t in self.tables.all())

    def describe(self, rows: int = 12) -> str:
        model = {"object": "a fitted LogisticRegression passed as audit.run(spec, model=...)"}.get(self.source, self.source)
        lines = [
            f"route: {self.route}" + (f" {' '.join(self.flags)}" if self.flags else "") + ("; --out exists" if self.out_exists else ""),
            f"predictions from: {model}",
            "mutations: " + ("; ".join(self.mutations) or "none"),
            "spec:",
            *("  " + line for line in _clip(self.spec_yaml()).splitlines()),
        ]
        lines += ["tables:"] + ["  " + line for t in self.tables.all() for line in t.describe(rows).splitlines()]
        return "\n".join(lines)


def _clip(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"


@st.composite
def cli_flags(draw) -> list[str]:
    """``trustaudit run`` options: --quiet, and now and then an override of the seed or the resamples."""
    flags = ["-q"] if chance(draw, 2) else []
    if chance(draw, 8):
        flags += ["--seed", str(draw(st.sampled_from([0, 7, -1, 2**32, 2**63])))]
    if chance(draw, 8):
        flags += ["--n-resamples", str(draw(st.sampled_from([50, 49, 0, 100_001])))]
    if chance(draw, 12):
        flags += ["--n-jobs", str(draw(st.sampled_from([0, -65, 1025])))]
    return flags


def examples() -> st.SearchStrategy[Example]:
    """Inputs a user could give trustaudit, each new; see the module docstring for how one is made.

    Hypothesis' generation otherwise spends about five calls in six on copies of one part of an example
    pasted over another (a mutator for tree-shaped data); it leaves the inside of a unique collection
    alone, so each example is drawn as the one element of a unique list.
    """
    return st.lists(example(), min_size=1, max_size=1, unique_by=id).map(lambda one: one[0])


@st.composite
def example(draw) -> Example:
    """One input a user could give trustaudit."""
    route = draw(weighted(("api", 4), ("cli", 3), ("yaml", 2)))
    trouble = chance(draw, 2)
    source = draw(weighted(("column", 12), ("object", 4 if route == "api" else 0), ("file", 4), ("none", 1 if trouble else 0)))
    ing = Ingredients(draw(tables(trouble, source)), source, trouble)
    spec = draw(valid_spec(ing))
    done = [draw(mutation(spec, ing)) for _ in range(draw(weighted((0, 6), (1, 2), (2, 1), (3, 1))))]
    flags = draw(cli_flags()) if route == "cli" else []
    out_exists = route == "cli" and chance(draw, 3)
    return Example(spec, ing.tables, source, route, done, flags, out_exists)


# ==============================================================================================
# Running one example
# ==============================================================================================


@dataclass
class Outcome:
    """How one example ended. ``cause`` (internal errors and violations) groups examples that broke
    the same way: the exception type and the innermost frame in audit/, or the rule broken."""

    kind: str
    cause: str = ""
    message: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.kind in ("internal error", "violation")


def write_files(example: Example, directory: Path) -> None:
    """The tables, the model files, the architecture module and (for YAML routes) audit.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    for table in example.tables.all():
        write_table(table, directory)
    path = example.spec.get("model", {}).get("path") if isinstance(example.spec.get("model"), dict) else None
    if isinstance(path, str) and path in MODEL_FILES:
        (directory / path).write_bytes(model_file_bytes(path))
    (directory / "arch.py").write_text(ARCHITECTURE_MODULE, encoding="utf-8")
    if example.route != "api":
        (directory / "audit.yaml").write_text(example.spec_yaml(), encoding="utf-8")


def run_example(example: Example, directory: Path) -> Outcome:
    """Run ``example`` in ``directory`` (created; the caller removes it) and judge how it ended."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        write_files(example, directory)
        start = time.perf_counter()
        outcome = _run_cli(example, directory) if example.route == "cli" else _run_api(example, directory)
    outcome.seconds = time.perf_counter() - start
    if (directory / "ARCHITECTURE_IMPORTED").exists() and not _trusted(example):
        return Outcome("violation", "code ran without trust: model.architecture was imported without trust: true",
                       outcome.message, outcome.seconds)
    return outcome


def _run_api(example: Example, directory: Path) -> Outcome:
    model = fitted_model() if example.source == "object" else None
    source: Any = built(example.spec) if example.route == "api" else directory / "audit.yaml"
    try:
        with contextlib.chdir(directory), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = audit.run(source, model=model)
            text, figures = result.to_json(), result.figures_json()
    except AuditInputError as exc:
        return clean_error(str(exc), innermost_audit_frame(exc.__traceback__))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from user code is an internal error too
        where = innermost_audit_frame(exc.__traceback__)
        return Outcome("internal error", f"{type(exc).__name__} at {where}", first_line(exc))
    problem = strict_json_problem(text) or strict_json_problem(figures)
    if problem:
        return Outcome("violation", f"results.json or figures.json is not strict JSON: {problem}")
    return Outcome("success")


def _run_cli(example: Example, directory: Path) -> Outcome:
    from audit.cli import main

    out = directory / "out"
    if example.out_exists:
        out.mkdir()
        (out / "notes.txt").write_text("the user's own file", encoding="utf-8")
    before = _listing(out)
    argv = ["run", str(directory / "audit.yaml"), "--out", str(out), "--debug", *example.flags]
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(argv)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - main() must turn everything into an exit code
        where = innermost_audit_frame(exc.__traceback__)
        return Outcome("internal error", f"{type(exc).__name__} escaped the command line at {where}", first_line(exc))
    err = stderr.getvalue()
    leftovers = [p.name for p in _files(out) if p.name.endswith(".tmp") or (p.name.startswith(".") and p.name not in before)]
    notes = out / "notes.txt"
    if example.out_exists and not (notes.is_file() and notes.read_text(encoding="utf-8") == "the user's own file"):
        return Outcome("violation", "the command line changed a file of the user's in --out")
    if code == 1:
        exc_type, where = _cause_from_traceback(err)
        return Outcome("internal error", f"{exc_type} at {where}", _internal_message(err))
    if leftovers:
        return Outcome("violation", "temporary files left in --out", ", ".join(leftovers))
    if code == 2:
        message = err.removeprefix("trustaudit: error: ").rstrip("\n")
        if err.count("\n") != 1 or not err.startswith("trustaudit: error: "):
            first = (message.splitlines() or ["(nothing printed)"])[0]
            return Outcome("violation", f"exit 2 message is not one line ({_message_shape(first)})", message[:MAX_MESSAGE])
        written = sorted(set(_listing(out)) - set(before))
        if written:
            return Outcome("violation", "exit 2 but files were written", ", ".join(written))
        return clean_error(message, None)
    if code != 0:
        return Outcome("violation", f"exit code {code}", err[:MAX_MESSAGE])
    missing = [name for name in ("results.json", "figures.json") if not (out / name).is_file()]
    if missing:
        return Outcome("violation", f"exit 0 but {' and '.join(missing)} not written")
    problem = strict_json_problem((out / "results.json").read_text(encoding="utf-8"))
    problem = problem or strict_json_problem((out / "figures.json").read_text(encoding="utf-8"))
    if problem:
        return Outcome("violation", f"results.json or figures.json is not strict JSON: {problem}")
    return Outcome("success")


def clean_error(message: str, where: str | None) -> Outcome:
    """An ``AuditInputError``: clean unless its message shows numpy reprs or runs past ``MAX_MESSAGE``."""
    problems = message_problems(message)
    if problems:
        place = where or _message_shape(message)
        return Outcome("violation", f"message {' and '.join(problems)} ({place})", message[:MAX_MESSAGE + 200])
    return Outcome("input error", message=message)


def message_problems(message: str) -> list[str]:
    problems = []
    if NUMPY_REPR.search(message):
        problems.append("shows a numpy repr")
    if len(message) > MAX_MESSAGE:
        problems.append(f"is {len(message)} characters long")
    return problems


def strict_json_problem(text: str) -> str | None:
    """Why ``text`` is not strict JSON (NaN, Infinity, a syntax error), or None."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        return str(exc)[:200]
    return None


def _trusted(example: Example) -> bool:
    try:
        spec, _ = audit.load_spec(built(example.spec), model_object=example.source == "object")
    except Exception:  # noqa: BLE001
        return False
    return bool(spec.model and spec.model.trust)


def innermost_audit_frame(tb) -> str:
    """``audit/checks/uncertainty.py:123 in _split``: the deepest frame of trustaudit's own code."""
    frames = [f for f in traceback.extract_tb(tb) if _in_audit(f.filename)]
    if not frames:
        return "outside audit/"
    frame = frames[-1]
    return f"{Path(frame.filename).resolve().relative_to(REPO)}:{frame.lineno} in {frame.name}"


def _in_audit(filename: str) -> bool:
    try:
        Path(filename).resolve().relative_to(AUDIT_DIR)
    except ValueError:
        return False
    return True


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _cause_from_traceback(stderr: str) -> tuple[str, str]:
    """The exception type and innermost audit/ frame from ``--debug`` output."""
    frames = [m for m in _FRAME.finditer(stderr) if _in_audit(m.group(1))]
    where = "outside audit/"
    if frames:
        path, line, name = frames[-1].groups()
        where = f"{Path(path).resolve().relative_to(REPO)}:{line} in {name}"
    match = re.search(r"trustaudit: internal error: ([\w.]+)", stderr)
    return (match.group(1) if match else "unknown"), where


def _internal_message(stderr: str) -> str:
    match = re.search(r"trustaudit: internal error: (.*)", stderr)
    return match.group(1)[:300] if match else stderr[-300:]


def _message_shape(message: str) -> str:
    """A message with its specific values (quoted text, numbers, the spec's name) blanked out, to group
    messages that break the same rule."""
    shape = re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?|^(\S+\.ya?ml|the spec)\b", "…", message)
    return shape[:70]


def _files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*")) if directory.exists() else []


def _listing(directory: Path) -> list[str]:
    return [str(p.relative_to(directory)) for p in _files(directory)]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# ==============================================================================================
# Reporting
# ==============================================================================================


@dataclass
class Tally:
    """Counts of outcomes, and per cause of failure its count and the smallest example that showed it."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    causes: dict[str, list] = field(default_factory=dict)  # cause -> [count, kind, smallest example, outcome]
    seconds: list[float] = field(default_factory=list)
    slowest: tuple[float, Example | None] = (0.0, None)
    fields: set[str] = field(default_factory=set)  # schema fields some input gave a value

    def add(self, example: Example, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1
        self.fields |= fields_present(example.spec)
        self.seconds.append(outcome.seconds)
        if self.inputs > 1 and outcome.seconds > self.slowest[0]:  # the first input pays for imports
            self.slowest = (outcome.seconds, example)
        if outcome.failed:
            entry = self.causes.setdefault(outcome.cause, [0, outcome.kind, example, outcome])
            entry[0] += 1
            if example.size() < entry[2].size():
                entry[2], entry[3] = example, outcome

    @property
    def inputs(self) -> int:
        return sum(self.counts.values())

    def fields_missed(self) -> list[str]:
        """Schema fields no input has given a value yet."""
        return sorted({f.dotted for f in schema_fields()} - self.fields)

    def summary(self) -> str:
        c = self.counts
        return (
            f"{self.inputs} inputs: {c['success']} audits, {c['input error']} clean errors (AuditInputError), "
            f"{c['internal error']} internal errors and {c['violation']} contract violations "
            f"from {len(self.causes)} distinct causes"
        )

    def report(self, rows: int = 12) -> str:
        blocks = []
        for cause, (count, kind, example, outcome) in sorted(self.causes.items(), key=lambda kv: -kv[1][0]):
            blocks.append(
                f"[{count}x {kind}] {cause}\n  message: {outcome.message}\n  smallest example:\n"
                + "\n".join("    " + line for line in example.describe(rows).splitlines())
            )
        return "\n\n".join(blocks)
