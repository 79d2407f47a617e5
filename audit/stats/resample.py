"""Stratified resample counts, drawn in memory-bounded chunks with independent random streams.

A stratified bootstrap replicate draws, within every stratum (outcome class, and subgroup where
one is analysed), as many rows with replacement as the stratum holds. We never build the
resampled data: a replicate is the vector of how often each row was drawn, and metrics take it as
weights. Strata therefore keep their size in every replicate, so a subgroup or a class never
vanishes from a replicate.

The ``n_resamples`` replicates are split into chunks whose size depends only on ``n`` and
``n_resamples`` (``chunk_sizes``); chunk ``i`` draws from the ``i``-th child of
``SeedSequence([seed, crc32(stream)]).spawn(...)``. A chunk's counts are therefore the same
whichever process, core or cluster worker computes it, and in whatever order.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Upper bound on the cells (rows x replicates) of one chunk of counts: 8 M cells is 64 MiB
#: of int64, and a metric evaluation holds a few arrays of that size at once.
CHUNK_CELLS = 8 * 2**20


def chunk_sizes(n: int, n_resamples: int) -> list[int]:
    """Replicates per chunk, so that a ``(chunk, n)`` array of counts stays under ``CHUNK_CELLS``."""
    size = int(max(1, min(n_resamples, CHUNK_CELLS // max(1, n))))
    full, rest = divmod(n_resamples, size)
    return [size] * full + ([rest] if rest else [])


def seed_sequence(seed: int, stream: str) -> np.random.SeedSequence:
    """The root of one named use of the seed (``"performance/test"``, ...).

    Each named stream is independent of the others, so adding a check or a dataset never
    changes the resamples, hence the numbers, of another.
    """
    return np.random.SeedSequence([int(seed), zlib.crc32(stream.encode("utf-8"))])


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """A generator for one named stream (used for jackknife groups and tests)."""
    return np.random.default_rng(seed_sequence(seed, stream))


def strata_codes(*keys: np.ndarray) -> np.ndarray:
    """Integer stratum codes for the combinations of the given key arrays (e.g. outcome, group)."""
    if not keys:
        raise ValueError("at least one stratification key is needed")
    stacked = np.column_stack([np.unique(np.asarray(k), return_inverse=True)[1].ravel() for k in keys])
    return np.unique(stacked, axis=0, return_inverse=True)[1].ravel().astype(np.intp)


@dataclass(frozen=True)
class ResamplePlan:
    """Where each stratum's rows sit in the column layout the statistic asked for.

    ``starts``/``sizes`` describe strata that occupy contiguous column ranges (then a draw is
    ``start + uniform index``); ``members`` holds the column positions otherwise.
    """

    n: int
    sizes: tuple[int, ...]
    starts: tuple[int, ...] | None
    members: tuple[np.ndarray, ...] | None

    @classmethod
    def build(cls, strata: np.ndarray, layout: np.ndarray | None = None) -> ResamplePlan:
        strata = np.asarray(strata)
        n = strata.size
        laid = strata if layout is None else strata[layout]
        members = [np.flatnonzero(laid == s) for s in np.unique(laid)]
        sizes = tuple(int(m.size) for m in members)
        if all(m[-1] - m[0] + 1 == m.size for m in members):
            return cls(n, sizes, tuple(int(m[0]) for m in members), None)
        return cls(n, sizes, None, tuple(members))


def draw_counts(plan: ResamplePlan, size: int, seed: np.random.SeedSequence) -> np.ndarray:
    """One chunk of stratified bootstrap counts: int64 array ``(size, n)`` in the plan's layout.

    Row ``b`` counts how often each column's row is drawn in replicate ``b``; within each stratum
    the counts sum to the stratum's size. Uniform draws per stratum, counted with one
    ``bincount`` over the whole chunk.
    """
    rng = np.random.default_rng(seed)
    n = plan.n
    row_offsets = (np.arange(size, dtype=np.int64) * n)[:, None]
    draws = np.empty((size, n), dtype=np.int64)
    at = 0
    for k, m in enumerate(plan.sizes):
        local = rng.integers(0, m, size=(size, m))
        block = draws[:, at : at + m]
        if plan.starts is not None:
            np.add(local, row_offsets + plan.starts[k], out=block)
        else:
            np.take(plan.members[k], local, out=block)
            block += row_offsets
        at += m
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n)


def resample_counts(strata: np.ndarray, n_resamples: int, seed: int, stream: str, layout: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield the chunks of stratified counts for ``n_resamples`` replicates (serially)."""
    plan = ResamplePlan.build(strata, layout)
    sizes = chunk_sizes(plan.n, n_resamples)
    for size, child in zip(sizes, seed_sequence(seed, stream).spawn(len(sizes))):
        yield draw_counts(plan, size, child)


def jackknife_groups(strata: np.ndarray, n_groups: int, rng: np.random.Generator) -> np.ndarray:
    """Assign rows to ``n_groups`` delete-groups of near-equal size, balanced within strata.

    With ``n_groups >= n`` every row is its own group (the ordinary leave-one-out jackknife).
    """
    strata = np.asarray(strata)
    n = strata.size
    if n_groups >= n:
        return np.arange(n)
    order = np.lexsort((rng.permutation(n), strata))  # shuffled within stratum, strata contiguous
    groups = np.empty(n, dtype=np.intp)
    groups[order] = np.arange(n) % n_groups
    return groups
