"""The data profile and the leakage check."""

from pathlib import Path

import numpy as np
import pandas as pd

from audit.checks import data_profile
from audit.context import AuditContext, EvaluatedDataset
from audit.data import Dataset
from audit.spec import load_spec
from audit.stats import ResamplingEngine


def ctx_for(a: pd.DataFrame, b: pd.DataFrame, id_column="pid"):
    spec, _ = load_spec({"name": "p", "data": {"test": "a.csv", "external": {"b": "b.csv"}, "target": "y", "prediction": "p",
                                                "sensitive": ["sex"], "id": id_column}, "settings": {"n_resamples": 100}})
    ds = {n: EvaluatedDataset(Dataset(n, r, f"{n}.csv", "", f, f["y"].to_numpy()), f["p"].to_numpy())
          for n, r, f in (("test", "internal", a), ("b", "external", b))}
    return AuditContext(spec, Path("."), ds, ResamplingEngine(0, 100))


def frame(ids, seed):
    rng = np.random.default_rng(seed)
    n = len(ids)
    return pd.DataFrame({"pid": ids, "y": rng.integers(0, 2, n), "p": rng.random(n),
                         "sex": rng.choice(["F", "M", None], n), "age": np.where(rng.random(n) < 0.3, np.nan, rng.normal(60, 9, n))})


def test_profile_counts_equal_pandas():
    a, b = frame(range(100), 1), frame(range(100, 180), 2)
    section = data_profile.run(ctx_for(a, b))
    test = section.data["datasets"]["test"]
    assert test["n"] == 100 and test["n_events"] == int(a["y"].sum())
    missing = {m["column"]: m["count"] for m in test["missing"]}
    assert missing["age"] == int(a["age"].isna().sum())
    sex = {d["value"]: d["count"] for d in test["sensitive"]["sex"]}
    assert sex["(missing)"] == int(a["sex"].isna().sum()) and sex["F"] == int((a["sex"] == "F").sum())
    assert test["numeric"]["age"]["median"] == a["age"].median()
    # two evaluated sets compared with each other; no training table, so nothing about leakage from training
    assert section.status in ("pass", "warning") and section.evidence == {"data.profile": "shown", "data.overlap": "shown"}


def test_patients_in_two_datasets_are_an_error_and_duplicates_a_warning():
    a, b = frame(list(range(100)), 3), frame(list(range(95, 160)) + [200, 200], 4)
    section = data_profile.run(ctx_for(a, b))
    overlap = section.data["leakage"]["overlaps"][0]
    assert overlap["count"] == 5 and overlap["examples"] == ["95", "96", "97", "98", "99"]
    assert section.status == "fail" and section.evidence["data.overlap"] == "contradicted"
    assert any(f.severity == "error" and "5 patient identifiers" in f.message for f in section.findings)
    assert any(f.severity == "warning" and "more than once in b" in f.message for f in section.findings)


def test_no_overlap_no_error_and_no_id_no_leakage_evidence():
    a, b = frame(range(50), 5), frame(range(50, 90), 6)
    assert not any(f.severity == "error" for f in data_profile.run(ctx_for(a, b)).findings)
    spec, _ = load_spec({"name": "p", "data": {"test": "a.csv", "target": "y", "prediction": "p"}})
    ctx = AuditContext(spec, Path("."), {"test": ctx_for(a, b).datasets["test"]}, ResamplingEngine(0, 100))
    section = data_profile.run(ctx)
    assert section.evidence == {"data.profile": "shown"} and section.data["leakage"] is None


def test_overlap_is_found_when_a_blank_id_cell_turns_one_column_into_floats():
    a = frame([17, 52, 301, 4], 7)
    b = frame([17.0, 52.0, np.nan, 9.0], 8)
    section = data_profile.run(ctx_for(a, b))
    assert section.status == "fail"
    assert section.data["leakage"]["overlaps"][0]["examples"] == ["17", "52"]


def test_patients_from_the_training_table_are_an_error(tmp_path):
    import audit

    a = frame(range(100), 9)
    a.to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"pid": list(range(90, 300)), "x": 1}).to_csv(tmp_path / "train.csv", index=False)
    res = audit.run({"name": "leak", "data": {"test": str(tmp_path / "test.csv"), "train": str(tmp_path / "train.csv"),
                                              "target": "y", "prediction": "p", "id": "pid"},
                     "settings": {"n_resamples": 100}, "checks": ["profile"]})
    assert res.sections["profile"]["status"] == "fail"
    assert any("10 patient identifiers" in f["message"] and "trained on" in f["message"] for f in res.findings)
    assert "data:train" in res.results["provenance"]["files"]


def test_train_without_id_is_a_plain_spec_error():
    import pytest

    from audit.errors import AuditInputError

    with pytest.raises(AuditInputError, match="data.id"):
        load_spec({"name": "x", "data": {"test": "a.csv", "train": "t.csv", "target": "y", "prediction": "p"}})
