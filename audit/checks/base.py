"""What a check returns: a ``Section`` of plain, JSON-able data plus figures and findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..figure import Figure

Severity = Literal["info", "warning", "error"]
Status = Literal["pass", "warning", "fail", "inconclusive", "insufficient evidence", "not run"]


@dataclass(frozen=True)
class Finding:
    """One plain sentence a reader should see, with how much it matters."""

    check: str
    severity: Severity
    message: str
    dataset: str | None = None

    def to_dict(self) -> dict:
        return {"check": self.check, "severity": self.severity, "dataset": self.dataset, "message": self.message}


@dataclass
class Section:
    """The result of one check.

    ``data`` is JSON-able (it goes to ``results.json`` under ``sections.<name>``), keyed by
    dataset name under ``data["datasets"]``. ``figures`` are rendered into the report but not
    stored in results.json. ``evidence`` maps each evidence key the check produced
    (``performance.ci``, ...) to what the check showed about it (``audit.evidence.STATES``:
    shown, thin or contradicted); the checklists join on it.
    """

    name: str
    title: str
    status: Status
    data: dict
    findings: list[Finding] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "status": self.status,
            "evidence": {key: self.evidence[key] for key in sorted(self.evidence)},
            **self.data,
        }
