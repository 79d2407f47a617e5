"""Benchmark: the vectorised paired bootstrap against a naive loop over replicates calling scikit-learn.

Both compute the same thing on the same simulated data, in this run, on this machine: for each of
``B`` stratified resamples of the patients, AUPRC, sensitivity, specificity and the Brier score of
two models on the *same* resampled patients, and their differences.

- *naive loop*: per replicate, draw stratified row indices, then call scikit-learn once per metric
  and per model. Its cost is linear in ``B``, so it is timed on ``--naive-replicates`` replicates
  and scaled to ``B``;
- *engine*: ``audit.stats.paired.paired_bootstrap`` (counts drawn in chunks, both models' metrics
  from running sums of the same counts), percentile intervals.

    python benchmarks/paired.py                        # n = 20,000, B = 2,000
    python benchmarks/paired.py --n 2000 --B 100 --naive-replicates 5   # a quick smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import metrics as skm

from audit.stats import ResamplingEngine
from audit.stats.paired import paired_bootstrap

NAMES = ("auprc", "sensitivity", "specificity", "brier")


def simulated(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    latent = rng.normal(size=n) + 1.3 * y
    a = 1 / (1 + np.exp(-(latent + 0.5 * rng.normal(size=n) - 1.0)))
    b = 1 / (1 + np.exp(-(latent + 0.5 * rng.normal(size=n) - 1.0)))
    return y, a, b


def naive_metrics(y, p, threshold=0.5):
    pred = (p >= threshold).astype(int)
    return np.array([
        skm.average_precision_score(y, p),
        skm.recall_score(y, pred),
        skm.recall_score(1 - y, 1 - pred),
        skm.brier_score_loss(y, p),
    ])


def naive_paired(y, a, b, n_resamples: int, seed: int = 0) -> np.ndarray:
    """The textbook loop: resample patients within outcome classes, score both models with sklearn."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = np.empty((n_resamples, len(NAMES)))
    for r in range(n_resamples):
        rows = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        out[r] = naive_metrics(y[rows], b[rows]) - naive_metrics(y[rows], a[rows])
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="patients (default: %(default)s)")
    parser.add_argument("--B", type=int, default=2_000, help="bootstrap replicates (default: %(default)s)")
    parser.add_argument("--naive-replicates", type=int, default=100, help="replicates the naive loop is timed on, then scaled to B (default: %(default)s)")
    args = parser.parse_args(argv)
    y, a, b = simulated(args.n)

    k = min(args.naive_replicates, args.B)
    start = time.perf_counter()
    naive = naive_paired(y, a, b, k)
    naive_s = (time.perf_counter() - start) * args.B / k

    engine = ResamplingEngine(seed=0, n_resamples=args.B, method="percentile")
    start = time.perf_counter()
    out, diff = paired_bootstrap(y, a, b, engine, "benchmark", 0.5, NAMES)
    engine_s = time.perf_counter() - start

    ratio = naive_s / engine_s
    print(f"paired bootstrap of {len(NAMES)} metric differences, n = {args.n:,}, B = {args.B:,}")
    print(f"  naive loop (sklearn per replicate){'':>4}{naive_s:9.2f} s"
          + (f"  (timed on {k:,} replicates, scaled)" if k < args.B else ""))
    print(f"  trustaudit engine (vectorised){'':>8}{engine_s:9.2f} s")
    print(f"  speed-up{'':>30}{ratio:9.1f} x")
    # the two agree on what they estimate: the spread of the difference replicates
    print("  bootstrap SE of the difference, engine vs naive: "
          + ", ".join(f"{m} {np.std(diff.replicates[:, j]):.4f} vs {np.std(naive[:, j]):.4f}" for j, m in enumerate(NAMES)))
    return {"naive_s": naive_s, "engine_s": engine_s, "ratio": ratio}


if __name__ == "__main__":
    main()
