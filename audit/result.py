"""AuditResult: the sections, findings and provenance of one audit, and how they are saved."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .checks.base import Figure, Section
from .errors import AuditInputError

SCHEMA = "trustaudit/results/1"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class AuditResult:
    """Everything an audit produced. ``results`` is exactly what goes to results.json."""

    results: dict
    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)

    @classmethod
    def assemble(cls, spec: dict, provenance: dict, datasets: dict, sections: list[Section], version: str) -> AuditResult:
        findings = [f.to_dict() for s in sections for f in s.findings]
        findings.sort(key=lambda f: SEVERITY_ORDER[f["severity"]])  # stable: check order kept within a severity
        results = {
            "schema": SCHEMA,
            "trustaudit_version": version,
            "spec": spec,
            "provenance": provenance,
            "datasets": datasets,
            "sections": {s.name: s.to_dict() for s in sections},
            "findings": findings,
            "checklists": {},
        }
        return cls(results, {s.name: s.figures for s in sections if s.figures})

    @property
    def sections(self) -> dict:
        return self.results["sections"]

    @property
    def findings(self) -> list[dict]:
        return self.results["findings"]

    def to_json(self) -> str:
        """results.json text: keys in insertion order (part of the contract), NaN forbidden."""
        return json.dumps(self.results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_html(self) -> str:
        from .report import render_html

        return render_html(self.results, self.figures)

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``results.json`` and ``report.html`` into ``out_dir``, atomically.

        Both files are rendered in memory first, then written to temporary files in the same
        directory and moved into place, so a failure never leaves a half-written report.
        """
        contents = {"results.json": self.to_json(), "report.html": self.to_html()}
        return write_atomically(Path(out_dir), contents)


def write_atomically(out_dir: Path, contents: dict[str, str]) -> dict[str, Path]:
    """Write every file to a temporary name first, then rename them all into place."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staged = {}
        try:
            for name, text in contents.items():
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(text)
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a report is for reading
                staged[name] = Path(tmp)
            written = {}
            for name, tmp in staged.items():
                os.replace(tmp, out_dir / name)
                written[name] = out_dir / name
            return written
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise AuditInputError(
            f"cannot write the report to '{out_dir}': {exc.strerror or exc}; choose a writable directory with --out."
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
