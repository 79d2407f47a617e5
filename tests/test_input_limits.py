"""Input size is bounded before loading: a small file that decompresses past settings.max_input_mb is refused
with its sizes, files under the limit load as before. Every test sets the limit to 1 MB, so that no bomb
is ever more than a few MB in memory."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import zipfile

import numpy as np
import pandas as pd
import pytest

from audit.data import check_archive_size, load_datasets
from audit.errors import AuditInputError
from audit.spec import load_spec

MB = 1 << 20
LIMIT = r"above the input-size limit of 1 MB \(settings\.max_input_mb\)"


def datasets(tmp_path, test: str, max_input_mb: int = 1):
    spec, _ = load_spec(
        {"name": "limits", "data": {"test": test, "target": "y", "prediction": "p"},
         "settings": {"max_input_mb": max_input_mb}},
    )
    return load_datasets(spec, tmp_path)


def csv_bytes(rows: int) -> bytes:
    """A highly compressible table: ``rows`` rows of ``y,p`` (4 bytes a row)."""
    return b"y,p\n" + b"0,0\n1,1\n" * (rows // 2)


def loading_is_forbidden(monkeypatch):
    """Make every reader fail, so that a refusal proves the size was checked before loading."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the file was loaded before its size was checked")

    monkeypatch.setattr(np, "load", forbidden)
    monkeypatch.setattr(pd, "read_parquet", forbidden)


# --------------------------------------------------------------------------------------------
# NPZ
# --------------------------------------------------------------------------------------------


def test_a_zip_bomb_npz_is_refused_with_its_sizes_before_numpy_loads_it(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "test.npz", x=np.zeros((2 * MB // 8, 1)), y=np.arange(2 * MB // 8) % 2)
    assert (tmp_path / "test.npz").stat().st_size < 100_000
    loading_is_forbidden(monkeypatch)
    with pytest.raises(AuditInputError) as caught:
        datasets(tmp_path, "test.npz")
    message = str(caught.value)
    assert message.startswith("dataset 'test' (test.npz): the .npz file is ")
    assert "KB on disk but its arrays take 4.0 MB decompressed ('x' alone 2.0 MB)" in message
    assert message.endswith("raise settings.max_input_mb to at least 5.")
    assert len(message) < 400


def test_an_npy_header_declaring_more_than_its_data_is_refused(tmp_path, monkeypatch):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 1)})
    with zipfile.ZipFile(tmp_path / "test.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(64))  # the directory declares a few bytes
    loading_is_forbidden(monkeypatch)
    with pytest.raises(AuditInputError, match=r"its arrays take 7\.5 GB decompressed \('x' alone 7\.5 GB\), " + LIMIT):
        datasets(tmp_path, "test.npz")


def test_an_npz_member_that_is_not_an_array_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "test.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", b"not an array")
    with pytest.raises(AuditInputError, match=r"the \.npz file holds 'notes\.txt', which is not a NumPy array"):
        datasets(tmp_path, "test.npz")


