"""Re-run a recorded audit and say which numbers differ.

``reproduce(results_path, base_dir)`` reads the spec recorded in a results.json, checks that the input
files under ``base_dir`` still have the recorded SHA-256 hashes, runs the audit again and compares
every number of the new results with the recorded ones. Paths in the recorded spec are as the user
wrote them, relative to the spec file's directory: ``base_dir`` is that directory.

A bundle may come from strangers, so nothing in it is trusted:

- the results.json must belong to a whole report set (its manifest checked, :mod:`audit.render`);
- every ``trust`` flag in the recorded spec is replaced by the reviewer's own ``trust`` argument
  (``--trust``): pickles, skops types outside skops' trusted set and ``model.architecture`` code are
  loaded only with it;
- the execution settings (``n_jobs``, ``scheduler``, input-size limits; never part of a recorded
  spec) are the reviewer's defaults, so a bundle can neither send data to a cluster nor lift a limit;
- every path the spec names (data files, the model file, an architecture file) and every recorded
  input file must lie inside ``base_dir``: no absolute path, no ``..`` leading out, no symlink leading
  out. Each is checked before any file is opened.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .data import sha256_file
from .errors import AuditInputError, TrustRequired
from .render import load_saved
from .spec import EXECUTION_SETTINGS, AuditSpec, load_spec

#: Parts of results.json that describe the machine, not the audit: reported but never a difference.
ENVIRONMENT_KEYS = ("python", "platform", "packages", "trustaudit", "model")


@dataclass(frozen=True)
class Reproduction:
    """What re-running an audit found: changed input files, differing values, environment changes."""

    changed_files: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)
    environment: list[dict] = field(default_factory=list)
    compared: int = 0

    @property
    def identical(self) -> bool:
        return not self.changed_files and not self.differences


def compare(recorded: object, new: object, path: str = "", tolerance: float = 0.0) -> tuple[list[dict], int]:
    """Every leaf of ``recorded`` and ``new`` that differs (numbers beyond ``tolerance``, relative), and how many leaves were compared."""
    if isinstance(recorded, dict) and isinstance(new, dict):
        out, count = [], 0
        for key in list(recorded) + [k for k in new if k not in recorded]:
            where = f"{path}.{key}" if path else str(key)
            if key not in recorded or key not in new:
                out.append({"path": where, "recorded": recorded.get(key, "(absent)"), "new": new.get(key, "(absent)")})
                count += 1
                continue
            diffs, n = compare(recorded[key], new[key], where, tolerance)
            out += diffs
            count += n
        return out, count
    if isinstance(recorded, list) and isinstance(new, list):
        if len(recorded) != len(new):
            return [{"path": path, "recorded": f"{len(recorded)} entries", "new": f"{len(new)} entries"}], 1
        out, count = [], 0
        for i, (a, b) in enumerate(zip(recorded, new)):
            diffs, n = compare(a, b, f"{path}[{i}]", tolerance)
            out += diffs
            count += n
        return out, count
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (recorded, new))
    if numbers and math.isclose(recorded, new, rel_tol=tolerance, abs_tol=0.0):
        return [], 1
    return ([] if recorded == new else [{"path": path, "recorded": recorded, "new": new}]), 1


def reproduce(results_path: str | Path, base_dir: str | Path, tolerance: float = 0.0, trust: bool = False) -> Reproduction:
    """Re-run the audit recorded in ``results_path`` on the inputs under ``base_dir`` and compare.

    Parameters
    ----------
    results_path : path-like
        A results.json of a whole report set (its manifest is checked).
    base_dir : path-like
        The directory the recorded spec's relative paths start from; nothing outside it is read.
    tolerance : float
        Relative difference tolerated between numbers (0: equal).
    trust : bool
        The reviewer's consent to load what can run code (pickles, untrusted skops types,
        ``model.architecture``); the bundle's own ``trust`` flags are ignored.

    Returns
    -------
    Reproduction
        Changed input files, differing values and environment differences.
    """
    from .runner import run_loaded

    recorded, _, _ = load_saved(results_path)
    spec_dict = recorded.get("spec")
    if not isinstance(spec_dict, dict):
        raise AuditInputError("the results file records no spec, so the audit cannot be re-run; re-run it with trustaudit run.")
    spec, _ = load_spec(reviewers_spec(spec_dict, trust))
    if spec.model is not None:  # also when the recorded spec leaves model.trust out
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"trust": trust})})
    base = Path(base_dir).expanduser().resolve()
    files = (recorded.get("provenance") or {}).get("files") or {}
    if not isinstance(files, dict):
        raise AuditInputError("the results file's provenance.files is not a mapping of input files; give a results.json an audit wrote.")
    for key, written in spec_paths(spec) + [(f"provenance.files.{k}", (e or {}).get("path", "") if isinstance(e, dict) else "")
                                           for k, e in files.items()]:
        inside(base, written, key)
    if spec.model is not None and spec.model.architecture is not None and not trust:
        raise AuditInputError(
            f"the bundle's model.architecture {spec.model.architecture!r} is code that reproduce would run; only if you trust "
            "where the bundle comes from, run trustaudit reproduce again with --trust."
        )
    changed = []
    for key, entry in files.items():
        path = inside(base, entry.get("path", ""), f"provenance.files.{key}")
        if not path.is_file():
            raise AuditInputError(
                f"input {key} ({entry.get('path')!r}) is not found under {str(base)!r}; pass the directory of the original "
                "audit spec with --base-dir (paths in the spec are relative to it)."
            )
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            changed.append({"input": key, "path": entry.get("path"), "recorded": entry.get("sha256"), "now": digest})
    try:
        new = run_loaded(spec, base).results
    except TrustRequired:
        if trust:
            raise
        model = spec.model.path if spec.model is not None else None
        raise AuditInputError(
            f"the bundle's model {model!r} loads only with trust (it can run code when loaded), and reproduce ignores the "
            "trust flags written in a bundle; only if you trust where the bundle comes from, run trustaudit reproduce "
            "again with --trust."
        ) from None
    differences, count = [], 0
    for part in ("datasets", "sections", "findings", "checklists"):
        diffs, n = compare(recorded.get(part), new.get(part), part, tolerance)
        differences += diffs
        count += n
    environment = [d for d in compare({k: (recorded.get("provenance") or {}).get(k) for k in ENVIRONMENT_KEYS},
                                      {k: new["provenance"].get(k) for k in ENVIRONMENT_KEYS}, "provenance")[0]]
    return Reproduction(changed, differences, environment, count)


def reviewers_spec(recorded: dict, trust: bool) -> dict:
    """The recorded spec as the reviewer runs it: every ``trust`` flag set to ``trust`` (the reviewer's
    own), and the execution settings dropped (the reviewer's defaults apply)."""
    spec = copy.deepcopy(recorded)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "trust" and isinstance(value, bool):
                    node[key] = trust
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    if isinstance(spec.get("settings"), dict):
        spec["settings"] = {k: v for k, v in spec["settings"].items() if k not in EXECUTION_SETTINGS}
    return spec


def spec_paths(spec: AuditSpec) -> list[tuple[str, str]]:
    """``(key, path as written)`` for every file the spec names: data tables, the model, an architecture file."""
    data = spec.data
    paths = [("data.test", data.test)] + [(f"data.external.{name}", path) for name, path in data.external.items()]
    paths += [(key, path) for key, path in (("data.calibration", data.calibration), ("data.train", data.train)) if path is not None]
    if spec.model is not None:
        if spec.model.path is not None:
            paths.append(("model.path", spec.model.path))
        where = (spec.model.architecture or "").rsplit(":", 1)[0]
        if where.endswith(".py"):
            paths.append(("model.architecture", where))
    return paths


def inside(base: Path, written: object, key: str) -> Path:
    """``written`` (a path from the bundle, relative to ``base``) resolved, once it is sure to lie inside ``base``.

    ``base`` must already be resolved. An absolute path (or one starting with ``~``), a path that
    leads out with ``..`` and one that leads out through a symlink are each an ``AuditInputError``
    naming ``key`` (a spec key, or ``provenance.files.<input>``) and the path.
    """
    text = str(written) if isinstance(written, (str, os.PathLike)) else ""
    shown = text if len(text) <= 120 else text[:117] + "..."
    source = "the bundle" if key.startswith("provenance.") else "the bundle's spec"
    where = f"{source} gives {key} as {shown!r}"
    if not text or "\0" in text:
        raise AuditInputError(f"the bundle gives no usable path for {key}; give a results.json an audit wrote.")
    if Path(text).is_absolute() or text.startswith(("~", "/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise AuditInputError(
            f"{where}, an absolute path; reproduce reads only files inside the base directory {str(base)!r}, "
            "so the bundle must give paths relative to it."
        )
    normal = os.path.normpath(text)
    if normal == ".." or normal.startswith(".." + os.sep):
        raise AuditInputError(f"{where}, which leads out of the base directory {str(base)!r} with '..'; reproduce reads only files inside it.")
    resolved = Path(os.path.realpath(base / text))  # follows every symlink; never raises on a loop
    if not resolved.is_relative_to(base):
        raise AuditInputError(
            f"{where}, a symlink leading out of the base directory {str(base)!r} (to {str(resolved)!r}); "
            "reproduce reads only files inside it."
        )
    return resolved
