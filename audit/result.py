"""AuditResult: the sections, findings and provenance of one audit, and how they are saved.

A saved audit is a *report set*: ``results.json``, ``figures.json``, ``report.html`` and, when asked,
``report.pdf``, described by ``manifest.json``. :func:`write_set` writes the set so that at every
moment the directory holds either a whole set that its manifest describes, or files without a
manifest, which ``trustaudit render`` and ``trustaudit reproduce`` refuse as incomplete:

1. every file is first written to a temporary file of our own naming (``.<name>.<random>.tmp``) in
   the same directory, flushed and ``os.fsync``-ed; nothing in the set is touched yet, so a failure
   here (a full disk, Ctrl-C) leaves the previous set whole;
2. the old ``manifest.json`` is removed, then every file is moved into place with ``os.replace``
   (atomic on one file system), so each file is always either the old or the new one, never half;
3. the directory is ``fsync``-ed (where the operating system allows it), and only then the new
   manifest (the files' SHA-256 and sizes and the trustaudit version; no time stamp, so two runs
   write byte-identical manifests) is moved into place, and the directory ``fsync``-ed again.

Ctrl-C during steps 2–3 (a few milliseconds) is held until the set is whole, then raised. Temporary
files never outlive a call, even a failed one, and ones an earlier killed run left behind are
removed first. Other files in the directory are left alone; only a ``report.pdf`` (or another file
of the set) that the new set does not contain is removed, since it would describe other numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AuditInputError
from .labels import SEVERITY_ORDER

if TYPE_CHECKING:  # checks.base pulls in every check; keep this module light for the command line
    from .checks.base import Section
    from .figure import Figure

SCHEMA = "trustaudit/results/1"
FIGURES_SCHEMA = "trustaudit/figures/1"
#: Report formats ``save`` can write besides results.json (and figures.json, which render needs).
FORMATS = ("html", "pdf")
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "trustaudit/manifest/1"
#: The files a report set may hold, in the order they are written; ``manifest.json`` comes last.
SET_FILES = ("results.json", "figures.json", "report.html", "report.pdf")


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
        """Write the report set: ``results.json``, ``figures.json``, the report (``report.html``,
        ``report.pdf``) and, last, ``manifest.json`` (see :func:`write_set`).

        Everything is rendered in memory first, so bad input or a failed rendering writes nothing.
        Returns the paths of the files written, by name (the manifest is not listed).
        """
        contents: dict[str, str | bytes] = {"results.json": self.to_json(), "figures.json": self.figures_json()}
        contents |= render_reports(self.results, self.figures, formats)
        return write_set(Path(out_dir), contents)


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
    from .figure import Figure

    if not isinstance(payload, dict) or payload.get("schema") != FIGURES_SCHEMA or not isinstance(payload.get("figures"), dict):
        raise AuditInputError(f"{where} is not a trustaudit figures file (schema {FIGURES_SCHEMA}); re-run the audit to recreate it.")
    try:
        return {section: {key: Figure(svg=f["svg"], alt=f["alt"], title=f["title"]) for key, f in figs.items()}
                for section, figs in payload["figures"].items()}
    except (KeyError, TypeError, AttributeError):
        raise AuditInputError(f"{where} is damaged (a figure lacks its svg, alt or title); re-run the audit to recreate it.") from None


def manifest_json(contents: dict[str, str | bytes], version: str | None = None) -> str:
    """The text of ``manifest.json`` for a set of files.

    ``{"schema": "trustaudit/manifest/1", "trustaudit_version": ..., "files": {name: {"sha256": ...,
    "size": bytes}}}``, the names sorted. Nothing in it depends on the time or the machine, so the
    same set always gets the same manifest.
    """
    files = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
             for name, data in sorted(_as_bytes(contents).items())}
    payload = {"schema": MANIFEST_SCHEMA, "trustaudit_version": version or installed_version(), "files": files}
    return json.dumps(payload, indent=2) + "\n"


def write_set(out_dir: str | os.PathLike, contents: dict[str, str | bytes]) -> dict[str, Path]:
    """Write a report set into ``out_dir`` as a whole: each file atomically, ``manifest.json`` last.

    Parameters
    ----------
    out_dir : path-like
        The directory; created (with its parents) when missing, and removed again when the write
        fails and it is still empty.
    contents : dict
        File name (one of ``SET_FILES``) to text (written as UTF-8, newlines unchanged) or bytes.

    Returns
    -------
    dict
        The path written for every name of ``contents`` (the manifest is not listed).

    Notes
    -----
    The order of the steps, and what a crash at any moment leaves, is in the module docstring.
    Files of ``SET_FILES`` that ``contents`` lacks are removed (after the old manifest, before the
    new files are moved in); every other file in ``out_dir`` is left alone. An ``OSError`` becomes
    an ``AuditInputError`` naming the directory.
    """
    unknown = [name for name in contents if name not in SET_FILES]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a file of a report set ({', '.join(SET_FILES)})")
    given = _as_bytes(contents)
    data = {name: given[name] for name in SET_FILES if name in given}  # in the order of SET_FILES
    return _write(Path(out_dir), data, manifest=manifest_json(data).encode("utf-8"))


def write_atomically(out_dir: str | os.PathLike, contents: dict[str, str | bytes]) -> dict[str, Path]:
    """Write files that are not a report set (e.g. a benchmark's) as :func:`write_set` does, without
    a manifest: every file is staged and ``fsync``-ed before the first one is moved into place."""
    return _write(Path(out_dir), _as_bytes(contents), manifest=None)


def installed_version() -> str:
    """The installed trustaudit version, or ``"unknown"`` when run from a source tree not installed."""
    from importlib import metadata

    try:
        return metadata.version("trustaudit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _as_bytes(contents: dict[str, str | bytes]) -> dict[str, bytes]:
    return {name: text if isinstance(text, bytes) else text.encode("utf-8") for name, text in contents.items()}


def _write(out_dir: Path, data: dict[str, bytes], manifest: bytes | None) -> dict[str, Path]:
    """Stage every file, then (holding Ctrl-C) replace them and, last, the manifest. See the module docstring."""
    created = not out_dir.exists()
    names = list(data) + ([MANIFEST] if manifest is not None else [])
    staged: dict[str, Path] = {}
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(out_dir, (*SET_FILES, MANIFEST) if manifest is not None else names)
            for name in names:
                staged[name] = _stage(out_dir, name, manifest if name == MANIFEST else data[name])
            with _interrupts_held(out_dir):
                if manifest is not None:
                    (out_dir / MANIFEST).unlink(missing_ok=True)
                    for name in SET_FILES:
                        if name not in data:
                            (out_dir / name).unlink(missing_ok=True)
                    _fsync_directory(out_dir)
                for name in names:  # the manifest, when there is one, last
                    if name == MANIFEST:
                        _fsync_directory(out_dir)
                    os.replace(staged[name], out_dir / name)
                    del staged[name]
                _fsync_directory(out_dir)
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        if created:
            _remove_if_empty(out_dir)
        raise AuditInputError(
            f"cannot write the report to '{out_dir}': {exc.strerror or exc}; choose a writable directory with --out."
        ) from None
    except BaseException:
        if created:
            _remove_if_empty(out_dir)
        raise
    return {name: out_dir / name for name in data}


def remove_stale_temporaries(directory: Path, names) -> None:
    """Remove the temporary files (``.<name>.<random>.tmp``, for each of ``names``) a killed run left."""
    for name in names:
        for tmp in directory.glob(f".{name}.*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)


def _stage(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new temporary file in ``directory``, flushed and fsync-ed; return its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a report is for reading
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _fsync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


@contextmanager
def _interrupts_held(out_dir: Path):
    """Hold Ctrl-C (SIGINT) until the block ends, then raise ``KeyboardInterrupt``.

    The files are then in place and the set whole, so the interrupt carries ``written_to`` (the
    directory) for the command line's message. Only in the main thread and when SIGINT has
    Python's default handler; otherwise the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        interrupt = KeyboardInterrupt()
        interrupt.written_to = out_dir
        raise interrupt


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
