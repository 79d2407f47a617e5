"""Checks: each turns an ``AuditContext`` into a ``Section``.

``CHECKS`` maps a check's name (as written in the spec's ``checks:``) to its function. A check
the spec asks for that this version does not implement yet is reported as "not run", never
silently dropped.
"""

from __future__ import annotations

from . import calibration, data_profile, external, fairness, performance, robustness, uncertainty, utility
from .base import Finding, Section

CHECKS = {performance.NAME: performance.run, fairness.NAME: fairness.run, calibration.NAME: calibration.run, utility.NAME: utility.run, uncertainty.NAME: uncertainty.run, external.NAME: external.run, data_profile.NAME: data_profile.run, robustness.NAME: robustness.run}

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


def not_run(name: str) -> Section:
    """The section for a requested check that this version cannot run yet."""
    reason = "not implemented in this version of trustaudit"
    return Section(
        name=name,
        title=TITLES.get(name, name),
        status="not run",
        data={"reason": reason},
        findings=[Finding(name, "info", f"The {TITLES.get(name, name).lower()} check was requested but not run: {reason}.")],
    )
