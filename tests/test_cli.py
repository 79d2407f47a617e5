"""The command line end to end: the example audit, determinism, and every kind of bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from audit.cli import main

FAST = ["--n-resamples", "200"]


def write_spec(directory: Path, spec: dict, name: str = "audit.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def prediction_spec(tmp_path):
    """A spec with no model: a table with a prediction column."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    frame = pd.DataFrame({"y": y, "risk": np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 120), 0, 1), "sex": rng.choice(["F", "M"], 120)})
    frame.to_csv(tmp_path / "test.csv", index=False)
    spec = {"name": "prediction column", "data": {"test": "test.csv", "target": "y", "prediction": "risk"}, "settings": {"n_resamples": 100}}
    return tmp_path, frame, spec


def test_cli_runs_the_example_audit_and_writes_results_and_report(example_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(example_dir / "audit.yaml"), "--out", str(out), *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "trustaudit/results/1"
    perf = results["sections"]["performance"]["datasets"]
    assert set(perf) == {"test", "gbsg"}
    for ds in perf.values():
        for name, est in ds["metrics"].items():
            assert set(est) == {"value", "ci", "method", "n"}
            assert est["ci"][0] <= est["value"] <= est["ci"][1], name
            assert est["ci"][0] < est["ci"][1], name  # never a zero-width interval
        assert ds["metrics"]["auroc"]["method"] == "delong-logit"
    html = (out / "report.html").read_text()
    assert "Rotterdam" in html and "data:image/svg+xml;base64," in html
    assert "wrote" in capsys.readouterr().out
    # every estimate in the whole file: never a zero-width interval, never a missing one without the reason
    estimates = list(_estimates(results))
    assert len(estimates) > 500
    assert not [e for e in estimates if e["ci"] and None not in e["ci"] and e["ci"][0] == e["ci"][1]]
    assert not [e for e in estimates if e["ci"] is None and "reason" not in e]


def _estimates(node):
    if isinstance(node, dict):
        if {"value", "ci", "method"} <= set(node):
            yield node
        for v in node.values():
            yield from _estimates(v)
    elif isinstance(node, list):
        for v in node:
            yield from _estimates(v)


def test_two_runs_give_byte_identical_results_json(example_dir, tmp_path):
    for name in ("a", "b"):
        assert main(["run", str(example_dir / "audit.yaml"), "--out", str(tmp_path / name), "--quiet", *FAST]) == 0
    assert (tmp_path / "a" / "results.json").read_bytes() == (tmp_path / "b" / "results.json").read_bytes()
    text = (tmp_path / "a" / "results.json").read_text()
    assert str(example_dir) not in text and str(tmp_path) not in text  # no absolute paths


def test_results_json_records_provenance(example_dir, tmp_path):
    assert main(["run", str(example_dir / "audit.yaml"), "--out", str(tmp_path), "-q", "--seed", "3", *FAST]) == 0
    prov = json.loads((tmp_path / "results.json").read_text())["provenance"]
    assert prov["seed"] == 3 and prov["n_resamples"] == 200 and prov["confidence"] == 0.95
    assert set(prov["files"]) == {"data:test", "data:gbsg", "model"}
    assert all(len(f["sha256"]) == 64 for f in prov["files"].values())
    assert prov["packages"]["scikit-learn"] != "not installed"


def test_console_script_help_and_bad_input_without_traceback(tmp_path):
    exe = Path(sys.executable).parent / "trustaudit"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "audit.cli"]
    helped = subprocess.run([*command, "run", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0
    for option in ("--out", "--seed", "--n-resamples", "--quiet"):
        assert option in helped.stdout
    failed = subprocess.run([*command, "run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr and failed.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def run_bad(tmp_path, spec_path, capsys, match):
    out = tmp_path / "report-out"
    code = main(["run", str(spec_path), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("trustaudit: error:")
    assert match.lower() in err.lower(), err
    assert not out.exists(), "no output may be written on bad input"


def test_spec_file_missing(tmp_path, capsys):
    run_bad(tmp_path, tmp_path / "nope.yaml", capsys, "nope.yaml")


def test_spec_not_yaml(tmp_path, capsys):
    path = tmp_path / "audit.yaml"
    path.write_text("name: [unclosed\n  data: {\n")
    run_bad(tmp_path, path, capsys, "yaml")


def test_misspelt_key_is_named_with_a_suggestion(prediction_spec, capsys):
    directory, _, spec = prediction_spec
    spec["settings"] = {"n_resample": 100}
    run_bad(directory, write_spec(directory, spec), capsys, "n_resamples")


def test_wrong_type_names_the_key(prediction_spec, capsys):
    directory, _, spec = prediction_spec
    spec["settings"] = {"confidence": "high"}
    run_bad(directory, write_spec(directory, spec), capsys, "confidence")


def test_target_column_absent(prediction_spec, capsys):
    directory, _, spec = prediction_spec
    spec["data"]["target"] = "outcome"
    run_bad(directory, write_spec(directory, spec), capsys, "outcome")


@pytest.mark.parametrize("bad, match", [(np.nan, "missing"), (1.5, "[0, 1]")])
def test_prediction_column_with_nan_or_out_of_range(prediction_spec, capsys, bad, match):
    directory, frame, spec = prediction_spec
    frame.loc[3, "risk"] = bad
    frame.to_csv(directory / "test.csv", index=False)
    run_bad(directory, write_spec(directory, spec), capsys, "risk")


def test_only_one_class(prediction_spec, capsys):
    directory, frame, spec = prediction_spec
    frame.assign(y=0).to_csv(directory / "test.csv", index=False)
    run_bad(directory, write_spec(directory, spec), capsys, "one class")


def test_non_binary_labels(prediction_spec, capsys):
    directory, frame, spec = prediction_spec
    frame.assign(y=np.arange(len(frame)) % 3).to_csv(directory / "test.csv", index=False)
    run_bad(directory, write_spec(directory, spec), capsys, "binary")


def test_empty_table(prediction_spec, capsys):
    directory, frame, spec = prediction_spec
    frame.iloc[:0].to_csv(directory / "test.csv", index=False)
    run_bad(directory, write_spec(directory, spec), capsys, "no rows")


def test_model_file_missing(example_dir, tmp_path, capsys):
    spec = yaml.safe_load((example_dir / "audit.yaml").read_text())
    spec["model"] = {"path": str(example_dir / "absent.skops")}
    spec["data"]["test"] = str(example_dir / "rotterdam_test.csv")
    spec["data"]["external"] = {}
    run_bad(tmp_path, write_spec(tmp_path, spec), capsys, "absent.skops")


def test_model_file_corrupt(example_dir, tmp_path, capsys):
    (tmp_path / "broken.skops").write_bytes(b"not a zip file at all")
    spec = yaml.safe_load((example_dir / "audit.yaml").read_text())
    spec["model"] = {"path": "broken.skops"}
    spec["data"] = {**spec["data"], "test": str(example_dir / "rotterdam_test.csv"), "external": {}}
    run_bad(tmp_path, write_spec(tmp_path, spec), capsys, "broken.skops")


def test_pickle_without_trust_is_refused(example_dir, tmp_path, capsys):
    import joblib
    import skops.io as sio

    joblib.dump(sio.load(example_dir / "model.skops"), tmp_path / "model.joblib")
    spec = yaml.safe_load((example_dir / "audit.yaml").read_text())
    spec["model"] = {"path": "model.joblib"}
    spec["data"] = {**spec["data"], "test": str(example_dir / "rotterdam_test.csv"), "external": {}}
    run_bad(tmp_path, write_spec(tmp_path, spec), capsys, "trust: true")
    spec["model"]["trust"] = True
    assert main(["run", str(write_spec(tmp_path, spec)), "--out", str(tmp_path / "ok"), "-q", *FAST]) == 0


def test_output_directory_not_writable(prediction_spec, capsys):
    directory, _, spec = prediction_spec
    (directory / "a-file").write_text("x")
    code = main(["run", str(write_spec(directory, spec)), "--out", str(directory / "a-file" / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the report" in err and "Traceback" not in err


def test_failed_save_leaves_previous_report_intact_and_no_temporary_files(prediction_spec, monkeypatch):
    import audit
    from audit import result as result_module

    directory, _, spec = prediction_spec
    res = audit.run(write_spec(directory, spec))
    out = directory / "out"
    res.save(out)
    before = (out / "results.json").read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_module.os, "replace", broken_replace)
    with pytest.raises(audit.AuditInputError, match="cannot write"):
        res.save(out)
    assert (out / "results.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["figures.json", "report.html", "results.json"]


def test_python_api_accepts_a_dict_spec_and_an_in_memory_model(example_dir, tmp_path, monkeypatch):
    import skops.io as sio

    import audit

    model = sio.load(example_dir / "model.skops")
    monkeypatch.chdir(example_dir)
    spec = {"name": "in memory", "data": {"test": "rotterdam_test.csv", "target": "rfs5"}, "settings": {"n_resamples": 100}}
    res = audit.run(spec, model=model)
    auroc = res.sections["performance"]["datasets"]["test"]["metrics"]["auroc"]["value"]
    frame = pd.read_csv(example_dir / "rotterdam_test.csv")
    from sklearn.metrics import roc_auc_score

    assert auroc == pytest.approx(roc_auc_score(frame["rfs5"], model.predict_proba(frame)[:, 1]), abs=1e-12)
    written = res.save(tmp_path / "api")
    assert set(written) == {"results.json", "figures.json", "report.html"}


def test_model_returning_the_wrong_number_of_predictions(example_dir, monkeypatch):
    import audit

    class Truncating:
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            p = np.full(len(X) - 2, 0.5)
            return np.column_stack([1 - p, p])

    monkeypatch.chdir(example_dir)
    spec = {"name": "short", "data": {"test": "rotterdam_test.csv", "target": "rfs5", "features": ["age"]}}
    with pytest.raises(audit.AuditInputError, match="predictions"):
        audit.run(spec, model=Truncating())


def test_flchain_example_audit_reports_age_band_gaps(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "flchain" / "prepare.py"
    spec = importlib.util.spec_from_file_location("flchain_prepare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.prepare(tmp_path)
    assert main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "-q", *FAST]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    fair = results["sections"]["fairness"]
    assert fair["status"] == "fail" and "fairness.intersectional" in fair["evidence"]
    warnings = [f["message"] for f in results["findings"] if f["check"] == "fairness" and f["severity"] == "warning"]
    assert any("age_band=" in m and "Sensitivity" in m for m in warnings)
