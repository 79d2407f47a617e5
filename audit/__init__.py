"""trustaudit: audit a clinical AI model for trustworthiness.

    >>> import audit
    >>> result = audit.run("examples/rotterdam_gbsg/audit.yaml")   # doctest: +SKIP
    >>> result.save("out")                                          # doctest: +SKIP
"""

from .errors import AuditInputError
from .result import AuditResult
from .runner import run
from .spec import AuditSpec, load_spec

__all__ = ["AuditInputError", "AuditResult", "AuditSpec", "load_spec", "run"]
