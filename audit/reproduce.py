"""Re-run a recorded audit and say which numbers differ.

``reproduce(results_path, base_dir)`` reads the spec recorded in a results.json, checks that the input
files under ``base_dir`` still have the recorded SHA-256 hashes, runs the audit again and compares
every number of the new results with the recorded ones. Paths in the recorded spec are as the user
wrote them, relative to the spec file's directory: ``base_dir`` is that directory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .data import sha256_file
from .errors import AuditInputError
from .render import load_saved
from .spec import load_spec, resolve

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


def reproduce(results_path: str | Path, base_dir: str | Path, tolerance: float = 0.0) -> Reproduction:
    from .runner import run_loaded

    recorded, _, _ = load_saved(results_path)
    spec_dict = recorded.get("spec")
    if not isinstance(spec_dict, dict):
        raise AuditInputError("the results file records no spec, so the audit cannot be re-run; re-run it with trustaudit run.")
    spec, _ = load_spec(spec_dict)
    base = Path(base_dir).expanduser().resolve()
    changed = []
    for key, entry in ((recorded.get("provenance") or {}).get("files") or {}).items():
        path = resolve(base, entry.get("path", ""))
        if not path.is_file():
            raise AuditInputError(
                f"input {key} ({entry.get('path')!r}) is not found under {str(base)!r}; pass the directory of the original "
                "audit spec with --base-dir (paths in the spec are relative to it)."
            )
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            changed.append({"input": key, "path": entry.get("path"), "recorded": entry.get("sha256"), "now": digest})
    new = run_loaded(spec, base).results
    differences, count = [], 0
    for part in ("datasets", "sections", "findings", "checklists"):
        diffs, n = compare(recorded.get(part), new.get(part), part, tolerance)
        differences += diffs
        count += n
    environment = [d for d in compare({k: (recorded.get("provenance") or {}).get(k) for k in ENVIRONMENT_KEYS},
                                      {k: new["provenance"].get(k) for k in ENVIRONMENT_KEYS}, "provenance")[0]]
    return Reproduction(changed, differences, environment, count)
