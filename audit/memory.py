"""Give memory that the audit has freed back to the operating system between steps.

numpy's temporaries of a few MB come from the C allocator's heap, and glibc keeps freed heap
memory in the process (per thread arena) for reuse: after a bootstrap on two threads or a
calibration pass over 100,000 patients, hundreds of MB can stay resident though nothing uses them,
and the next step's temporaries come on top (the peak of issue 21's n = 100,000 audit). Trimming
the heap once per step (``malloc_trim(0)``, a few milliseconds) returns it; trimming after every
free (``M_TRIM_THRESHOLD``) costs page faults instead (one run of that audit with ``MALLOC_TRIM_THRESHOLD_=1000000``
took 24 s instead of 15 s; ``benchmarks/audit.py`` measures the peak with the per-step trim).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:  # pragma: no cover - no C library to load
        return None


def return_free_memory() -> bool:
    """Return the C heap's free memory to the operating system (glibc); False where there is no ``malloc_trim``."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