def test_an_npz_member_compressed_with_bzip2_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(4))
    with zipfile.ZipFile(tmp_path / "test.npz", "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("x.npy", buffer.getvalue())
    with pytest.raises(AuditInputError, match=r"the \.npz file's array 'x' is compressed with bzip2"):
        datasets(tmp_path, "test.npz")


def test_an_npz_under_the_limit_loads_as_before(tmp_path):
    x = np.random.default_rng(0).random((50, 4))
    np.savez_compressed(tmp_path / "test.npz", x=x, y=np.arange(50) % 2, p=np.full(50, 0.5))
    ds = datasets(tmp_path, "test.npz")["test"]
    assert np.allclose(ds.x, x.astype(np.float32)) and ds.y.tolist() == (np.arange(50) % 2).tolist()


# --------------------------------------------------------------------------------------------
# Compressed and plain CSV
# --------------------------------------------------------------------------------------------


def test_a_gzip_csv_bomb_is_refused_by_its_declared_size(tmp_path):
    (tmp_path / "test.csv.gz").write_bytes(gzip.compress(csv_bytes(MB // 2)))  # 2 MB of text
    with pytest.raises(AuditInputError) as caught:
        datasets(tmp_path, "test.csv.gz")
    message = str(caught.value)
    assert "KB compressed and its gzip trailer declares 2.0 MB decompressed, above the input-size limit of 1 MB" in message
    assert message.endswith("raise settings.max_input_mb to at least 3.")


def test_a_gzip_csv_bomb_with_a_lying_trailer_stops_reading_at_the_limit(tmp_path):
    data = bytearray(gzip.compress(csv_bytes(MB // 2)))
    data[-4:] = struct.pack("<I", 100)  # ISIZE claims 100 bytes
    (tmp_path / "test.csv.gz").write_bytes(bytes(data))
    with pytest.raises(AuditInputError, match=r"KB compressed but decompresses to more than 1\.0 MB \(reading stopped "
                       r"there\), " + LIMIT + r"; if the file is genuine and this machine has the memory, raise "
                       r"settings\.max_input_mb\.$"):
        datasets(tmp_path, "test.csv.gz")


def test_a_bzip2_csv_bomb_stops_reading_at_the_limit(tmp_path):
    (tmp_path / "test.csv.bz2").write_bytes(bz2.compress(csv_bytes(MB // 2)))
    with pytest.raises(AuditInputError, match=r"decompresses to more than 1\.0 MB \(reading stopped there\)"):
        datasets(tmp_path, "test.csv.bz2")


def test_a_zipped_csv_bomb_stops_reading_at_the_limit(tmp_path):
    with zipfile.ZipFile(tmp_path / "test.csv.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("test.csv", csv_bytes(MB // 2))
    with pytest.raises(AuditInputError, match=r"decompresses to more than 1\.0 MB \(reading stopped there\)"):
        datasets(tmp_path, "test.csv.zip")


def test_a_plain_csv_above_the_limit_is_refused_by_its_size_on_disk(tmp_path):
    (tmp_path / "test.csv").write_bytes(csv_bytes(MB // 3))  # 1.3 MB
    with pytest.raises(AuditInputError, match=r"^dataset 'test' \(test\.csv\): the file is 1\.3 MB, " + LIMIT):
        datasets(tmp_path, "test.csv")


@pytest.mark.parametrize("name", ["test.csv", "test.csv.gz", "test.csv.bz2", "test.csv.zip"])
def test_tables_under_the_limit_load_as_before(tmp_path, name):
    frame = pd.DataFrame({"y": [0, 1, 0, 1], "p": [0.1, 0.8, 0.3, 0.6], "note": ["a", "b", "c", "d"]})
    frame.to_csv(tmp_path / name, index=False)
    ds = datasets(tmp_path, name)["test"]
    pd.testing.assert_frame_equal(ds.frame, pd.read_csv(tmp_path / name))


def test_a_tsv_gzip_under_the_limit_is_read_tab_separated(tmp_path):
    pd.DataFrame({"y": [0, 1], "p": [0.2, 0.7]}).to_csv(tmp_path / "test.tsv.gz", sep="\t", index=False)
    assert datasets(tmp_path, "test.tsv.gz")["test"].frame.columns.tolist() == ["y", "p"]


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def test_a_parquet_above_the_limit_is_refused_from_its_metadata(tmp_path, monkeypatch):
    rows = 2 * MB // 8
    pd.DataFrame({"y": np.zeros(rows, dtype=np.int64), "p": np.zeros(rows)}).to_parquet(tmp_path / "test.parquet")
    assert (tmp_path / "test.parquet").stat().st_size < 100_000  # runs of zeros encode in a few bytes
    loading_is_forbidden(monkeypatch)
    with pytest.raises(AuditInputError) as caught:
        datasets(tmp_path, "test.parquet")
    message = str(caught.value)
    assert "KB on disk but its 262,144 rows take 4.0 MB uncompressed (from its metadata), " in message
    assert message.endswith("raise settings.max_input_mb to at least 4.")


def test_a_parquet_under_the_limit_loads_as_before(tmp_path):
    frame = pd.DataFrame({"y": [0, 1, 0, 1], "p": [0.1, 0.8, 0.3, 0.6], "sex": list("FMFM")})
    frame.to_parquet(tmp_path / "test.parquet")
    pd.testing.assert_frame_equal(datasets(tmp_path, "test.parquet")["test"].frame, pd.read_parquet(tmp_path / "test.parquet"))


# --------------------------------------------------------------------------------------------
# Zipped model files
# --------------------------------------------------------------------------------------------


def test_a_zip_whose_directory_understates_a_member_is_measured_by_inflating_it(tmp_path):
    size = 2 * MB + 3
    with zipfile.ZipFile(tmp_path / "model.skops", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", bytes(size))
    data = tmp_path.joinpath("model.skops").read_bytes()
    declared = struct.pack("<I", size)
    assert data.count(declared) == 2  # the local header and the central directory
    tmp_path.joinpath("model.skops").write_bytes(data.replace(declared, struct.pack("<I", 10)))
    assert zipfile.ZipFile(tmp_path / "model.skops").getinfo("schema.json").file_size == 10
    with pytest.raises(AuditInputError, match=r"^model file 'model\.skops': the file is .* on disk but decompresses to "
                       r"more than 1\.0 MB, " + LIMIT):
        check_archive_size(tmp_path / "model.skops", "model file 'model.skops'", MB)


def test_a_skops_model_above_the_limit_is_refused_before_it_is_loaded(tmp_path):
    from audit import models

    with zipfile.ZipFile(tmp_path / "model.skops", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", bytes(2 * MB))  # not a skops schema: loading it would fail otherwise
    spec, _ = load_spec({"name": "m", "model": {"path": "model.skops", "trust": True},
                         "data": {"test": "test.csv", "target": "y"}, "settings": {"max_input_mb": 1}})
    with pytest.raises(AuditInputError, match=r"^model file 'model\.skops': the file is .* KB on disk but decompresses "
                       r"to more than 1\.0 MB, " + LIMIT):
        models.load_model(spec, tmp_path)
