"""Bootstrap resample counts under a sampling design, drawn in memory-bounded chunks with independent streams.

A bootstrap replicate resamples the data *as they were sampled* (Efron & Tibshirani 1993, ch. 3;
Field & Welsh, JRSS B 2007): the resampled unit is the patient, or the cluster named by
``data.cluster`` (several images or visits of one patient are drawn together), and units are
drawn with replacement *within* each stratum (the sites of ``data.site``; the outcome classes only
under case-control sampling), as many as the stratum holds. A validation cohort's prevalence
therefore varies from replicate to replicate as it would in another cohort. We never build the
resampled data: a replicate is the vector of how often each row was drawn, and metrics take it
as weights.

Counts are drawn in the rows' own order, whatever statistic reads them, then gathered into the
statistic's column layout. So one dataset's stream (``"dataset/test"``) gives the same resampled
patients to every check: one quantity, one interval, and differences between checks' statistics
are paired.

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
#: Draws made and counted at once within a chunk (16 MiB of int64).
DRAW_CELLS = 2 * 2**20


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


def _codes(x: np.ndarray | None) -> np.ndarray | None:
    return None if x is None else np.unique(np.asarray(x), return_inverse=True)[1].ravel().astype(np.intp)


@dataclass(frozen=True)
class SamplingDesign:
    """How the rows were sampled: ``strata`` (resampled separately) and ``clusters`` (resampled whole).

    Either may be ``None``: one stratum, and every row its own unit. Codes of any type; a cluster
    must lie within one stratum.
    """

    strata: np.ndarray | None = None
    clusters: np.ndarray | None = None
    #: "cohort" or "case-control", for the report; the arrays carry the arithmetic.
    sampling: str = "cohort"

    def subset(self, rows: np.ndarray) -> SamplingDesign:
        """The design restricted to some rows (a boolean mask or indices)."""
        pick = lambda a: None if a is None else np.asarray(a)[rows]  # noqa: E731
        return SamplingDesign(pick(self.strata), pick(self.clusters), self.sampling)

    def with_strata(self, *keys: np.ndarray) -> SamplingDesign:
        """The design with further stratification keys (e.g. the outcome for case-control sampling)."""
        own = () if self.strata is None else (self.strata,)
        return SamplingDesign(strata_codes(*own, *keys), self.clusters, self.sampling)

    @property
    def clustered(self) -> bool:
        return self.clusters is not None


def as_design(design: SamplingDesign | np.ndarray | None, n: int | None = None) -> SamplingDesign:
    """A ``SamplingDesign`` from a design, an array of strata codes, or ``None`` (simple random sample)."""
    if isinstance(design, SamplingDesign):
        return design
    return SamplingDesign(None if design is None else np.asarray(design))


@dataclass(frozen=True)
class ResamplePlan:
    """Which units each stratum holds, and which unit each row belongs to.

    Units (rows, or clusters) are numbered so that each stratum's units are contiguous
    (``starts``/``sizes``); ``unit_of_row`` maps rows to units, ``None`` when every row is its
    own unit in row order (no gather needed).
    """

    n: int
    n_units: int
    sizes: tuple[int, ...]
    starts: tuple[int, ...]
    unit_of_row: np.ndarray | None

    @classmethod
    def build(cls, design: SamplingDesign | np.ndarray | None, n: int) -> ResamplePlan:
        design = as_design(design)
        strata = np.zeros(n, dtype=np.intp) if design.strata is None else _codes(design.strata)
        if strata.size != n:
            raise ValueError(f"the design has {strata.size} rows but the data {n}")
        if design.clusters is None:
            units_stratum, unit_of_row = strata, None
            order = np.argsort(strata, kind="stable")
        else:
            clusters = _codes(design.clusters)
            first = np.unique(clusters, return_index=True)[1]
            units_stratum = strata[first]
            if np.any(strata != units_stratum[clusters]):
                raise ValueError("a cluster spans several strata; clusters must be nested within strata (sites)")
            order = np.argsort(units_stratum, kind="stable")
            unit_of_row = clusters
        sizes = np.bincount(units_stratum, minlength=int(units_stratum.max(initial=-1)) + 1)
        sizes = sizes[sizes > 0]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        position = np.empty(order.size, dtype=np.intp)
        position[order] = np.arange(order.size)  # unit -> its position among units ordered by stratum
        if unit_of_row is None:
            unit_of_row = None if np.all(order == np.arange(n)) else position
        else:
            unit_of_row = position[unit_of_row]
        return cls(n, int(order.size), tuple(int(m) for m in sizes), tuple(int(a) for a in starts), unit_of_row)


def draw_counts(plan: ResamplePlan, size: int, seed: np.random.SeedSequence, layout: np.ndarray | None = None) -> np.ndarray:
    """One chunk of bootstrap counts: int64 array ``(size, n)``, in row order or in ``layout``.

    Within each stratum, as many units as it holds are drawn uniformly with replacement; a row's
    count is its unit's count, from ``bincount`` over the draws. The draws are made and counted a
    block of at most ``DRAW_CELLS`` at a time (one stratum: consecutive replicates; several: each
    stratum for all replicates, in the generator's order either way), so a chunk holds its counts and one
    block of draws, never a second ``(size, n)`` array.
    """
    rng = np.random.default_rng(seed)
    u = plan.n_units
    counts = np.empty((size, u), dtype=np.int64)
    if len(plan.sizes) == 1:  # one stratum: consecutive replicates are consecutive draws of the generator
        step = max(1, DRAW_CELLS // max(1, u))
        for lo in range(0, size, step):
            rows = min(step, size - lo)
            draws = rng.integers(0, u, size=(rows, u))
            draws += (np.arange(rows, dtype=np.int64) * u)[:, None]
            counts[lo : lo + rows] = np.bincount(draws.ravel(), minlength=rows * u).reshape(rows, u)
    else:
        for start, m in zip(plan.starts, plan.sizes):
            draws = rng.integers(0, m, size=(size, m))
            draws += (np.arange(size, dtype=np.int64) * m)[:, None]
            counts[:, start : start + m] = np.bincount(draws.ravel(), minlength=size * m).reshape(size, m)
    del draws
    gather = plan.unit_of_row
    if layout is not None:
        gather = layout if gather is None else gather[layout]
    return counts if gather is None else np.take(counts, gather, axis=1)


def resample_counts(design, n_resamples: int, seed: int, stream: str, layout: np.ndarray | None = None, n: int | None = None) -> Iterator[np.ndarray]:
    """Yield the chunks of counts for ``n_resamples`` replicates (serially).

    ``design`` is a ``SamplingDesign`` or an array of strata codes (then ``n`` is its length).
    """
    design = as_design(design)
    if n is None:
        n = next(a.size for a in (design.strata, design.clusters) if a is not None)
    plan = ResamplePlan.build(design, n)
    sizes = chunk_sizes(plan.n, n_resamples)
    for size, child in zip(sizes, seed_sequence(seed, stream).spawn(len(sizes))):
        yield draw_counts(plan, size, child, layout)


def jackknife_groups(design, n: int, n_groups: int, rng: np.random.Generator) -> np.ndarray:
    """Assign rows to ``n_groups`` delete-groups of near-equal size, balanced within strata.

    Whole units (clusters) go to one group. With ``n_groups >=`` the number of units every unit
    is its own group (the ordinary leave-one-out jackknife).
    """
    plan = ResamplePlan.build(design, n)
    unit_of_row = np.arange(n) if plan.unit_of_row is None else plan.unit_of_row
    u = plan.n_units
    if n_groups >= u:
        return unit_of_row.astype(np.intp)
    unit_stratum = np.repeat(np.arange(len(plan.sizes)), plan.sizes)
    order = np.lexsort((rng.permutation(u), unit_stratum))  # shuffled within stratum
    groups = np.empty(u, dtype=np.intp)
    groups[order] = np.arange(u) % n_groups
    return groups[unit_of_row]


def plan_key(plan: ResamplePlan, seed: int, stream: str, n_resamples: int) -> str:
    """What fixes a stream's counts: the seed, the stream's name, the replicate count and the resampling plan."""
    import hashlib

    digest = hashlib.sha256(f"{int(seed)}|{stream}|{int(n_resamples)}|{plan.n}|{plan.sizes}|{plan.starts}".encode())
    if plan.unit_of_row is not None:
        digest.update(np.ascontiguousarray(plan.unit_of_row, dtype=np.int64).tobytes())
    return digest.hexdigest()


def compact(counts: np.ndarray) -> np.ndarray:
    """Counts in the smallest unsigned type that holds them (``uint8`` unless a count exceeds 255)."""
    top = int(counts.max(initial=0))
    dtype = np.uint8 if top <= np.iinfo(np.uint8).max else np.uint16 if top <= np.iinfo(np.uint16).max else np.int64
    return counts if counts.dtype == dtype else counts.astype(dtype)


class CountsStore:
    """Each stream's resample counts, drawn once and read back by every later bootstrap of the stream.

    A dataset's checks all resample it under one stream (``"dataset/test"``), so its counts are
    drawn once per audit (``draw_counts``) and kept, chunk by chunk in row order, as ``uint8``
    (``uint16``/``int64`` when a count exceeds 255: ``compact``), in an anonymous temporary file: the operating
    system's page cache holds them and the process's memory does not grow with ``B x n``. A read
    chunk equals the drawn one, so a bootstrap gives the same numbers with or without the store.
    Only serial resampling uses it (local processes and Dask workers draw their own chunks).
    """

    def __init__(self, directory: str | None = None):
        self._directory = directory
        self._streams: dict[str, tuple[object, list[tuple[int, tuple[int, int], np.dtype]]]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._streams

    def write(self, key: str, counts: np.ndarray) -> None:
        """Append one chunk (``(size, n)`` counts in row order) to stream ``key``, in its ``compact`` type."""
        import tempfile

        if key not in self._streams:
            self._streams[key] = (tempfile.TemporaryFile(dir=self._directory), [])
        handle, index = self._streams[key]
        counts = np.ascontiguousarray(compact(counts))
        handle.seek(0, 2)
        offset = handle.tell()
        handle.write(counts.tobytes())
        index.append((offset, counts.shape, counts.dtype))

    def read(self, key: str) -> Iterator[np.ndarray]:
        """Stream ``key``'s chunks, in order, as stored (row order, ``compact`` type: convert before arithmetic)."""
        handle, index = self._streams[key]
        for offset, shape, dtype in index:
            buffer = np.empty(shape, dtype=dtype)
            handle.seek(offset)
            handle.readinto(memoryview(buffer).cast("B"))
            yield buffer

    def close(self) -> None:
        for handle, _ in self._streams.values():
            handle.close()
        self._streams.clear()
