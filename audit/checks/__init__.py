"""Checks: each turns an ``AuditContext`` into a ``Section``.

``CHECKS`` maps a check's name (as written in the spec's ``checks:``) to its function. A check
the spec asks for that this version does not implement yet is reported as "not run", never
silently dropped.
"""

from __future__ import annotations

from . import calibration, data_profile, external, fairness, performance, robustness, uncertainty, utility
from .base import Finding, Section

_MODULES = (performance, fairness, calibration, utility, uncertainty, external, data_profile, robustness)
CHECKS = {module.NAME: module.run for module in _MODULES}
#: The tasks (``audit.tasks``) each check is defined for; for any other the runner reports it "not run".
CHECK_TASKS: dict[str, tuple[str, ...]] = {module.NAME: module.TASKS for module in _MODULES}

TITLES = {
    "profile": "Data profile",
    "performance": "Performance",
    "fairness": "Subgroup fairness",
    "calibration": "Calibration",
    "utility": "Clinical utility (decision curves)",
    "uncertainty": "Conformal uncertainty",
    "robustness": "Robustness",
    "external": "External validation",
}


def not_run(name: str, reason: str = "not implemented in this version of trustaudit") -> Section:
    """The section for a requested check that is not run, and why."""
    return Section(
        name=name,
        title=TITLES.get(name, name),
        status="not run",
        data={"reason": reason},
        findings=[Finding(name, "info", f"The {TITLES.get(name, name).lower()} check was requested but not run: {reason}.")],
    )
