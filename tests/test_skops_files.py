"""Saved models are byte-reproducible: the same model gives the same .skops bytes, and loads back unchanged."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit import skops_files


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4))
    x[:, 3] = rng.integers(0, 3, 200)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=200) > 0).astype(int)
    return x, y


def _pipeline():
    x, y = _data()
    prep = ColumnTransformer([("num", StandardScaler(), [0, 1, 2]), ("cat", OneHotEncoder(handle_unknown="ignore"), [3])])
    return make_pipeline(prep, LogisticRegression(max_iter=500)).fit(x, y)


def _boosting():
    x, y = _data()
    return HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)


@pytest.mark.parametrize("make", [_pipeline, _boosting])
def test_the_same_model_fitted_twice_saves_to_the_same_bytes(make):
    first, second = make(), make()  # two objects at two addresses, identical fits
    assert sio.dumps(first) != sio.dumps(second)  # what skops writes differs (addresses, clock)
    ours = skops_files.dumps(first)
    assert skops_files.dumps(second) == ours
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(skops_files.dumps(first)).hexdigest()
    entry_times = {i.date_time for i in zipfile.ZipFile(io.BytesIO(ours)).infolist()}
    assert entry_times == {skops_files.FIXED_TIME}


@pytest.mark.parametrize("make", [_pipeline, _boosting])
def test_the_rewritten_file_loads_back_to_the_same_predictions_with_the_same_trusted_types(make, tmp_path):
    model = make()
    path = tmp_path / "model.skops"
    skops_files.dump(model, path)
    original = sio.dumps(model)
    assert sio.get_untrusted_types(data=path.read_bytes()) == sio.get_untrusted_types(data=original)
    trusted = sio.get_untrusted_types(data=original)
    loaded = sio.load(path, trusted=trusted)
    x, _ = _data()
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_shared_objects_stay_shared():
    """skops records an object used twice once, by its address: renumbering keeps the two uses one object."""
    scaler = StandardScaler().fit(_data()[0])
    loaded = sio.loads(skops_files.dumps({"a": scaler, "b": scaler}), trusted=sio.get_untrusted_types(data=sio.dumps({"a": scaler, "b": scaler})))
    assert loaded["a"] is loaded["b"]
