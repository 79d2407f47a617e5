"""Re-render a saved audit: results.json (+ figures.json beside it) → report.html / report.pdf.

Nothing is recomputed: the report is laid out from the numbers and figures the audit saved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .checks.base import Figure
from .errors import AuditInputError
from .result import SCHEMA, figures_from_json

FIGURES_FILE = "figures.json"


def _read_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise AuditInputError(f"{what} {str(path)!r} does not exist; give the results.json an audit wrote (trustaudit run ... --out DIR).")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"{what} {path.name!r} is not valid JSON ({exc}); give the file an audit wrote, unmodified.") from None


def load_saved(results_path: str | os.PathLike) -> tuple[dict, dict[str, dict[str, Figure]], bool]:
    """``(results, figures, figures_found)`` from a saved results.json and the figures.json beside it."""
    path = Path(results_path).expanduser()
    results = _read_json(path, "results file")
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        found = results.get("schema") if isinstance(results, dict) else None
        raise AuditInputError(
            f"{path.name} is not trustaudit results (schema {found!r}, expected {SCHEMA!r}); "
            "give the results.json an audit wrote."
        )
    figures_path = path.with_name(FIGURES_FILE)
    if not figures_path.is_file():
        return results, {}, False
    return results, figures_from_json(_read_json(figures_path, "figures file"), figures_path.name), True
