"""Models: files load safely, columns are matched by name, outputs are checked, failures name the dataset."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audit.data import load_datasets
from audit.errors import AuditInputError
from audit.models import load_model, predictions
from audit.spec import load_spec

FEATURES = ["age", "bmi", "sbp"]


def make_table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Three numeric features, a 0/1 target ``y`` that depends on them, an id and a sensitive column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES})
    frame["y"] = (frame["age"] + 0.5 * frame["bmi"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame["pid"] = np.arange(n)
    frame["sex"] = np.where(np.arange(n) % 2 == 0, "F", "M")
    return frame


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return make_table(seed=1)


@pytest.fixture(scope="module")
def pipeline(train) -> object:
    """A scaler + logistic regression fitted on a DataFrame (so it knows its feature names)."""
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(train[FEATURES], train["y"])


def setup(tmp_path: Path, frame: pd.DataFrame, model: dict | str | None = None, **data):
    """Write ``frame`` as test.csv and return (spec, base_dir, datasets)."""
    frame.to_csv(tmp_path / "test.csv", index=False)
    raw = {"name": "m", "data": {"test": "test.csv", "target": "y", **data}}
    if model is not None:
        raw["model"] = model
    spec, _ = load_spec(raw, model_object=model is None and "prediction" not in data)
    return spec, tmp_path, load_datasets(spec, tmp_path)


def predict(tmp_path, frame, model_object=None, model=None, **data) -> np.ndarray:
    spec, base, datasets = setup(tmp_path, frame, model, **data)
    adapter = load_model(spec, base, model_object)
    return predictions(adapter, datasets["test"], spec)


# ---- skops -----------------------------------------------------------------------------------


def test_skops_pipeline_loads_without_trust_and_predicts_as_in_memory(tmp_path, pipeline):
    sio.dump(pipeline, tmp_path / "model.skops")
    frame = make_table()
    spec, base, datasets = setup(tmp_path, frame, {"path": "model.skops"})
    adapter = load_model(spec, base)
    assert adapter.description == "sklearn Pipeline (StandardScaler → LogisticRegression) from model.skops"
    np.testing.assert_array_equal(
        predictions(adapter, datasets["test"], spec), pipeline.predict_proba(frame[FEATURES])[:, 1]
    )


def test_skops_file_with_untrusted_types_needs_trust(tmp_path, train):
    model = HistGradientBoostingClassifier(max_iter=3).fit(train[FEATURES], train["y"])
    sio.dump(model, tmp_path / "hgb.skops")
    frame = make_table()
    with pytest.raises(AuditInputError, match=r"'hgb\.skops' contains types.*TreePredictor.*trust: true"):
        predict(tmp_path, frame, model={"path": "hgb.skops"})
    scores = predict(tmp_path, frame, model={"path": "hgb.skops", "trust": True})
    np.testing.assert_allclose(scores, model.predict_proba(frame[FEATURES])[:, 1])


def test_corrupt_skops_file_is_named(tmp_path):
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(AuditInputError, match=r"model file 'model\.skops' could not be loaded"):
        predict(tmp_path, make_table(), model={"path": "model.skops"})


# ---- pickles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.pickle"])
def test_pickle_is_refused_without_trust_and_loads_with_it(tmp_path, pipeline, name):
    joblib.dump(pipeline, tmp_path / name)
    frame = make_table()
    with pytest.raises(AuditInputError, match=rf"'{name}' is a pickle.*arbitrary code.*trust: true.*skops"):
        predict(tmp_path, frame, model={"path": name})
    scores = predict(tmp_path, frame, model={"path": name, "trust": True})
    np.testing.assert_array_equal(scores, pipeline.predict_proba(frame[FEATURES])[:, 1])


def test_corrupt_pickle_is_named(tmp_path):
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04garbage")
    with pytest.raises(AuditInputError, match=r"model file 'model\.joblib' could not be loaded"):
        predict(tmp_path, make_table(), model={"path": "model.joblib", "trust": True})


# ---- file names ------------------------------------------------------------------------------


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(AuditInputError, match=r"model file '.*absent\.skops' does not exist"):
        predict(tmp_path, make_table(), model="absent.skops")


@pytest.mark.parametrize("name", ["model.h5", "model.txt"])
def test_unsupported_model_format_lists_supported_ones(tmp_path, name):
    (tmp_path / name).write_bytes(b"x")
    with pytest.raises(AuditInputError, match=r"unsupported format.*\.skops, \.joblib, \.pkl, \.pickle, \.onnx, \.pt"):
        predict(tmp_path, make_table(), model=name)


# ---- model objects ---------------------------------------------------------------------------


def test_object_without_predict_proba_is_refused(tmp_path, train):
    regressor = LinearRegression().fit(train[FEATURES], train["y"])
    with pytest.raises(AuditInputError, match=r"LinearRegression\) has no predict_proba"):
        predict(tmp_path, make_table(), regressor)


def test_model_with_three_classes_is_refused(tmp_path, train):
    model = LogisticRegression().fit(train[FEATURES], np.arange(len(train)) % 3)
    with pytest.raises(AuditInputError, match=r"the model has 3 classes \(0, 1, 2\).*binary"):
        predict(tmp_path, make_table(), model)


def test_string_classes_use_positive_label(tmp_path, train):
    labels = np.where(train["y"] == 1, "relapse", "cured")
    model = LogisticRegression().fit(train[FEATURES], labels)
    frame = make_table()
    frame["y"] = np.where(frame["y"] == 1, "relapse", "cured")
    relapse = predict(tmp_path, frame, model, positive_label="relapse")
    cured = predict(tmp_path, frame, model, positive_label="cured")
    np.testing.assert_allclose(relapse, model.predict_proba(frame[FEATURES])[:, 1])
    np.testing.assert_allclose(relapse + cured, 1.0)


def test_positive_label_missing_from_model_classes_is_refused(tmp_path, train):
    model = LogisticRegression().fit(train[FEATURES], np.where(train["y"] == 1, "yes", "no"))
    frame = make_table()
    frame["y"] = np.where(frame["y"] == 1, "Y", "N")
    with pytest.raises(AuditInputError, match=r"positive_label 'Y' is not one of the model's classes \('no', 'yes'\)"):
        predict(tmp_path, frame, model, positive_label="Y")


# ---- feature columns -------------------------------------------------------------------------


def test_shuffled_and_extra_columns_give_identical_predictions(tmp_path, pipeline):
    frame = make_table()
    reference = predict(tmp_path, frame, pipeline)
    shuffled = frame[["sex", "sbp", "y", "age", "pid", "bmi"]].assign(noise=1.0, other="x")
    np.testing.assert_array_equal(predict(tmp_path, shuffled, pipeline), reference)


def test_missing_feature_columns_are_listed_with_the_dataset(tmp_path, pipeline):
    frame = make_table().drop(columns=["bmi", "sbp"])
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.csv\): the model needs 2 input columns that the table lacks: 'bmi', 'sbp'"):
        predict(tmp_path, frame, pipeline)


def test_data_features_in_another_order_use_the_models_order(tmp_path, pipeline):
    frame = make_table()
    scores = predict(tmp_path, frame, pipeline, features=["sbp", "bmi", "age"])
    np.testing.assert_array_equal(scores, pipeline.predict_proba(frame[FEATURES])[:, 1])


def test_data_features_that_disagree_with_the_model_are_refused(tmp_path, pipeline):
    with pytest.raises(AuditInputError, match=r"data\.features lists \['pid'\].*omits \['sbp'\]"):
        predict(tmp_path, make_table(), pipeline, features=["age", "bmi", "pid"])


def test_array_fitted_model_uses_data_features(tmp_path, train):
    model = LogisticRegression().fit(train[FEATURES].to_numpy(), train["y"])
    frame = make_table()
    shuffled = frame[["y", "sbp", "sex", "bmi", "age"]]
    scores = predict(tmp_path, shuffled, model, features=FEATURES)
    np.testing.assert_array_equal(scores, model.predict_proba(frame[FEATURES].to_numpy())[:, 1])


def test_array_fitted_model_defaults_to_all_other_columns(tmp_path, train):
    model = LogisticRegression().fit(train[FEATURES].to_numpy(), train["y"])
    frame = make_table()[["pid", *FEATURES, "y"]]
    scores = predict(tmp_path, frame, model, id="pid")
    np.testing.assert_array_equal(scores, model.predict_proba(frame[FEATURES].to_numpy())[:, 1])


def test_array_fitted_model_with_a_different_column_count_asks_for_data_features(tmp_path, train):
    model = LogisticRegression().fit(train[FEATURES].to_numpy(), train["y"])
    with pytest.raises(AuditInputError, match=r"expects 3 input columns, but the table has 5 .*data\.features"):
        predict(tmp_path, make_table(), model)


# ---- predictions -----------------------------------------------------------------------------


def test_without_a_model_predictions_come_from_the_prediction_column(tmp_path):
    frame = make_table().assign(p=np.linspace(0, 1, 40))
    spec, base, datasets = setup(tmp_path, frame, prediction="p")
    assert load_model(spec, base) is None
    scores = predictions(None, datasets["test"], spec)
    assert scores.dtype == float
    np.testing.assert_array_equal(scores, frame["p"].to_numpy())


class FixedOutput:
    """A stand-in 'model' whose predict_proba returns a fixed P(positive) column."""

    classes_ = np.array([0, 1])

    def __init__(self, positive: np.ndarray) -> None:
        self.positive = np.asarray(positive, dtype=float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([1 - self.positive, self.positive])


def test_wrong_number_of_predictions_is_reported(tmp_path):
    with pytest.raises(AuditInputError, match=r"the model returned 10 predictions for 12 rows of dataset 'test'"):
        predict(tmp_path, make_table(12), FixedOutput(np.full(10, 0.5)), features=FEATURES)


def test_nan_predictions_are_counted(tmp_path):
    output = np.full(12, 0.5)
    output[[1, 2, 3]] = np.nan
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.csv\): the model returned NaN for 3 of 12 rows"):
        predict(tmp_path, make_table(12), FixedOutput(output), features=FEATURES)


def test_predictions_outside_unit_interval_are_reported(tmp_path):
    output = np.full(12, 0.5)
    output[0] = 1.7
    with pytest.raises(AuditInputError, match=r"returned 1 value outside \[0, 1\] \(min -?0\.\d+, max 1\.7\)"):
        predict(tmp_path, make_table(12), FixedOutput(output), features=FEATURES)


def test_tiny_rounding_excess_is_clipped(tmp_path):
    output = np.full(12, 0.5)
    output[0] = 1 + 1e-12
    scores = predict(tmp_path, make_table(12), FixedOutput(output), features=FEATURES)
    assert scores.max() == 1.0


def test_model_failure_names_the_dataset_and_the_reason(tmp_path, pipeline):
    frame = make_table().astype({"age": object})
    frame.loc[5, "age"] = "sixty"
    with pytest.raises(AuditInputError, match=r"dataset 'test' \(test\.csv\): the model failed to predict \(ValueError: .*sixty"):
        predict(tmp_path, frame, pipeline)
