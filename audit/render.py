"""Read a saved audit back: results.json and figures.json, checked against the set's manifest.

Nothing is recomputed: ``trustaudit render`` lays the report out again from the numbers and figures
the audit saved, and ``trustaudit reproduce`` reads the recorded spec and numbers from here.

A saved audit is a report set (see :mod:`audit.result`): its files and ``manifest.json``, written
last with every file's SHA-256 and size. :func:`read_set` reads a set only when it is whole and
unmixed, and otherwise says so in one plain message naming the files:

- **incomplete**: there is no manifest (a run stopped before it finished writing), or a file the
  manifest lists is missing;
- **mixed**: a file differs from the one the manifest lists (edited, or copied from another run).

A directory written by a trustaudit older than the manifest has none either, and is refused the same
way: the files cannot be told apart from a set whose writing was stopped halfway (a new results.json
beside an old figures.json), and a report laid out from such a pair would show one audit's numbers
with another's figures. The message says to re-run ``trustaudit run``, which writes a whole set.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AuditInputError
from .result import MANIFEST, MANIFEST_SCHEMA, SCHEMA, figures_from_json

FIGURES_FILE = "figures.json"
RERUN = "re-run `trustaudit run SPEC --out DIR` to write a whole set"


@dataclass(frozen=True)
class SavedSet:
    """A report set read from disk and checked against its manifest.

    ``files`` holds the bytes of every file the manifest lists (each checked against its SHA-256),
    so a command that writes the set again (``render``) copies exactly what was verified.
    """

    directory: Path
    results: dict
    figures: dict = field(default_factory=dict)
    figures_found: bool = False
    files: dict[str, bytes] = field(default_factory=dict)


def read_set(results_path: str | os.PathLike) -> SavedSet:
    """Read the results.json at ``results_path`` and the set it belongs to.

    The results file must be trustaudit results, and its directory a whole, unmixed report set
    that lists it (module docstring); figures.json is read when the set has one. Every problem is an
    ``AuditInputError`` with one plain sentence.
    """
    path = Path(results_path).expanduser()
    raw = _read_bytes(path, "results file")
    results = _parse_json(raw, path.name)
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        found = results.get("schema") if isinstance(results, dict) else None
        raise AuditInputError(
            f"{path.name} is not trustaudit results (schema {found!r}, expected {SCHEMA!r}); "
            "give the results.json an audit wrote."
        )
    files = verified_files(path.parent, path.name, raw)
    if FIGURES_FILE not in files:
        return SavedSet(path.parent, results, {}, False, files)
    figures = figures_from_json(_parse_json(files[FIGURES_FILE], FIGURES_FILE), FIGURES_FILE)
    return SavedSet(path.parent, results, figures, True, files)


def load_saved(results_path: str | os.PathLike) -> tuple[dict, dict, bool]:
    """``(results, figures, figures_found)`` of the report set :func:`read_set` reads."""
    saved = read_set(results_path)
    return saved.results, saved.figures, saved.figures_found


def verified_files(directory: Path, reading: str, raw: bytes) -> dict[str, bytes]:
    """The bytes of every file the manifest in ``directory`` lists, once each matches its SHA-256 and size.

    ``reading`` is the file the caller has read (``raw``, its bytes): it must be one of the set.
    """
    where = f"'{directory}'"
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise AuditInputError(
            f"the report set in {where} is incomplete: it has no {MANIFEST}, which is written last "
            f"(the run that wrote it stopped before the end, or an older trustaudit wrote it); {RERUN}."
        )
    listed = _manifest_files(_parse_json(_read_bytes(manifest_path, "manifest"), MANIFEST), where)
    if reading not in listed:
        raise AuditInputError(
            f"{reading} is not one of the files {MANIFEST} in {where} lists ({', '.join(listed)}); "
            "give the results.json of that set."
        )
    files, missing, changed = {}, [], []
    for name, entry in listed.items():
        data = raw if name == reading else _read_listed(directory / name, entry["size"])
        if data is None:
            missing.append(name)
        elif len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            changed.append(name)
        else:
            files[name] = data
    if missing:
        also = f", and {_names(changed)} {_differ(changed)} from it" if changed else ""
        raise AuditInputError(
            f"the report set in {where} is incomplete: {_names(missing)}, listed in {MANIFEST}, "
            f"{'is' if len(missing) == 1 else 'are'} missing{also}; {RERUN}."
        )
    if changed:
        raise AuditInputError(
            f"the report set in {where} is mixed: {_names(changed)} {_differ(changed)} from what {MANIFEST} lists "
            f"(edited, or from another run); {RERUN}."
        )
    return files


def _manifest_files(payload: object, where: str) -> dict[str, dict]:
    """The ``files`` of a manifest, each a plain file name with a SHA-256 and a size; else a plain error."""
    damaged = f"{MANIFEST} in {where} is damaged or not a trustaudit manifest (schema {MANIFEST_SCHEMA}); {RERUN}."
    files = payload.get("files") if isinstance(payload, dict) and payload.get("schema") == MANIFEST_SCHEMA else None
    if not isinstance(files, dict) or not files:
        raise AuditInputError(damaged)
    for name, entry in files.items():
        plain = name not in ("", ".", "..") and not name.startswith(".") and Path(name).name == name and "\\" not in name
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not (plain and isinstance(sha, str) and len(sha) == 64
                and isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            raise AuditInputError(damaged)
    return files


def _read_listed(path: Path, size: int) -> bytes | None:
    """The bytes of a listed file (at most one byte more than listed), or None when it is not a regular file."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read(size + 1)
    except OSError:
        return None


def _differ(names: list[str]) -> str:
    return "differs" if len(names) == 1 else "differ"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise AuditInputError(f"{what} {str(path)!r} does not exist; give the results.json an audit wrote (trustaudit run ... --out DIR).")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditInputError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc}); check its permissions.") from None


def _parse_json(raw: bytes, name: str) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"{name} is not valid JSON ({exc}); give the file an audit wrote, unmodified.") from None
    except RecursionError:
        raise AuditInputError(f"{name} is nested too deeply to be a file trustaudit wrote; give the file an audit wrote, unmodified.") from None
