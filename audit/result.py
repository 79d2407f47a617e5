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
FIGURES_SCHEMA = "trustaudit/figures/1"
#: Report formats ``save`` can write besides results.json (and figures.json, which render needs).
FORMATS = ("html", "pdf")
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

    def figures_json(self) -> str:
        """figures.json text: every figure's SVG, alt text and title, so a report can be re-rendered."""
        return figures_to_json(self.figures)

    def to_html(self) -> str:
        from .report import render_html

        return render_html(self.results, self.figures)

    def save(self, out_dir: str | os.PathLike, formats: tuple[str, ...] | list[str] = ("html",)) -> dict[str, Path]:
        """Write ``results.json``, ``figures.json`` and the report (``report.html``, ``report.pdf``).

        Everything is rendered in memory first, then written to temporary files in the same
        directory and moved into place, so a failure never leaves a half-written report.
        """
        contents: dict[str, str | bytes] = {"results.json": self.to_json(), "figures.json": self.figures_json()}
        contents |= render_reports(self.results, self.figures, formats)
        return write_atomically(Path(out_dir), contents)


def render_reports(results: dict, figures: dict[str, dict[str, Figure]], formats) -> dict[str, str | bytes]:
    """``{"report.html": ..., "report.pdf": ...}`` for the requested formats (HTML is always made for the PDF)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise AuditInputError(f"unknown report format {unknown[0]!r}; use html or pdf.")
    from .report import render_html

    html = render_html(results, figures)
    out: dict[str, str | bytes] = {}
    if "html" in formats:
        out["report.html"] = html
    if "pdf" in formats:
        from .pdf import html_to_pdf

        out["report.pdf"] = html_to_pdf(html)
    return out


def figures_to_json(figures: dict[str, dict[str, Figure]]) -> str:
    payload = {
        "schema": FIGURES_SCHEMA,
        "figures": {section: {key: {"title": f.title, "alt": f.alt, "svg": f.svg} for key, f in figs.items()}
                    for section, figs in figures.items()},
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"


def figures_from_json(payload: object, where: str) -> dict[str, dict[str, Figure]]:
    """The figures of a saved figures.json; a file of another kind is an ``AuditInputError``."""
    if not isinstance(payload, dict) or payload.get("schema") != FIGURES_SCHEMA or not isinstance(payload.get("figures"), dict):
        raise AuditInputError(f"{where} is not a trustaudit figures file (schema {FIGURES_SCHEMA}); re-run the audit to recreate it.")
    try:
        return {section: {key: Figure(svg=f["svg"], alt=f["alt"], title=f["title"]) for key, f in figs.items()}
                for section, figs in payload["figures"].items()}
    except (KeyError, TypeError, AttributeError):
        raise AuditInputError(f"{where} is damaged (a figure lacks its svg, alt or title); re-run the audit to recreate it.") from None


def write_atomically(out_dir: Path, contents: dict[str, str | bytes]) -> dict[str, Path]:
    """Write every file to a temporary name first, then rename them all into place."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staged = {}
        try:
            for name, text in contents.items():
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
                if isinstance(text, bytes):
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(text)
                else:
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
