"""Subgroups, one module for every check: how patients are split (partitions), how a group is labelled
(missing values as their own group, ``(missing)``), which group is the reference, and the one rule that
says a group is too small to judge.

The fairness, calibration, uncertainty, utility and robustness checks all read their groups here, so a
group is the same group, with the same label and the same small-group verdict, in every section.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import AuditInputError

MISSING = "(missing)"


@dataclass(frozen=True)
class Partition:
    """One way of splitting the patients: an attribute, the site, or the intersection of attributes."""

    name: str
    kind: str  # "attribute" | "site" | "intersection"
    attributes: tuple[str, ...]
    labels: np.ndarray  # one group label (str) per row

    def display(self, label: str) -> str:
        return label if self.kind == "intersection" else f"{self.name}={label}"


def group_labels(column: pd.Series) -> np.ndarray:
    """String labels of an attribute; missing values become their own group, ``(missing)``."""
    labels = column.astype("string").fillna(MISSING).to_numpy(dtype=object)
    return labels.astype(str)


def partitions_of(frame: pd.DataFrame, attributes: list[str], site: str | None, intersectional: bool,
                  max_groups: int | None = None) -> list[Partition]:
    """The partitions of the rows of ``frame``: each attribute, the site, and (``intersectional``) the
    intersection of the attributes unless it has more than ``max_groups`` groups (the runner already refused
    an attribute or site with more; :func:`intersection_size` says how many an intersection has)."""
    parts = [Partition(a, "attribute", (a,), group_labels(frame[a])) for a in attributes]
    if site is not None and site not in attributes:
        parts.append(Partition(site, "site", (site,), group_labels(frame[site])))
    if intersectional and len(attributes) >= 2:
        combined = intersection_labels(attributes, [p.labels for p in parts[: len(attributes)]])
        if max_groups is None or np.unique(combined).size <= max_groups:
            parts.append(Partition(" × ".join(attributes), "intersection", tuple(attributes), combined))
    return parts


def intersection_labels(attributes: list[str], labels: list[np.ndarray]) -> np.ndarray:
    """Per row, ``"a=x & b=y"`` of the attributes' labels; each distinct combination is spelled once, then gathered."""
    values, codes = zip(*(np.unique(np.asarray(lab, dtype=str), return_inverse=True) for lab in labels))
    stacked = np.column_stack([c.ravel() for c in codes])
    combos, inverse = np.unique(stacked, axis=0, return_inverse=True)
    spelled = np.array([" & ".join(f"{a}={v[c]}" for a, v, c in zip(attributes, values, row)) for row in combos], dtype=object)
    return spelled[inverse.ravel()].astype(str)


def build_partitions(ds, attributes: list[str], site: str | None, intersectional: bool,
                     max_groups: int | None = None) -> list[Partition]:
    """:func:`partitions_of` the whole of dataset ``ds`` (an ``EvaluatedDataset``)."""
    return partitions_of(ds.dataset.frame, attributes, site, intersectional, max_groups)


def intersection_size(frame: pd.DataFrame, attributes: list[str]) -> int:
    """How many groups the intersection of ``attributes`` has in ``frame`` (missing values a group of their own)."""
    return len(frame[attributes].astype("string").fillna(MISSING).drop_duplicates())


def too_small(n: int, events: int | None, settings) -> list[str]:
    """Why a group of ``n`` patients, ``events`` of them with the outcome, is too small to judge (empty when it is
    not): fewer than ``settings.min_group_size`` patients, or fewer than ``settings.min_group_events`` with or
    without the outcome. The one small-group rule of every check. ``events=None`` (a multiclass outcome, whose
    classes are judged one by one) applies the size rule only."""
    reasons = []
    if n < settings.min_group_size:
        reasons.append(f"n = {n} < {settings.min_group_size}")
    if events is None:
        return reasons
    if events < settings.min_group_events:
        reasons.append(f"{events} with the outcome < {settings.min_group_events}")
    if n - events < settings.min_group_events:
        reasons.append(f"{n - events} without the outcome < {settings.min_group_events}")
    return reasons


def reference_group(part: Partition, groups: list[dict], configured: dict[str, str]) -> str:
    """The group the others are compared with: ``settings.reference_groups`` when it names one, else the largest
    group large enough to judge (the first in sorted order on a tie)."""
    labels = [g["label"] for g in groups]
    if part.name in configured:
        wanted = str(configured[part.name])
        if wanted not in labels:
            raise AuditInputError(
                f"settings.reference_groups names {wanted!r} for {part.name!r}, which has the groups "
                f"{', '.join(repr(x) for x in labels)}; choose one of them."
            )
        return wanted
    ok = [g for g in groups if g["status"] == "ok"] or groups
    return max(ok, key=lambda g: g["n"])["label"]  # first largest: groups are in sorted order
