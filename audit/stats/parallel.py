"""Run the resampling chunks serially, on local cores, or on a Dask distributed cluster.

Every chunk carries its own seed (``SeedSequence.spawn``) and a fixed size, so the replicates,
hence every interval, are identical whichever executor runs them. Results come back in chunk
order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence


def effective_jobs(n_jobs: int) -> int:
    """``n_jobs`` as a count of processes: ``-1`` means every core, ``-2`` all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number of processes, or -1 for every core")
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def map_ordered(fn: Callable, shared: object, tasks: Sequence[tuple], n_jobs: int = 1, scheduler: str | None = None,
                threads: int = 1) -> Iterator:
    """Yield ``fn(shared, *task)`` for every task, in task order.

    ``shared`` (the statistic and the resampling plan) is sent to each worker once.
    ``scheduler`` is the address of a Dask distributed scheduler (``tcp://host:8786``) or a
    ``distributed.Client``; otherwise ``n_jobs > 1`` uses local processes (joblib's loky); otherwise,
    in this process, ``threads > 1`` runs that many tasks at once (numpy releases the GIL in the
    work of a chunk: drawing, gathering, running sums).
    """
    if scheduler is not None:
        yield from _dask_map(fn, shared, tasks, scheduler)
    elif effective_jobs(n_jobs) > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=effective_jobs(n_jobs), backend="loky", return_as="generator")
        yield from parallel(delayed(fn)(shared, *task) for task in tasks)
    else:
        yield from threaded_ordered(lambda task: fn(shared, *task), tasks, threads)


def threaded_ordered(fn: Callable, items, threads: int) -> Iterator:
    """``fn(item)`` for each item of the iterable ``items``, in order, with at most ``threads`` running or waiting
    at once, so that items drawn lazily (chunks read from a store) are held ``threads`` at a time, never all."""
    if threads <= 1:
        for item in items:
            yield fn(item)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="trustaudit-resample") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _dask_map(fn: Callable, shared: object, tasks: Sequence[tuple], scheduler) -> Iterator:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the installation
        from ..errors import AuditInputError

        raise AuditInputError(
            "a Dask scheduler was given but Dask is not installed; install it with pip install 'trustaudit[dask]'."
        ) from None
    client = scheduler if isinstance(scheduler, Client) else _connect(scheduler)
    try:
        [shared_future] = client.scatter([shared], broadcast=True)
        futures = [client.submit(fn, shared_future, *task, pure=False) for task in tasks]
        for future in futures:
            yield future.result()
    finally:
        if client is not scheduler:
            client.close()


def _connect(address: str):
    from distributed import Client

    from ..errors import AuditInputError

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise AuditInputError(
            f"cannot reach the Dask scheduler at {address!r} ({exc}); start one with 'dask scheduler' "
            "or leave out --scheduler to run on this machine."
        ) from None
