"""Chunks run serially, on local processes or on a Dask cluster give identical numbers."""

import json

import numpy as np
import pytest

from audit.stats import ResamplingEngine, strata_codes
from audit.stats.metrics import GroupedBinaryMetrics


@pytest.fixture(scope="module")
def grouped_data():
    rng = np.random.default_rng(0)
    n = 40_000  # large enough that the replicates span several chunks
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.2)))
    groups = rng.integers(0, 4, n)
    return GroupedBinaryMetrics(y, p, groups), strata_codes(y, groups)


def bootstrap(kernel, strata, **executor):
    return ResamplingEngine(seed=11, n_resamples=600, **executor).bootstrap(kernel, strata, "parallel")


def test_chunks_cover_several_blocks(grouped_data):
    from audit.stats.resample import chunk_sizes

    assert len(chunk_sizes(40_000, 600)) > 2


def test_identical_results_serially_and_with_two_local_processes(grouped_data):
    serial = bootstrap(*grouped_data)
    two = bootstrap(*grouped_data, n_jobs=2)
    assert np.array_equal(serial.replicates, two.replicates, equal_nan=True)
    assert np.array_equal(serial.low, two.low, equal_nan=True) and np.array_equal(serial.high, two.high, equal_nan=True)


def test_identical_results_on_a_dask_local_cluster(grouped_data):
    distributed = pytest.importorskip("distributed")
    serial = bootstrap(*grouped_data)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_cluster = bootstrap(*grouped_data, scheduler=cluster.scheduler_address)
    assert np.array_equal(serial.replicates, on_cluster.replicates, equal_nan=True)
    assert np.array_equal(serial.low, on_cluster.low, equal_nan=True)


def test_progress_is_reported_per_chunk(grouped_data):
    seen = []
    ResamplingEngine(seed=1, n_resamples=600, method="percentile", progress=lambda done, total: seen.append((done, total))).bootstrap(
        *grouped_data, "progress"
    )
    assert len(seen) > 2 and seen[-1] == (600, 600) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cli_results_are_byte_identical_with_n_jobs(example_dir, tmp_path):
    from audit.cli import main

    args = ["run", str(example_dir / "audit.yaml"), "-q", "--n-resamples", "200"]
    assert main([*args, "--out", str(tmp_path / "serial")]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--n-jobs", "2"]) == 0
    serial = (tmp_path / "serial" / "results.json").read_bytes()
    assert serial == (tmp_path / "two" / "results.json").read_bytes()
    assert "n_jobs" not in json.loads(serial)["spec"]["settings"]


def test_unreachable_scheduler_is_a_plain_error(example_dir, tmp_path, capsys):
    pytest.importorskip("distributed")
    from audit.cli import main

    code = main(["run", str(example_dir / "audit.yaml"), "-q", "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "Dask scheduler" in err and not (tmp_path / "o").exists()
