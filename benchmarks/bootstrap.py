"""Benchmark: trustaudit's resampling engine against the naive bootstrap loop and the resampling floor.

Every figure is measured in this run, on this machine, on the same simulated data:

- *naive loop*: what most tools do — per replicate, draw stratified row indices, then call
  scikit-learn once per metric and per cell. Its cost is linear in the number of replicates, so
  it is timed on ``--naive-replicates`` replicates and scaled to ``B`` (say ``--naive-replicates B``
  to time all of them);
- *resampling floor*: drawing ``B x n`` uniform indices and counting them with ``bincount`` —
  the least any count-based bootstrap must do;
- *engine*: ``audit.stats`` — counts drawn in chunks in the statistic's layout, every metric of
  every cell computed from running sums of the counts; serially and with ``--jobs`` processes;
- *audit*: the whole ``trustaudit run`` (performance and fairness checks, report included) on a CSV of ``n`` rows;
- with ``--memory``: peak RSS of an AUROC bootstrap at n = 1,000,000 and B = 2,000, in a child process.

    python benchmarks/bootstrap.py                      # n = 100,000, B = 1,000, 6 cells
    python benchmarks/bootstrap.py --memory             # adds the 1,000,000-row memory run
    python benchmarks/bootstrap.py --n 2000 --B 50 --naive-replicates 2   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from audit.stats import PERFORMANCE_METRICS, BinaryMetrics, strata_codes
from audit.stats.bootstrap import ResamplingEngine, replicates
from audit.stats.metrics import GroupedBinaryMetrics


def simulated(n: int, n_cells: int, seed: int = 0):
    """Outcome with 30% prevalence, a risk score, and two sensitive attributes (n_cells = a x b cells)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.2)))
    sex = rng.integers(0, 2, n)
    band = rng.integers(0, max(1, n_cells // 2), n)
    cell = sex * max(1, n_cells // 2) + band
    return y, p, sex, band, cell


def naive_metrics(y, p, threshold=0.5):
    pred = (p >= threshold).astype(int)
    return [
        skm.roc_auc_score(y, p),
        skm.average_precision_score(y, p),
        skm.recall_score(y, pred, zero_division=np.nan),
        skm.recall_score(1 - y, 1 - pred, zero_division=np.nan),
        skm.precision_score(y, pred, zero_division=np.nan),
        skm.precision_score(1 - y, 1 - pred, zero_division=np.nan),
        skm.accuracy_score(y, pred),
        skm.balanced_accuracy_score(y, pred),
        skm.f1_score(y, pred, zero_division=np.nan),
        skm.brier_score_loss(y, p),
    ]


def naive_bootstrap(y, p, cell, B, seed=1):
    """The loop: per replicate, stratified indices, then sklearn per metric for overall and each cell."""
    rng = np.random.default_rng(seed)
    strata = strata_codes(y, cell)
    members = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    cells = np.unique(cell)
    out = []
    for _ in range(B):
        idx = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in members])
        yb, pb, cb = y[idx], p[idx], cell[idx]
        row = naive_metrics(yb, pb)
        for c in cells:
            row += naive_metrics(yb[cb == c], pb[cb == c])
        out.append(row)
    return np.array(out)


def resampling_floor(n, B, seed=1):
    """B x n uniform indices counted with bincount, in the same chunks as the engine."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(B, 8 * 2**20 // n))
    for start in range(0, B, chunk):
        b = min(chunk, B - start)
        draws = rng.integers(0, n, size=(b, n))
        draws += (np.arange(b) * n)[:, None]
        np.bincount(draws.ravel(), minlength=b * n)


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def audit_run_seconds(y, p, sex, band, B):
    """The whole trustaudit run (performance and fairness by two attributes and their intersection, report included)."""
    import pandas as pd

    import audit

    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame({"y": y, "risk": p, "sex": sex, "band": band}).to_csv(Path(tmp) / "test.csv", index=False)
        spec = {
            "name": "benchmark",
            "data": {"test": str(Path(tmp) / "test.csv"), "target": "y", "prediction": "risk", "sensitive": ["sex", "band"]},
            "settings": {"n_resamples": B, "seed": 1},
            "checks": ["performance", "fairness"],
        }
        start = time.perf_counter()
        audit.run(spec).save(Path(tmp) / "out")
        return time.perf_counter() - start


MEMORY_CHILD = """
import json, resource, time, numpy as np
from audit.stats import BinaryMetrics, ResamplingEngine
n, B = {n}, {B}
rng = np.random.default_rng(0)
y = (rng.random(n) < 0.3).astype(int)
p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.2)))
start = time.perf_counter()
ResamplingEngine(seed=1, n_resamples=B, method="percentile").bootstrap(BinaryMetrics(y, p, names=("auroc",)), y, "mem")
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def memory_run(n, B):
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD.format(n=n, B=B)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="rows (default %(default)s)")
    parser.add_argument("--B", type=int, default=1000, help="bootstrap replicates (default %(default)s)")
    parser.add_argument("--cells", type=int, default=6, help="intersectional cells, e.g. 2 sexes x 3 age bands (default %(default)s)")
    parser.add_argument("--naive-replicates", type=int, default=10, help="replicates the naive loop is timed on (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="local processes for the parallel row (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=2, help="timings per engine row, best kept (default %(default)s)")
    parser.add_argument("--memory", action="store_true", help="also run n = 1,000,000, B = 2,000 and report peak RSS")
    parser.add_argument("--no-audit", action="store_true", help="skip the end-to-end trustaudit run")
    args = parser.parse_args(argv)

    n, B = args.n, args.B
    y, p, sex, band, cell = simulated(n, args.cells)
    strata_all = strata_codes(y, cell)
    grouped = GroupedBinaryMetrics(y, p, cell, 0.5, PERFORMANCE_METRICS)
    n_cells = 1 + np.unique(cell).size
    k = max(1, min(args.naive_replicates, B))

    naive_k = timed(lambda: naive_bootstrap(y, p, cell, k))
    naive = naive_k * B / k
    floor = timed(lambda: resampling_floor(n, B), args.repeat)
    auroc_pct = timed(lambda: ResamplingEngine(1, B, method="percentile").bootstrap(BinaryMetrics(y, p, names=("auroc",)), y, "a"), args.repeat)
    auroc_bca = timed(lambda: ResamplingEngine(1, B, method="bca").bootstrap(BinaryMetrics(y, p, names=("auroc",)), y, "a"), args.repeat)
    all_reps = timed(lambda: replicates(grouped, strata_all, B, 1, "g"), args.repeat)
    all_bca = timed(lambda: ResamplingEngine(1, B, method="bca").bootstrap(grouped, strata_all, "g"), args.repeat)
    all_jobs = timed(lambda: ResamplingEngine(1, B, method="bca", n_jobs=args.jobs).bootstrap(grouped, strata_all, "g"), args.repeat)

    # the engine's replicates and the naive loop's follow the same distribution
    r = max(k, 20)
    a = naive_bootstrap(y, p, cell, r, seed=2)
    b = replicates(grouped, strata_all, r, 2, "check")
    se = np.nanstd(np.vstack([a, b]), axis=0) * np.sqrt(2 / r)
    drift = float(np.nanmax(np.abs(np.nanmean(a, 0) - np.nanmean(b, 0)) / np.where(se > 0, se, np.inf)))

    print(f"n = {n:,} rows, B = {B:,} replicates, {len(PERFORMANCE_METRICS)} metrics x {n_cells} cells "
          f"(overall + {n_cells - 1} intersectional), stratified by outcome x cell; {os.cpu_count()} cores")
    print(f"{'':58s} {'seconds':>9s} {'vs naive':>9s} {'vs floor':>9s}")
    rows = [
        (f"naive loop: sklearn per metric per cell (timed on {k} replicates)", naive),
        ("resampling floor: B x n indices + bincount", floor),
        ("engine: AUROC overall, percentile CI", auroc_pct),
        ("engine: AUROC overall, BCa CI", auroc_bca),
        ("engine: 10 metrics x all cells, replicates only", all_reps),
        ("engine: 10 metrics x all cells, BCa CIs", all_bca),
        (f"engine: 10 metrics x all cells, BCa CIs, n_jobs={args.jobs}", all_jobs),
    ]
    if not args.no_audit:
        rows.append(("trustaudit run: performance + fairness, report included", audit_run_seconds(y, p, sex, band, B)))
    for name, seconds in rows:
        print(f"{name:58s} {seconds:9.3f} {naive / seconds:8.1f}x {seconds / floor:8.2f}x")
    print(f"same distribution? largest |z| of naive vs engine replicate means over {grouped.columns.__len__()} statistics "
          f"({r} replicates each): {drift:.2f} (below about 3.5 expected)")
    if args.memory:
        m = memory_run(1_000_000, 2000)
        print(f"memory: AUROC CI at n = 1,000,000, B = 2,000: {m['seconds']:.1f} s, peak RSS {m['peak_rss_mb']:.0f} MB")
    print(f"(this process's peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
