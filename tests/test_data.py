"""Datasets: tables are read, hashed and labelled; every data problem names the dataset and file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.data import Dataset, load_datasets, read_table, sha256_file
from audit.errors import AuditInputError
from audit.spec import load_spec


def table(n: int = 12, **columns) -> pd.DataFrame:
    """A small table with a 0/1 target ``y``, a probability ``p``, features and a sensitive attribute."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "pid": np.arange(n),
            "age": rng.normal(60, 10, n).round(1),
            "sex": np.where(np.arange(n) % 2 == 0, "F", "M"),
            "p": rng.uniform(0, 1, n).round(3),
            "y": np.arange(n) % 3 == 0,
        }
    )
    frame["y"] = frame["y"].astype(int)
    for name, values in columns.items():
        frame[name] = values
    return frame


def make_spec(tmp_path: Path, frame: pd.DataFrame | None = None, name: str = "test.csv", **data):
    """Write ``frame`` to ``tmp_path/name`` and return (spec, base_dir) for a prediction-column audit."""
    if frame is not None:
        write_table(frame, tmp_path / name)
    fields = {"test": name, "target": "y", "prediction": "p", **data}
    fields = {key: value for key, value in fields.items() if value is not None}
    spec, _ = load_spec({"name": "t", "data": fields})
    return spec, tmp_path


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def load_one(tmp_path: Path, frame: pd.DataFrame, **data) -> Dataset:
    return load_datasets(*make_spec(tmp_path, frame, **data))["test"]


# ---- reading and round trips -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["other.parquet", "other.pq", "other.tsv", "other.txt", "other.csv.gz"])
def test_csv_and_parquet_files_read_identically(tmp_path, name):
    frame = table()
    from_csv = load_one(tmp_path, frame)
    write_table(frame, tmp_path / name)
    other = load_one(tmp_path, None, test=name)
    pd.testing.assert_frame_equal(from_csv.frame, other.frame)
    np.testing.assert_array_equal(from_csv.y, other.y)


def test_dataset_records_role_relative_path_hash_and_labels(tmp_path):
    frame = table()
    (tmp_path / "sites").mkdir()
    write_table(frame, tmp_path / "sites" / "a.csv")
    write_table(frame, tmp_path / "sites" / "b.parquet")
    spec, base = make_spec(tmp_path, frame, external={"zeta": "sites/b.parquet", "alpha": "sites/a.csv"})
    datasets = load_datasets(spec, base)
    assert list(datasets) == ["test", "zeta", "alpha"]
    test, zeta = datasets["test"], datasets["zeta"]
    assert (test.name, test.role, test.path) == ("test", "internal", "test.csv")
    assert (zeta.name, zeta.role, zeta.path) == ("zeta", "external", "sites/b.parquet")
    assert test.sha256 == hashlib.sha256((tmp_path / "test.csv").read_bytes()).hexdigest()
    assert test.y.dtype == np.int8 and not test.y.flags.writeable
    np.testing.assert_array_equal(test.y, frame["y"].to_numpy())
    assert test.n == 12 and test.prevalence == pytest.approx(4 / 12)


def test_absolute_paths_are_recorded_relative(tmp_path):
    frame = table()
    dataset = load_one(tmp_path, frame, test=str(write_table(frame, tmp_path / "abs.csv")))
    assert dataset.path == "abs.csv"


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1000)
    assert sha256_file(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_boolean_labels_need_no_positive_label(tmp_path):
    frame = table()
    frame["y"] = frame["y"].astype(bool)
    dataset = load_one(tmp_path, frame)
    np.testing.assert_array_equal(dataset.y, frame["y"].astype(int))


def test_string_labels_with_positive_label(tmp_path):
    frame = table()
    frame["y"] = np.where(frame["y"] == 1, "relapse", "none")
    dataset = load_one(tmp_path, frame, positive_label="relapse")
    np.testing.assert_array_equal(dataset.y, (frame["y"] == "relapse").astype(int))
    flipped = load_one(tmp_path, frame, positive_label="none")
    np.testing.assert_array_equal(flipped.y, 1 - dataset.y)


def test_missing_sensitive_values_are_not_an_error(tmp_path):
    frame = table()
    frame.loc[[1, 4], "sex"] = None
    dataset = load_one(tmp_path, frame, sensitive=["sex"])
    assert dataset.frame["sex"].isna().sum() == 2


# ---- file problems ---------------------------------------------------------------------------


def test_missing_file_names_dataset_and_file(tmp_path):
    spec, base = make_spec(tmp_path, None, name="absent.csv")
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(absent\.csv\).*absent\.csv' does not exist"):
        load_datasets(spec, base)


def test_missing_external_file_names_the_site(tmp_path):
    spec, base = make_spec(tmp_path, table(), external={"gbsg": "gbsg.csv"})
    with pytest.raises(AuditInputError, match=r"dataset 'gbsg' \(gbsg\.csv\).*does not exist"):
        load_datasets(spec, base)


def test_unsupported_extension_lists_supported_formats(tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(AuditInputError, match=r"unsupported file type '\.xlsx'.*CSV.*\.csv.*Parquet.*\.parquet"):
        read_table(tmp_path / "data.xlsx")


def test_corrupt_parquet_file_is_named(tmp_path):
    (tmp_path / "test.parquet").write_bytes(b"this is not parquet at all")
    spec, base = make_spec(tmp_path, None, name="test.parquet")
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.parquet\): the file could not be read as Parquet"):
        load_datasets(spec, base)


def test_binary_garbage_csv_is_named(tmp_path):
    (tmp_path / "test.csv").write_bytes(bytes(range(256)) * 4)
    spec, base = make_spec(tmp_path, None)
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.csv\).*could not be read as CSV"):
        load_datasets(spec, base)


