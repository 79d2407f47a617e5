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
    """One way of splitting the patients: an attribute, the site, or the intersection of attributes.

    ``groups`` are the distinct labels in sorted order (``numpy.unique``'s) and ``codes`` each row's index into
    them, computed once (:meth:`of`); checks select a group's rows by code, never by comparing strings.
    """

    name: str
    kind: str  # "attribute" | "site" | "intersection"
    attributes: tuple[str, ...]
    groups: tuple[str, ...]  # distinct labels, sorted
    codes: np.ndarray  # per row, the index of its label in ``groups``

    @classmethod
    def of(cls, name: str, kind: str, attributes: tuple[str, ...], labels) -> Partition:
        """The partition whose rows carry ``labels`` (one string per row)."""
        groups, codes = sorted_codes(labels)
        return cls(name, kind, attributes, groups, codes)

    @property
    def labels(self) -> np.ndarray:
        """One group label (str) per row."""
        return np.asarray(self.groups, dtype=str)[self.codes]

    def rows(self, label: str) -> np.ndarray:
        """The rows of group ``label`` (a boolean mask)."""
        return self.codes == self.groups.index(label)

    def members(self):
        """``(label, rows)`` of every group, in sorted order."""
        return ((label, self.codes == k) for k, label in enumerate(self.groups))

    def display(self, label: str) -> str:
        return label if self.kind == "intersection" else f"{self.name}={label}"


def sorted_codes(labels) -> tuple[tuple[str, ...], np.ndarray]:
    """The distinct labels sorted as ``numpy.unique`` sorts strings, and each row's index into them, by hashing
    (``pandas.factorize``) rather than by sorting every row's string."""
    codes, uniques = pd.factorize(np.asarray(labels, dtype=object))
    uniques = np.asarray(uniques, dtype=str)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    return tuple(str(u) for u in uniques[order]), rank[codes]


def group_labels(column: pd.Series) -> np.ndarray:
    """String labels of an attribute; missing values become their own group, ``(missing)``."""
    labels = column.astype("string").fillna(MISSING).to_numpy(dtype=object)
    return labels.astype(str)


def partitions_of(frame: pd.DataFrame, attributes: list[str], site: str | None, intersectional: bool,
                  max_groups: int | None = None) -> list[Partition]:
    """The partitions of the rows of ``frame``: each attribute, the site, and (``intersectional``) the
    intersection of the attributes unless it has more than ``max_groups`` groups (the runner already refused
    an attribute or site with more; :func:`intersection_size` says how many an intersection has)."""
    parts = [Partition.of(a, "attribute", (a,), group_labels(frame[a])) for a in attributes]
    if site is not None and site not in attributes:
        parts.append(Partition.of(site, "site", (site,), group_labels(frame[site])))
    if intersectional and len(attributes) >= 2:
        groups, codes = intersection_codes(attributes, [(p.groups, p.codes) for p in parts[: len(attributes)]])
        if max_groups is None or len(groups) <= max_groups:
            parts.append(Partition(" × ".join(attributes), "intersection", tuple(attributes), groups, codes))
    return parts


def intersection_codes(attributes: list[str], coded: list[tuple[tuple[str, ...], np.ndarray]]) -> tuple[tuple[str, ...], np.ndarray]:
    """The intersection's sorted labels ``"a=x & b=y"`` and each row's code, from each attribute's (groups, codes):
    the combinations are found as mixed-radix integers, and each distinct one is spelled once."""
    combined = np.zeros(coded[0][1].size, dtype=np.int64)
    for groups, codes in coded:
        combined = combined * len(groups) + codes
    present, inverse = np.unique(combined, return_inverse=True)
    spelled = []
    for value in present:
        parts = []
        for groups, _ in reversed(coded):
            value, k = divmod(int(value), len(groups))
            parts.append(groups[k])
        spelled.append(" & ".join(f"{a}={v}" for a, v in zip(attributes, reversed(parts))))
    groups, rank = sorted_codes(spelled)
    return groups, rank[inverse.ravel()]


def intersection_labels(attributes: list[str], labels: list[np.ndarray]) -> np.ndarray:
    """Per row, ``"a=x & b=y"`` of the attributes' labels; each distinct combination is spelled once, then gathered."""
    groups, codes = intersection_codes(attributes, [sorted_codes(lab) for lab in labels])
    return np.asarray(groups, dtype=str)[codes]


def build_partitions(ds, attributes: list[str], site: str | None, intersectional: bool,
                     max_groups: int | None = None) -> list[Partition]:
    """:func:`partitions_of` the whole of dataset ``ds`` (an ``EvaluatedDataset``), computed once per dataset and
    arguments (kept in ``ds.cache``)."""
    key = ("partitions", tuple(attributes), site, intersectional, max_groups)
    if key not in ds.cache:
        ds.cache[key] = partitions_of(ds.dataset.frame, attributes, site, intersectional, max_groups)
    return ds.cache[key]


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
