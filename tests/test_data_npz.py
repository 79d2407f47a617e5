"""NPZ datasets: arrays become inputs and table columns; bad files give one plain message."""

from __future__ import annotations

import numpy as np
import pytest

from audit.data import load_datasets, read_npz
from audit.errors import AuditInputError
from audit.spec import load_spec


def write(tmp_path, **arrays):
    path = tmp_path / "test.npz"
    np.savez(path, **arrays)
    return path


def datasets(tmp_path, **data):
    spec, _ = load_spec({"name": "n", "data": {"test": "test.npz", "target": "y", **data}}, model_object=True)
    return load_datasets(spec, tmp_path)


def test_images_labels_and_sensitive_arrays_are_loaded(tmp_path):
    x = np.random.default_rng(0).random((6, 1, 4, 4)).astype(np.float32)
    write(tmp_path, x=x, y=np.array([0, 1, 0, 1, 1, 0]), sex=np.array(list("FMFMFM")), site=np.arange(6).reshape(6, 1))
    ds = datasets(tmp_path, sensitive=["sex"], site="site")["test"]
    assert ds.x.shape == (6, 1, 4, 4) and np.array_equal(ds.x, x)
    assert ds.y.tolist() == [0, 1, 0, 1, 1, 0]
    assert ds.frame["sex"].tolist() == list("FMFMFM")
    assert ds.frame["site"].tolist() == list(range(6))  # an (N, 1) array is a column too
    assert "x" not in ds.frame.columns


def test_uint8_images_are_scaled_to_the_unit_interval(tmp_path):
    x = np.array([0, 51, 255, 128], dtype=np.uint8).reshape(4, 1)
    write(tmp_path, x=x, y=np.array([0, 1, 0, 1]))
    loaded, _ = read_npz(tmp_path / "test.npz")
    assert np.allclose(loaded[:, 0], [0.0, 0.2, 1.0, 128 / 255])


def test_missing_x_is_a_plain_message(tmp_path):
    write(tmp_path, images=np.zeros((3, 2)), y=np.array([0, 1, 0]))
    with pytest.raises(AuditInputError, match=r"has no array 'x' \(it has 'images', 'y'\); save the model inputs as x"):
        datasets(tmp_path)


def test_missing_labels_name_the_target_key(tmp_path):
    write(tmp_path, x=np.zeros((3, 2)), label=np.array([0, 1, 0]))
    with pytest.raises(AuditInputError, match=r"no array 'y' for the labels \(named by data.target"):
        datasets(tmp_path)


def test_an_array_of_the_wrong_length_is_named(tmp_path):
    write(tmp_path, x=np.zeros((3, 2)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(AuditInputError, match=r"the array 'y' has 4 values but 'x' has 3 rows"):
        datasets(tmp_path)


def test_three_dimensional_images_get_a_hint(tmp_path):
    write(tmp_path, x=np.zeros((3, 4, 4)), y=np.array([0, 1, 0]))
    with pytest.raises(AuditInputError, match=r"must be N×C×H×W .*add the channel axis: x\[:, None\]"):
        datasets(tmp_path)


def test_a_file_that_is_not_npz_is_a_plain_message(tmp_path):
    (tmp_path / "test.npz").write_bytes(b"not a zip archive")
    with pytest.raises(AuditInputError, match=r"could not be read as .npz"):
        datasets(tmp_path)


def test_missing_sensitive_array_is_named(tmp_path):
    write(tmp_path, x=np.zeros((3, 2)), y=np.array([0, 1, 0]))
    with pytest.raises(AuditInputError, match=r"has no column 'sex' \(named by data.sensitive"):
        datasets(tmp_path, sensitive=["sex"])
