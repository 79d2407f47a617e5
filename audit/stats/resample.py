"""Stratified resample counts, drawn in memory-bounded blocks.

A stratified bootstrap replicate draws, within every stratum (outcome class, and subgroup where
one is analysed), as many rows with replacement as the stratum holds. We never build the
resampled data: a replicate is the vector of how often each row was drawn, and metrics take it as
weights. Strata therefore keep their size in every replicate, so a subgroup or a class never
vanishes from a replicate.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

#: Upper bound on the bytes of one block of float64 weights (rows x replicates).
BLOCK_BYTES = 64 * 2**20


def block_size(n: int, n_resamples: int, bytes_per_cell: int = 8) -> int:
    """Replicates per block so that a ``(block, n)`` float64 array stays under ``BLOCK_BYTES``."""
    return int(max(1, min(n_resamples, BLOCK_BYTES // max(1, n * bytes_per_cell))))


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """A generator for one named use of the seed (``"performance/test"``, ...).

    Each named stream is independent of the others, so adding a check or a dataset never
    changes the resamples, hence the numbers, of another.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(stream.encode("utf-8"))]))


def strata_codes(*keys: np.ndarray) -> np.ndarray:
    """Integer stratum codes for the combinations of the given key arrays (e.g. outcome, group)."""
    if not keys:
        raise ValueError("at least one stratification key is needed")
    stacked = np.column_stack([np.unique(np.asarray(k), return_inverse=True)[1].ravel() for k in keys])
    return np.unique(stacked, axis=0, return_inverse=True)[1].ravel().astype(np.intp)


def resample_counts(strata: np.ndarray, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield blocks of stratified bootstrap counts, float64 arrays of shape ``(block, n)``.

    Row ``b`` of a block counts how often each observation is drawn in replicate ``b``; within
    each stratum the counts sum to the stratum's size. Draws are uniform indices per stratum,
    turned into counts with one ``bincount`` per block.
    """
    strata = np.asarray(strata)
    n = strata.size
    members = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    size = block_size(n, n_resamples)
    done = 0
    while done < n_resamples:
        b = min(size, n_resamples - done)
        offsets = (np.arange(b) * n)[:, None]
        draws = np.hstack([idx[rng.integers(0, idx.size, size=(b, idx.size))] for idx in members])
        W = np.bincount((draws + offsets).ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        done += b
        yield W


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
