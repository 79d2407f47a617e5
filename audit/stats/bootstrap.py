"""The resampling engine: the bootstrap of weighted statistics under a sampling design, percentile and BCa intervals.

A *statistic* is any callable that maps a weight block ``W`` of shape ``(B, n)`` to an array of
shape ``(B, M)`` — ``M`` statistics at once, each row one resample (see ``metrics.BinaryMetrics``).
The engine draws resample counts under the data's sampling design (patients or clusters, within
strata; ``resample.py``) in memory-bounded blocks, evaluates
the statistic on each block, and turns the replicates into intervals. Python never loops over
replicates; it loops over blocks of replicates.

Intervals
---------
- *percentile*: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the replicates.
- *BCa* (bias-corrected and accelerated; Efron, JASA 1987; Efron & Tibshirani 1993, ch. 14):
  the quantiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(alpha/2)``,
  ``Phi^-1(1 - alpha/2)``. The bias correction ``z0 = Phi^-1(share of replicates below the
  estimate, ties counted half)``, as in ``scipy.stats.bootstrap``. The acceleration ``a`` comes
  from a **grouped (delete-a-group) jackknife**: rows are split into at most ``JACKKNIFE_GROUPS``
  groups balanced within strata, each group is deleted once (a weight block with that group's
  weights set to zero, evaluated by the same vectorised statistic), and
  ``a = sum(d^3) / (6 (sum d^2)^1.5)`` with ``d = mean(theta_(g)) - theta_(g)``. With ``G``
  equal groups the expectation of this ratio equals that of the leave-one-out jackknife's, and
  it costs ``G`` evaluations instead of ``n``, so no O(n^2) work; with ``n <= G`` it *is* the
  leave-one-out jackknife. For large ``n`` the grouped estimate is noisier, but ``a`` is then
  small (O(n^-1/2)) and its noise moves the endpoints by a negligible share of the width (tested).
When BCa cannot be formed (every replicate on one side of the estimate, or a non-finite
acceleration) the percentile interval is returned and the method says so. When every replicate
is the same number (a degenerate bootstrap distribution: a proportion of 0 or 1, a subgroup
whose resamples never vary) no interval is returned, with the reason: a zero-width interval
would claim certainty the data do not give (callers use exact intervals there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import warnings

import numpy as np
from scipy.special import ndtr, ndtri

from .estimate import Estimate
from .parallel import available_cores, effective_jobs, map_ordered, threaded_ordered
from .resample import (
    CountsStore,
    compact,
    ResamplePlan,
    SamplingDesign,
    as_design,
    chunk_sizes,
    draw_counts,
    jackknife_groups,
    plan_key,
    seed_sequence,
    stream_rng,
)

Statistic = Callable[[np.ndarray], np.ndarray]
CIMethod = Literal["bca", "percentile"]
Progress = Callable[[int, int], None]

#: Delete-groups used for the BCa acceleration (leave-one-out when n is at most this).
JACKKNIFE_GROUPS = 200
#: Replicates where a statistic is undefined (nan) above this share make its interval undefined.
MAX_UNDEFINED_SHARE = 0.05


@dataclass(frozen=True)
class BootstrapResult:
    """Estimates, replicates and intervals of ``M`` statistics from one set of resamples."""

    estimate: np.ndarray  # (M,)
    replicates: np.ndarray  # (B, M); the same resamples for every statistic, so paired
    low: np.ndarray  # (M,), nan when undefined
    high: np.ndarray  # (M,)
    methods: tuple[str, ...]  # per statistic: "bootstrap-bca" or "bootstrap-percentile"
    confidence: float = 0.95
    method: CIMethod = "percentile"
    jackknife: np.ndarray | None = None  # (G, M) delete-a-group estimates, for BCa
    reasons: tuple[str | None, ...] = ()  # per statistic: why there is no interval, else None

    def estimate_at(self, j: int, n: int) -> Estimate:
        """Statistic ``j`` as an ``Estimate`` (no interval, with the reason, when it could not be formed)."""
        ci = None if np.isnan(self.low[j]) else (self.low[j], self.high[j])
        reason = self.reasons[j] if self.reasons else None
        return Estimate(self.estimate[j], ci, self.methods[j], n, reason=reason if ci is None else None)

    def select(self, columns) -> BootstrapResult:
        """The same resamples restricted to some statistics (column indices)."""
        cols = list(columns)
        jack = None if self.jackknife is None else self.jackknife[:, cols]
        return BootstrapResult(self.estimate[cols], self.replicates[:, cols], self.low[cols], self.high[cols],
                               tuple(self.methods[j] for j in cols), self.confidence, self.method, jack,
                               tuple(self.reasons[j] for j in cols) if self.reasons else ())

    def at_confidence(self, confidence: float) -> BootstrapResult:
        """The same replicates' intervals at another confidence level."""
        accel = None if self.jackknife is None else acceleration(self.jackknife)
        method = self.method if accel is not None else "percentile"
        return intervals(self.estimate, self.replicates, confidence, method, accel, self.jackknife)


    def derive(self, fn: Callable[[np.ndarray], np.ndarray]) -> BootstrapResult:
        """Intervals of statistics derived from these, e.g. differences between groups.

        ``fn`` maps a ``(k, M)`` array of statistics to ``(k, M')``, row by row (replicate by
        replicate). It is applied to the estimate, to every replicate and to every jackknife
        estimate, so a derived interval is paired: a difference between two groups uses the
        same resamples for both.
        """
        estimate = np.asarray(fn(self.estimate[None, :]), dtype=float)[0]
        reps = np.asarray(fn(self.replicates), dtype=float)
        jack = None if self.jackknife is None else np.asarray(fn(self.jackknife), dtype=float)
        accel = None if jack is None else acceleration(jack)
        method = self.method if accel is not None else "percentile"
        return intervals(estimate, reps, self.confidence, method, accel, jack)


