"""Per-section report views: results.json section → what its template partial lays out.

A check whose section needs more than the generic metrics table gets a module here named after
the check (``audit/views/robustness.py`` for the ``robustness`` check) with

- ``TEMPLATE``: the partial in ``reports/`` (e.g. ``"_robustness.html.j2"``) that defines a
  macro ``section(view)``;
- ``build(section, figures, settings, context) -> dict``: arranges the section's stored numbers for
  the partial — lookups and ordering only, never a statistic. ``context`` (:class:`ViewContext`)
  gives the section's name, the report's unique-anchor maker and results.json's ``datasets``. The
  dict may carry ``used_figures`` (a list of the :class:`~audit.figure.Figure` objects the partial
  places itself), which the report then leaves out of the generic figure block; ``replaces_table:
  True`` when the partial shows the section's numbers itself; ``table_metrics`` (the metrics the
  threshold note speaks of); ``wide: True`` for landscape pages; ``findings_first: True`` when the
  findings lead the section.

This is the one way a section gets a view: every check with a partial has its module here.

``section_view(name, ...)`` returns ``None`` for a check without such a module.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def view_module(name: str):
    """The view module for check ``name``, or ``None`` when the check has none."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    module_name = f"{__name__}.{name}"
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name)


@dataclass(frozen=True)
class ViewContext:
    """What a view may need besides its section: the section's name, the report's maker of unique anchors
    (``anchors(text) -> id``), and results.json's ``datasets`` block."""

    name: str
    anchors: Callable[[str], str] = field(default=lambda text: text)
    datasets: Mapping = field(default_factory=dict)


def section_view(name: str, section: Mapping, figures: Mapping, settings: Mapping,
                 context: ViewContext | None = None) -> dict | None:
    """``{"template": ..., "view": ...}`` for the section's partial, or ``None``."""
    module = view_module(name)
    if module is None:
        return None
    view: dict[str, Any] = module.build(section, figures, settings, context or ViewContext(name))
    return {"template": module.TEMPLATE, "view": view}
