"""Binary views of a multiclass audit: clinically used dichotomies audited with the whole binary machinery.

``settings.binary_views`` names dichotomies such as ``{referable: [2, 3, 4]}`` (referable diabetic
retinopathy: grade 2 or worse). For each, every patient's outcome is "in the view" or not, and
P(view) is the sum of the view's classes' probabilities; the binary checks the spec asks for
(performance, fairness, calibration, utility, uncertainty, external) then run on those datasets
exactly as in a binary audit, at the view's threshold (default 0.5). Each dataset keeps its name,
so the view's bootstrap draws the same resampled patients as the multiclass analysis (one resample
stream per dataset). The data profile is the multiclass one, and robustness attacks the K-class
model itself, so neither is repeated per view.

A view's section is stored as ``sections["<check>:<view>"]`` with ``check`` (the check that made it)
and ``binary_view`` (its name, classes, threshold and, per dataset, its events) beside the check's
own data; its findings carry the same name, so the report files them under the view.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .checks import CHECK_TASKS, CHECKS
from .checks.base import Finding, Section
from .context import AuditContext, EvaluatedDataset
from .tasks.multiclass import class_labels, label_text

#: Checks that are not repeated per view (see the module docstring).
NOT_PER_VIEW = frozenset({"profile", "robustness"})


def view_codes(data, classes: list) -> np.ndarray:
    """The class codes (positions in ``data.classes``) of a view's classes."""
    position = {label_text(label): k for k, label in enumerate(class_labels(data))}
    return np.array(sorted(position[label_text(c)] for c in classes), dtype=np.int64)


def view_dataset(ds: EvaluatedDataset, codes: np.ndarray) -> EvaluatedDataset:
    """``ds`` as a binary outcome: 1 when the true class is one of ``codes``; P(view) = the sum of their probabilities."""
    y = np.isin(np.asarray(ds.y), codes).astype(np.int8)
    y.flags.writeable = False
    p = np.clip(ds.p[:, codes].sum(axis=1), 0.0, 1.0)
    return EvaluatedDataset(replace(ds.dataset, y=y), p)


def view_context(ctx: AuditContext, name: str) -> AuditContext:
    """The audit context of binary view ``name``: a binary spec at the view's threshold over the view's datasets."""
    spec = ctx.spec
    view = spec.settings.binary_views[name]
    codes = view_codes(spec.data, view.classes)
    settings = spec.settings.model_copy(update={"threshold": view.threshold, "binary_views": {}})
    binary_spec = spec.model_copy(update={"task": "binary", "settings": settings})
    datasets = {n: view_dataset(ds, codes) for n, ds in ctx.datasets.items()}
    calibration = view_dataset(ctx.calibration, codes) if ctx.calibration is not None else None
    return AuditContext(binary_spec, ctx.base_dir, datasets, ctx.engine, None, ctx.progress, calibration, ctx.train_ids)


def view_sections(ctx: AuditContext, checks: list[str]) -> list[Section]:
    """Every requested binary check on every binary view of the spec, as named view sections."""
    sections = []
    for name, view in ctx.spec.settings.binary_views.items():
        vctx = view_context(ctx, name)
        info = {
            "name": name,
            "classes": [label_text(c) for c in view.classes],
            "threshold": view.threshold,
            "events": {n: {"n": ds.n, "n_events": ds.n_events} for n, ds in vctx.datasets.items()},
        }
        for check in checks:
            if check in NOT_PER_VIEW or check not in CHECKS or "binary" not in CHECK_TASKS[check]:
                continue
            ctx.report_progress(f"check: {check} (binary view {name})")
            sections.append(as_view_section(CHECKS[check](vctx), info))
    return sections


def as_view_section(section: Section, info: dict) -> Section:
    """A check's section renamed ``<check>:<view>``, its title and findings saying which view they are about."""
    key = f"{section.name}:{info['name']}"
    title = f"{section.title}: binary view {info['name']} (class {', '.join(info['classes'])} against the rest)"
    findings = [Finding(key, f.severity, f.message, f.dataset) for f in section.findings]
    data = {"check": section.name, "binary_view": info, **section.data}
    return Section(key, title, section.status, data, findings, section.figures, section.evidence)