def test_empty_file_and_header_only_table_are_refused(tmp_path):
    (tmp_path / "test.csv").write_text("")
    spec, base = make_spec(tmp_path, None)
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.csv\): the file is empty"):
        load_datasets(spec, base)
    (tmp_path / "test.csv").write_text("y,p\n")
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.csv\): the table has no rows"):
        load_datasets(spec, base)


# ---- target problems -------------------------------------------------------------------------


def test_absent_target_suggests_closest_and_lists_columns(tmp_path):
    spec, base = make_spec(tmp_path, table().rename(columns={"y": "Y"}))
    with pytest.raises(AuditInputError, match=r"has no column 'y' \(named by data\.target; the table has 'pid', .*'Y'\); did you mean 'Y'\?"):
        load_datasets(spec, base)


def test_missing_target_values_are_counted(tmp_path):
    frame = table()
    frame["y"] = frame["y"].astype(float)
    frame.loc[[0, 5, 7], "y"] = np.nan
    with pytest.raises(AuditInputError, match=r"target column 'y' is empty in 3 of 12 rows"):
        load_one(tmp_path, frame)


def test_more_than_two_labels_are_shown(tmp_path):
    with pytest.raises(AuditInputError, match=r"'y' has 3 distinct values \(0, 1, 2\).*exactly two"):
        load_one(tmp_path, table(y=np.arange(12) % 3))


def test_labels_that_are_not_0_1_ask_for_positive_label(tmp_path):
    frame = table(y=np.where(np.arange(12) % 2 == 0, "alive", "dead"))
    with pytest.raises(AuditInputError, match=r"values 'alive', 'dead'.*set data\.positive_label"):
        load_one(tmp_path, frame)
    with pytest.raises(AuditInputError, match=r"values 1, 2.*data\.positive_label"):
        load_one(tmp_path, table(y=np.arange(12) % 2 + 1))


def test_positive_label_not_among_the_values(tmp_path):
    frame = table(y=np.where(np.arange(12) % 2 == 0, "alive", "dead"))
    with pytest.raises(AuditInputError, match=r"data\.positive_label 'Dead' is not among the values of 'y' \('alive', 'dead'\)"):
        load_one(tmp_path, frame, positive_label="Dead")


def test_integer_positive_label_selects_that_class(tmp_path):
    dataset = load_one(tmp_path, table(y=np.arange(12) % 2 + 1), positive_label=2)
    np.testing.assert_array_equal(dataset.y, np.arange(12) % 2)


def test_a_single_class_is_refused(tmp_path):
    with pytest.raises(AuditInputError, match=r"only one class \(0\).*AUROC.*both positive and negative"):
        load_one(tmp_path, table(y=np.zeros(12, dtype=int)))


# ---- other named columns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "column"),
    [
        ({"sensitive": ["sex", "ethnicity"]}, "data.sensitive", "ethnicity"),
        ({"id": "patient_id"}, "data.id", "patient_id"),
        ({"site": "hospital"}, "data.site", "hospital"),
        ({"prediction": "score"}, "data.prediction", "score"),
    ],
)
def test_absent_named_columns_are_reported(tmp_path, data, key, column):
    with pytest.raises(AuditInputError, match=rf"dataset 'test' \(test\.csv\) has no column '{column}' \(named by {key}; the table has 'pid', 'age'.*\); correct the name"):
        load_one(tmp_path, table(), **data)


def test_absent_sensitive_column_in_an_external_site_names_the_site(tmp_path):
    write_table(table().drop(columns="sex"), tmp_path / "ext.csv")
    spec, base = make_spec(tmp_path, table(), external={"site_b": "ext.csv"}, sensitive=["sex"])
    with pytest.raises(AuditInputError, match=r"dataset 'site_b' \(ext\.csv\) has no column 'sex'"):
        load_datasets(spec, base)


# ---- the prediction column -------------------------------------------------------------------


def test_non_numeric_prediction_shows_offending_values(tmp_path):
    frame = table()
    frame["p"] = frame["p"].astype(str)
    frame.loc[3, "p"] = "high"
    with pytest.raises(AuditInputError, match=r"prediction column 'p' is not numeric \(it holds values such as 'high'\)"):
        load_one(tmp_path, frame)


def test_missing_predictions_are_counted(tmp_path):
    frame = table()
    frame.loc[[2, 3], "p"] = np.nan
    with pytest.raises(AuditInputError, match=r"prediction column 'p' is empty in 2 of 12 rows"):
        load_one(tmp_path, frame)


def test_predictions_outside_unit_interval_are_counted_with_range(tmp_path):
    frame = table()
    frame.loc[0, "p"] = -0.5
    frame.loc[1, "p"] = 3.0
    with pytest.raises(AuditInputError, match=r"'p' has 2 values outside \[0, 1\] \(min -0\.5, max 3\)"):
        load_one(tmp_path, frame)
