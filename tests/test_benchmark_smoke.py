"""The benchmark script runs (tiny size) so it cannot rot; no test asserts a time."""

import importlib.util
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bootstrap.py"


def test_benchmark_script_runs_on_a_tiny_size_and_prints_its_table(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_bootstrap", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--n", "1500", "--B", "60", "--naive-replicates", "2", "--repeat", "1", "--jobs", "1"])
    out = capsys.readouterr().out
    for row in ("naive loop", "resampling floor", "AUROC overall", "all cells", "trustaudit run: performance + fairness"):
        assert row in out
    assert "vs naive" in out and "vs floor" in out