def _laid_out(statistic: Statistic) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None]:
    """The statistic's evaluation in its own column layout, if it has one (see ``metrics``)."""
    layout = getattr(statistic, "layout", None)
    return (statistic.laid_out, layout) if layout is not None else (statistic, None)


def nan_std(reps: np.ndarray) -> np.ndarray:
    """Column standard deviations (ddof 1) over finite values; nan where fewer than two."""
    reps = np.atleast_2d(reps)
    finite = np.isfinite(reps)
    k = finite.sum(axis=0)
    x = np.where(finite, reps, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=0) / k
        var = (np.where(finite, reps - mean, 0.0) ** 2).sum(axis=0) / (k - 1)
    return np.where(k >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)


#: Cells (replicates x rows) a statistic evaluates at once: 2 M cells (16 MiB of int64 counts). A chunk of
#: counts (``CHUNK_CELLS``) is evaluated in slices of replicates, so the statistic's temporaries (running sums,
#: gathers, several per cell) stay small at any n; a statistic is row-wise, so the values are the same.
EVAL_CELLS = 2 * 2**20


def evaluate_in_slices(evaluate: Callable[[np.ndarray], np.ndarray], counts: np.ndarray) -> np.ndarray:
    """``evaluate(counts)``, computed on slices of at most ``EVAL_CELLS`` cells (rows are replicates)."""
    step = max(1, EVAL_CELLS // max(1, counts.shape[1]))
    if counts.shape[0] <= step:
        return evaluate(counts)
    return np.vstack([evaluate(counts[start : start + step]) for start in range(0, counts.shape[0], step)])


def _chunk(shared: tuple, size: int, seed: np.random.SeedSequence) -> np.ndarray:
    """One chunk of replicates: draw the counts, gathered into the statistic's layout, and evaluate them."""
    statistic, plan = shared
    evaluate, layout = _laid_out(statistic)
    return evaluate_in_slices(evaluate, draw_counts(plan, size, seed, layout))


def replicates(
    statistic: Statistic,
    design: SamplingDesign | np.ndarray | None,
    n_resamples: int,
    seed: int,
    stream: str,
    n_jobs: int = 1,
    scheduler=None,
    progress: Progress | None = None,
    store: CountsStore | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Evaluate ``statistic`` (of ``n`` rows) on ``n_resamples`` resamples under ``design``; shape ``(B, M)``.

    Chunks run in this process (``threads`` at a time), on ``n_jobs`` local processes or on a Dask
    ``scheduler``; the result is identical in every case. In this process, a ``store`` draws the
    stream's counts once and reads them back for every later statistic of the same stream and
    design (the same counts).
    """
    plan = ResamplePlan.build(design, _rows(statistic, design))
    sizes = chunk_sizes(plan.n, n_resamples)
    tasks = list(zip(sizes, seed_sequence(seed, stream).spawn(len(sizes))))
    here = scheduler is None and (effective_jobs(n_jobs) == 1 or len(tasks) == 1)
    if store is not None and here:
        blocks = _stored_blocks(statistic, plan, tasks, store, plan_key(plan, seed, stream, n_resamples), threads)
    else:
        blocks = map_ordered(_chunk, (statistic, plan), tasks, n_jobs, scheduler, threads)
    out, done = [], 0
    for block in blocks:
        out.append(block)
        done += block.shape[0]
        if progress is not None:
            progress(done, n_resamples)
    return np.vstack(out)


def _stored_blocks(statistic: Statistic, plan: ResamplePlan, tasks: list, store: CountsStore, key: str, threads: int) -> Iterator[np.ndarray]:
    """The statistic on each chunk of the stream's counts: read from ``store``, or drawn and written to it (in
    chunk order, by this thread, whichever thread drew them). A chunk stays in the store's compact type and
    becomes int64 one slice of ``EVAL_CELLS`` at a time, so a thread holds one chunk of bytes, not of int64."""
    evaluate, layout = _laid_out(statistic)

    def on(counts: np.ndarray) -> np.ndarray:
        step = max(1, EVAL_CELLS // max(1, counts.shape[1]))
        blocks = []
        for start in range(0, counts.shape[0], step):
            part = counts[start : start + step]
            part = part if layout is None else np.take(part, layout, axis=1)
            blocks.append(evaluate(part.astype(np.int64)))
        return np.vstack(blocks)

    if key in store:
        yield from threaded_ordered(on, store.read(key), threads)
        return

    def drawn(task: tuple) -> tuple[np.ndarray, np.ndarray]:
        counts = compact(draw_counts(plan, *task))  # in row order; a layout gathers from it as draw_counts would
        return counts, on(counts)

    for counts, block in threaded_ordered(drawn, tasks, threads):
        store.write(key, counts)
        yield block


def _rows(statistic: Statistic, design) -> int:
    """The number of rows a statistic reads (its ``n``, else the design's length)."""
    n = getattr(statistic, "n", None)
    if n is not None:
        return int(n)
    design = as_design(design)
    return next(a.size for a in (design.strata, design.clusters) if a is not None)


def jackknife(statistic: Statistic, design, rng: np.random.Generator, n_groups: int = JACKKNIFE_GROUPS,
              threads: int = 1) -> np.ndarray:
    """Delete-a-group jackknife estimates, shape ``(G, M)`` (see module docstring); clusters are deleted whole.
    Blocks of deleted groups (at most ``EVAL_CELLS`` weights each) are evaluated ``threads`` at a time, in order."""
    evaluate, layout = _laid_out(statistic)
    groups = jackknife_groups(design, _rows(statistic, design), n_groups, rng)
    if layout is not None:
        groups = groups[layout]
    n_g = int(groups.max()) + 1
    step = max(1, min(n_g, EVAL_CELLS // max(1, groups.size)))

    def deleted(start: int) -> np.ndarray:
        ids = np.arange(start, min(n_g, start + step))
        return evaluate((groups[None, :] != ids[:, None]).astype(np.int64))

    return np.vstack(list(threaded_ordered(deleted, range(0, n_g, step), threads)))


def acceleration(jack: np.ndarray) -> np.ndarray:
    """BCa acceleration from jackknife estimates ``(G, M)``: ``sum d^3 / (6 (sum d^2)^1.5)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a statistic undefined in every group
        d = np.nanmean(jack, axis=0) - jack
    num = np.nansum(d**3, axis=0)
    den = 6.0 * np.nansum(d**2, axis=0) ** 1.5
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, 0.0)


def bootstrap_p_value(value: float, replicates: np.ndarray) -> float | None:
    """Two-sided p-value of ``value = 0`` with the bootstrap standard error: ``2 Phi(-|value| / se)``."""
    finite = replicates[np.isfinite(replicates)]
    if not np.isfinite(value) or finite.size < 2:
        return None
    se = float(np.std(finite, ddof=1))
    if se == 0:
        return 1.0 if value == 0 else 0.0
    return float(2.0 * ndtr(-abs(value) / se))


def percentile_interval(reps: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of one statistic's finite replicates."""
    alpha = 1.0 - confidence
    lo, hi = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def bca_interval(reps: np.ndarray, estimate: float, accel: float, confidence: float) -> tuple[float, float] | None:
    """BCa interval of one statistic's finite replicates, or ``None`` when it cannot be formed."""
    share_below = (np.sum(reps < estimate) + np.sum(reps <= estimate)) / (2.0 * reps.size)
    z0 = ndtri(share_below)
    if not np.isfinite(z0) or not np.isfinite(accel):
        return None
    alpha = 1.0 - confidence
    z = ndtri(np.array([alpha / 2.0, 1.0 - alpha / 2.0]))
    levels = ndtr(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
    if not np.all(np.isfinite(levels)):
        return None
    lo, hi = np.quantile(reps, levels)
    return float(lo), float(hi)


def intervals(
    estimate: np.ndarray,
    reps: np.ndarray,
    confidence: float,
    method: CIMethod,
    accel: np.ndarray | None = None,
    jack: np.ndarray | None = None,
) -> BootstrapResult:
    """Intervals for each column of ``reps`` given the estimates (and the acceleration for BCa)."""
    m = reps.shape[1]
    low, high = np.full(m, np.nan), np.full(m, np.nan)
    methods, reasons = [], []
    for j in range(m):
        col = reps[:, j]
        finite = col[np.isfinite(col)]
        name, reason = "bootstrap-percentile", None
        undefined = 1 - finite.size / col.size
        if not np.isfinite(estimate[j]):
            reason = "not estimable: the metric is undefined on these data"
        elif undefined > MAX_UNDEFINED_SHARE:
            reason = f"no interval: the metric is undefined in {undefined:.0%} of bootstrap resamples (too few patients of one kind)"
        elif np.ptp(finite) == 0:
            reason = "no interval: every bootstrap resample gives the same value (a degenerate bootstrap distribution)"
        else:
            ci = None
            if method == "bca":
                ci = bca_interval(finite, float(estimate[j]), float(accel[j]), confidence)
                name = "bootstrap-bca" if ci is not None else name
            if ci is None:
                ci = percentile_interval(finite, confidence)
            low[j], high[j] = ci
        methods.append(name)
        reasons.append(reason)
    return BootstrapResult(np.asarray(estimate, float), reps, low, high, tuple(methods), confidence, method, jack, tuple(reasons))


@dataclass(frozen=True)
class ResamplingEngine:
    """Seeds, replicate count, confidence level, interval method and executor shared by every check.

    ``n_jobs`` (local processes; -1 for every core) and ``scheduler`` (a Dask distributed
    address or client) change where chunks run, never the numbers.
    """

    seed: int = 0
    n_resamples: int = 2000
    confidence: float = 0.95
    method: CIMethod = "bca"
    n_jobs: int = 1
    scheduler: object = None
    progress: Progress | None = field(default=None, compare=False)
    #: Keeps each stream's counts for the serial bootstraps that follow (``CountsStore``); ``None``: draw every time.
    store: CountsStore | None = field(default=None, compare=False)
    #: Chunks evaluated at once in this process (threads; numpy releases the GIL); ``None``: every available core.
    threads: int | None = field(default=None, compare=False)

    def bootstrap(self, statistic: Statistic, design: SamplingDesign | np.ndarray | None, stream: str) -> BootstrapResult:
        """Bootstrap of ``statistic`` under ``design``; ``stream`` names this use of the seed.

        ``design`` is a ``SamplingDesign`` (strata and clusters), an array of strata codes, or
        ``None`` (a simple random sample of rows). The same ``stream`` and design give the same
        resampled rows whatever the statistic's layout, so statistics bootstrapped under one
        stream name are paired replicate by replicate.
        """
        evaluate, _ = _laid_out(statistic)
        n = _rows(statistic, design)
        estimate = np.asarray(evaluate(np.ones((1, n), dtype=np.int64)), dtype=float)[0]
        threads = available_cores() if self.threads is None else self.threads
        reps = replicates(statistic, design, self.n_resamples, self.seed, stream, self.n_jobs, self.scheduler, self.progress,
                          self.store, threads)
        accel = jack = None
        if self.method == "bca":
            jack = jackknife(statistic, design, stream_rng(self.seed, stream + "/jackknife"), threads=threads)
            accel = acceleration(jack)
        return intervals(estimate, reps, self.confidence, self.method, accel, jack)
