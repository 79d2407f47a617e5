"""Where the data directories that ship with trustaudit (``reports/``, ``checklists/``) live.

In a built wheel they are installed inside the package as ``audit/_resources/<name>``
(``pyproject.toml`` copies them there with hatchling's ``force-include``). In a source
checkout or an editable install they are the top-level ``<repo>/<name>`` directories.
Everything that needs one of them asks :func:`resource_dir`, so both layouts work the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

ResourceName = Literal["reports", "checklists"]

_NAMES = ("reports", "checklists")
_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: ResourceName) -> Path:
    """Return the directory holding the shipped ``reports`` or ``checklists`` files.

    Looks first in the installed location ``audit/_resources/<name>``, then in the source
    checkout ``<repo>/<name>``. Raises ``RuntimeError`` when neither exists, which means the
    installation is broken (not something the user's audit spec can fix).
    """
    if name not in _NAMES:
        raise ValueError(f"unknown resource directory {name!r}; expected one of {', '.join(_NAMES)}")
    candidates = (
        _PACKAGE_DIR / "_resources" / name,  # wheel
        _PACKAGE_DIR.parent / name,  # source checkout / editable install
    )
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise RuntimeError(
        f"trustaudit cannot find its {name!r} directory (looked in {tried}); "
        "the installation is incomplete, reinstall the package."
    )
