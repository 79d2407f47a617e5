"""The benchmark: models x datasets, paired comparisons with the reference, benchmark.json and .html."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from audit.benchmark import run_benchmark
from audit.cli import main as cli
from audit.stats.paired import delong_paired

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "benchmark_pima"


@pytest.fixture(scope="module")
def pima(tmp_path_factory) -> Path:
    """The Pima example prepared once, its spec cut to 200 resamples to keep the test fast."""
    spec = importlib.util.spec_from_file_location("benchmark_pima_prepare", EXAMPLE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("benchmark_pima")
    module.prepare(out)
    raw = yaml.safe_load((out / "benchmark.yaml").read_text())
    raw["settings"]["n_resamples"] = 200
    (out / "benchmark.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def simulated_tables(tmp_path: Path, n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A table with an id, an outcome and three models' predicted probabilities (prediction columns)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    latent = rng.normal(size=n) + 1.3 * y
    frame = pd.DataFrame({"pid": np.arange(1000, 1000 + n), "y": y})
    for k, name in enumerate(["p_ref", "p_good", "p_noisy"]):
        noise = [0.5, 0.3, 1.2][k]
        frame[name] = 1 / (1 + np.exp(-(latent + noise * rng.normal(size=n) - 0.8)))
    frame.to_csv(tmp_path / "test.csv", index=False)
    return frame


def spec_dict(tmp_path: Path, **changes) -> dict:
    spec = {
        "name": "three scores",
        "models": {"ref": {"prediction": "p_ref"}, "good": {"prediction": "p_good"}, "noisy": {"prediction": "p_noisy"}},
        "datasets": {"test": str(tmp_path / "test.csv")},
        "target": "y",
        "settings": {"seed": 3, "n_resamples": 100, "metrics": ["auroc", "brier", "sensitivity"], "reference": "ref"},
    }
    spec.update(changes)
    return spec


def write_spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "benchmark.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --------------------------------------------------------------------------- the example, end to end


def test_pima_example_runs_through_the_cli_and_reports_paired_comparisons(pima, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(["benchmark", str(pima / "benchmark.yaml"), "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "benchmark.json").read_text())
    comp = result["comparisons"]["pima_te"]
    assert comp["reference"] == "logistic"
    metrics = result["spec"]["settings"]["metrics"]
    assert [(r["model"], r["metric"]) for r in comp["rows"]] == [(m, k) for m in ("forest", "boosting") for k in metrics]
    # the AUROC comparison is DeLong's paired test on the models' own predictions (recomputed here)
    import skops.io as sio

    test = pd.read_csv(pima / "pima_te.csv")
    y = (test["type"] == "Yes").astype(int)
    features = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age"]
    pred = {}
    for name in ("logistic", "forest", "boosting"):
        path = pima / f"{name}.skops"
        model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        pred[name] = model.predict_proba(test[features])[:, 1]
    row = next(r for r in comp["rows"] if r["model"] == "forest" and r["metric"] == "auroc")
    assert row["model_value"] == pytest.approx(roc_auc_score(y, pred["forest"]), abs=1e-12)
    assert row["reference_value"] == pytest.approx(roc_auc_score(y, pred["logistic"]), abs=1e-12)
    assert row["p_value"] == pytest.approx(delong_paired(y, pred["logistic"], pred["forest"]).p_value, abs=1e-12)
    assert row["difference"]["method"] == "delong-paired"
    # paired proportions by Newcombe's paired score interval, other metrics by the paired patient bootstrap
    methods = {r["metric"]: r["difference"]["method"] for r in comp["rows"] if r["metric"] != "auroc"}
    assert all(m == "newcombe-paired" for k, m in methods.items() if k in ("sensitivity", "specificity", "accuracy"))
    assert {m for k, m in methods.items() if k not in ("sensitivity", "specificity", "accuracy")} <= {"bootstrap-bca", "bootstrap-percentile"}
    # Holm over every comparison of the dataset
    p = [r["p_value"] for r in comp["rows"]]
    np.testing.assert_allclose([r["p_adjusted"] for r in comp["rows"]], multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    # leaderboards carry every model with estimates in the one shape
    board = result["leaderboard"]["pima_te"]
    assert sorted(r["model"] for r in board) == ["boosting", "forest", "logistic"]
    assert set(board[0]["metrics"]["auroc"]) == {"value", "ci", "method", "n"}
    assert [r["model"] for r in comp["mcnemar"]] == ["forest", "boosting"]
    html = (out / "benchmark.html").read_text()
    assert "Paired differences from the reference model" in html and "data:image/svg+xml;base64," in html
    assert "<script" not in html.lower()


def test_benchmark_json_is_byte_identical_across_two_runs(tmp_path):
    simulated_tables(tmp_path)
    spec = write_spec(tmp_path, spec_dict(tmp_path, settings={"seed": 3, "n_resamples": 100, "reference": "ref"}))
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli(["benchmark", str(spec), "--out", str(first), "--quiet"]) == 0
    assert cli(["benchmark", str(spec), "--out", str(second), "--quiet"]) == 0
    assert (first / "benchmark.json").read_bytes() == (second / "benchmark.json").read_bytes()
    assert (first / "benchmark.html").read_bytes() == (second / "benchmark.html").read_bytes()


def test_benchmark_json_is_byte_identical_serially_on_two_processes_and_on_a_dask_cluster(tmp_path):
    """Issue 21: the model x dataset cells run in parallel, locally (--n-jobs) and on Dask (--scheduler), and
    benchmark.json does not change (the execution settings are not recorded in it)."""
    distributed = pytest.importorskip("distributed")
    simulated_tables(tmp_path)
    (tmp_path / "second").mkdir()
    simulated_tables(tmp_path / "second", seed=5)
    spec = spec_dict(tmp_path, settings={"seed": 3, "n_resamples": 100, "reference": "ref"},
                     datasets={"test": str(tmp_path / "test.csv"), "second": str(tmp_path / "second" / "test.csv")})
    path = write_spec(tmp_path, spec)
    outs = {name: tmp_path / name for name in ("serial", "jobs", "dask", "spec_jobs")}
    assert cli(["benchmark", str(path), "--out", str(outs["serial"]), "--quiet"]) == 0
    assert cli(["benchmark", str(path), "--out", str(outs["jobs"]), "--quiet", "--n-jobs", "2"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert cli(["benchmark", str(path), "--out", str(outs["dask"]), "--quiet", "--scheduler", cluster.scheduler_address]) == 0
    in_spec = tmp_path / "benchmark_jobs.yaml"  # n_jobs in the spec itself, beside the other
    in_spec.write_text(yaml.safe_dump({**spec, "settings": {**spec["settings"], "n_jobs": 2}}, sort_keys=False))
    assert cli(["benchmark", str(in_spec), "--out", str(outs["spec_jobs"]), "--quiet"]) == 0
    serial = (outs["serial"] / "benchmark.json").read_bytes()
    assert len(json.loads(serial)["leaderboard"]) == 2
    for name in ("jobs", "dask", "spec_jobs"):
        assert (outs[name] / "benchmark.json").read_bytes() == serial, name
        assert (outs[name] / "benchmark.html").read_bytes() == (outs["serial"] / "benchmark.html").read_bytes(), name


def test_a_benchmark_scheduler_that_is_not_an_address_is_exit_2(tmp_path, capsys):
    simulated_tables(tmp_path)
    message = run_cli_expecting_error(tmp_path, spec_dict(tmp_path, settings={"scheduler": "my laptop", "reference": "ref"}), capsys)
    assert "scheduler" in message and "tcp://host:port" in message


def test_rows_matched_by_id_give_the_same_comparison_as_rows_in_the_same_order(tmp_path):
    frame = simulated_tables(tmp_path)
    shuffled = frame.sample(frac=1.0, random_state=1)[["pid", "y", "p_good"]]
    shuffled.to_csv(tmp_path / "good_shuffled.csv", index=False)
    in_order = run_benchmark(spec_dict(tmp_path, id="pid")).results
    models = {"ref": {"prediction": "p_ref"}, "good": {"prediction": "p_good", "tables": {"test": str(tmp_path / "good_shuffled.csv")}},
              "noisy": {"prediction": "p_noisy"}}
    matched = run_benchmark(spec_dict(tmp_path, id="pid", models=models)).results
    assert matched["comparisons"] == in_order["comparisons"]
    assert matched["leaderboard"] == in_order["leaderboard"]


def test_a_clearly_worse_model_is_flagged_with_an_interval_below_zero(tmp_path):
    simulated_tables(tmp_path, n=600)  # "noisy" adds noise of SD 1.2 to the shared risk, the reference 0.5
    result = run_benchmark(spec_dict(tmp_path)).results
    auroc = {r["model"]: r for r in result["comparisons"]["test"]["rows"] if r["metric"] == "auroc"}
    assert auroc["noisy"]["significant"] and auroc["noisy"]["difference"]["ci"][1] < 0
    assert any("AUROC of noisy is" in f["message"] and "worse" in f["message"] for f in result["findings"])


def test_user_text_is_escaped_in_the_html(tmp_path):
    simulated_tables(tmp_path)
    models = {"<script>alert(1)</script>": {"prediction": "p_ref"}, "good": {"prediction": "p_good"}}
    spec = spec_dict(tmp_path, name="<img src=x onerror=alert(1)>", models=models)
    spec["settings"]["reference"] = "<script>alert(1)</script>"
    html = run_benchmark(spec).to_html()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- bad input: exit 2, one plain message


def run_cli_expecting_error(tmp_path, spec: dict, capsys) -> str:
    path = write_spec(tmp_path, spec)
    code = cli(["benchmark", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not (tmp_path / "out").exists(), "nothing may be written on bad input"
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_unknown_key_is_exit_2_with_the_closest_valid_key(tmp_path, capsys):
    simulated_tables(tmp_path)
    spec = spec_dict(tmp_path)
    spec["settings"]["n_resample"] = 100
    err = run_cli_expecting_error(tmp_path, spec, capsys)
    assert "unknown key 'settings.n_resample'" in err and "did you mean 'n_resamples'" in err


def test_unknown_key_in_a_model_is_exit_2(tmp_path, capsys):
    simulated_tables(tmp_path)
    spec = spec_dict(tmp_path)
    spec["models"]["good"]["predictions"] = "p_good"
    err = run_cli_expecting_error(tmp_path, spec, capsys)
    assert "unknown key 'models.good.predictions'" in err and "did you mean 'prediction'" in err


def test_unknown_reference_model_is_exit_2(tmp_path, capsys):
    simulated_tables(tmp_path)
    spec = spec_dict(tmp_path)
    spec["settings"]["reference"] = "refs"
    err = run_cli_expecting_error(tmp_path, spec, capsys)
    assert "settings.reference is 'refs', which is not one of the models" in err and "did you mean 'ref'" in err


def test_mismatched_row_count_is_exit_2_and_says_pairing_was_refused(tmp_path, capsys):
    frame = simulated_tables(tmp_path)
    frame.iloc[:250].to_csv(tmp_path / "fewer.csv", index=False)
    spec = spec_dict(tmp_path)
    spec["models"]["good"]["tables"] = {"test": str(tmp_path / "fewer.csv")}
    err = run_cli_expecting_error(tmp_path, spec, capsys)
    assert "cannot pair models 'ref' and 'good' on dataset 'test'" in err and "300 and 250 rows" in err


def test_same_count_but_different_patients_is_exit_2(tmp_path, capsys):
    frame = simulated_tables(tmp_path)
    frame.sample(frac=1.0, random_state=2).to_csv(tmp_path / "shuffled.csv", index=False)  # no id: order matters
    spec = spec_dict(tmp_path)
    spec["models"]["good"]["tables"] = {"test": str(tmp_path / "shuffled.csv")}
    err = run_cli_expecting_error(tmp_path, spec, capsys)
    assert "the outcome differs in" in err and "name a patient identifier column in id" in err


def test_different_identifiers_are_exit_2(tmp_path, capsys):
    frame = simulated_tables(tmp_path)
    other = frame.copy()
    other.loc[:4, "pid"] = np.arange(5) + 1  # five patients that the reference's table does not have
    other.to_csv(tmp_path / "other.csv", index=False)
    spec = spec_dict(tmp_path, id="pid")
    spec["models"]["good"]["tables"] = {"test": str(tmp_path / "other.csv")}
    err = run_cli_expecting_error(tmp_path, spec, capsys)
    assert "by 'pid', 5 of 'ref''s patients are not in 'good''s table" in err


def test_paired_speed_benchmark_script_runs_on_a_tiny_size(capsys):
    """benchmarks/paired.py runs (so it cannot rot); no test asserts a time."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "paired.py"
    spec = importlib.util.spec_from_file_location("benchmark_paired", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    timings = module.main(["--n", "500", "--B", "20", "--naive-replicates", "5"])
    assert set(timings) == {"naive_s", "engine_s", "ratio"} and "speed-up" in capsys.readouterr().out
