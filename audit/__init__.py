"""trustaudit: audit a clinical AI model for trustworthiness.

    >>> import audit
    >>> result = audit.run("examples/rotterdam_gbsg/audit.yaml")   # doctest: +SKIP
    >>> result.save("out")                                          # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``import audit`` (and the ``trustaudit``
command's start-up) loads nothing heavy: numpy, pandas and the checks come with the first call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Public name -> the module that defines it.
_EXPORTS = {
    "AuditInputError": ".errors",
    "AuditResult": ".result",
    "AuditSpec": ".spec",
    "load_spec": ".spec",
    "run": ".runner",
}

__all__ = ["AuditInputError", "AuditResult", "AuditSpec", "load_spec", "run"]

if TYPE_CHECKING:
    from .errors import AuditInputError
    from .result import AuditResult
    from .runner import run
    from .spec import AuditSpec, load_spec


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
