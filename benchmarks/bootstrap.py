"""Benchmark: the vectorised resampling engine against the naive bootstrap loop.

The naive approach is what most tools do: draw a stratified resample of row indices, then call
scikit-learn once per metric per replicate. The engine draws resample counts in blocks and
evaluates all metrics on a whole block at once. Both run here, in the same process, on the same
data; every figure printed is measured in this run.

    python benchmarks/bootstrap.py [--n 10000] [--B 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import metrics as skm

from audit.stats import PERFORMANCE_METRICS, BinaryMetrics, ResamplingEngine, resample_counts, strata_codes, stream_rng


def simulated(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.2)))
    return y, p


def naive_replicate(y, p, idx, threshold=0.5):
    yb, pb = y[idx], p[idx]
    pred = (pb >= threshold).astype(int)
    return [
        skm.roc_auc_score(yb, pb),
        skm.average_precision_score(yb, pb),
        skm.recall_score(yb, pred),
        skm.recall_score(1 - yb, 1 - pred),
        skm.precision_score(yb, pred, zero_division=np.nan),
        skm.precision_score(1 - yb, 1 - pred, zero_division=np.nan),
        skm.accuracy_score(yb, pred),
        skm.balanced_accuracy_score(yb, pred),
        skm.f1_score(yb, pred),
        skm.brier_score_loss(yb, pb),
    ]


def naive_bootstrap(y, p, B, seed):
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(y == c) for c in (0, 1)]
    reps = []
    for _ in range(B):
        idx = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in members])
        reps.append(naive_replicate(y, p, idx))
    return np.array(reps)


def engine_replicates(y, p, B, seed):
    kernel = BinaryMetrics(y, p, 0.5, PERFORMANCE_METRICS)
    return np.vstack([kernel(W) for W in resample_counts(strata_codes(y), B, stream_rng(seed, "bench"))])


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="rows (default %(default)s)")
    parser.add_argument("--B", type=int, default=1000, help="bootstrap replicates (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per method, best kept (default %(default)s)")
    args = parser.parse_args()
    y, p = simulated(args.n)

    naive_s = best_of(lambda: naive_bootstrap(y, p, args.B, 1), 1)
    replicates_s = best_of(lambda: engine_replicates(y, p, args.B, 1), args.repeat)
    engine = ResamplingEngine(seed=1, n_resamples=args.B, method="bca")
    bca_s = best_of(lambda: engine.bootstrap(BinaryMetrics(y, p), y, "bench"), args.repeat)

    # Same distribution, different random streams: the replicate means must agree closely.
    a, b = naive_bootstrap(y, p, 200, 2), engine_replicates(y, p, 200, 2)
    drift = np.nanmax(np.abs(np.nanmean(a, 0) - np.nanmean(b, 0)) / np.nanstd(a, 0))

    rows = [
        ("naive loop (sklearn per replicate)", naive_s),
        ("engine: replicates only", replicates_s),
        ("engine: replicates + BCa (jackknife)", bca_s),
    ]
    print(f"n = {args.n:,}, B = {args.B:,}, {len(PERFORMANCE_METRICS)} metrics, stratified by outcome")
    print(f"{'method':40s} {'seconds':>9s} {'speed-up':>9s}")
    for name, seconds in rows:
        print(f"{name:40s} {seconds:9.3f} {naive_s / seconds:8.1f}x")
    print(f"largest gap between replicate means (naive vs engine, in naive SDs): {drift:.3f}")


if __name__ == "__main__":
    main()
