"""Binary audits derived from a multiclass or multilabel one, run with the whole binary machinery.

- **Binary views** of a multiclass audit (``settings.binary_views``): clinically used dichotomies such as
  ``{referable: [2, 3, 4]}`` (referable diabetic retinopathy: grade 2 or worse). A patient's outcome is
  "in the view" or not, and P(view) is the sum of the view's classes' probabilities, at the view's
  threshold (default 0.5).
- **Labels** of a multilabel audit: each label (``data.target``'s columns) is its own binary outcome with
  its own probability, at the label's threshold (``settings.threshold``).

For each, the binary checks the spec asks for (performance, fairness, calibration, utility, uncertainty,
external) run on the derived datasets exactly as in a binary audit. Each dataset keeps its name, so every
derived audit draws the same resampled patients as the parent (one resample stream per dataset). The data
profile is the parent's, and robustness attacks the parent model itself, so neither is repeated.

A derived section is stored as ``sections["<check>:<name>"]`` with ``check`` (the check that made it) and
``binary_view`` or ``label`` (its name, what it is and, per dataset, its events) beside the check's own data;
its findings carry the same name, so the report files them under it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .checks import CHECK_TASKS, CHECKS
from .checks.base import Finding, Section
from .context import AuditContext, EvaluatedDataset
from .tasks.multiclass import class_labels, label_text

#: Checks that are not repeated per derived audit (see the module docstring).
NOT_PER_VIEW = frozenset({"profile", "robustness"})


@dataclass(frozen=True)
class Derived:
    """One derived binary audit: its name, its kind ("binary_view" or "label"), its context and what it is."""

    name: str
    kind: str
    ctx: AuditContext
    info: dict


def view_codes(data, classes: list) -> np.ndarray:
    """The class codes (positions in ``data.classes``) of a view's classes."""
    position = {label_text(label): k for k, label in enumerate(class_labels(data))}
    return np.array(sorted(position[label_text(c)] for c in classes), dtype=np.int64)


def binary_dataset(ds: EvaluatedDataset, y: np.ndarray, p: np.ndarray) -> EvaluatedDataset:
    """``ds`` with a binary outcome ``y`` and P(outcome) ``p`` (same rows, same name, same resample stream)."""
    y = np.asarray(y).astype(np.int8)
    y.flags.writeable = False
    return EvaluatedDataset(replace(ds.dataset, y=y), np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0))


def view_dataset(ds: EvaluatedDataset, codes: np.ndarray) -> EvaluatedDataset:
    """``ds`` as a binary outcome: 1 when the true class is one of ``codes``; P(view) = the sum of their probabilities."""
    return binary_dataset(ds, np.isin(np.asarray(ds.y), codes), ds.p[:, codes].sum(axis=1))


def _context(ctx: AuditContext, transform, data_update: dict, threshold: float) -> AuditContext:
    spec = ctx.spec
    settings = spec.settings.model_copy(update={"threshold": threshold, "binary_views": {}})
    data = spec.data.model_copy(update=data_update)
    binary_spec = spec.model_copy(update={"task": "binary", "settings": settings, "data": data})
    datasets = {n: transform(ds) for n, ds in ctx.datasets.items()}
    calibration = transform(ctx.calibration) if ctx.calibration is not None else None
    return AuditContext(binary_spec, ctx.base_dir, datasets, ctx.engine, None, ctx.progress, calibration, ctx.train_ids)


def derived_audits(ctx: AuditContext) -> list[Derived]:
    """The binary audits derived from ``ctx`` (computed once and cached on it)."""
    if "derived_audits" in ctx.cache:
        return ctx.cache["derived_audits"]
    spec, out = ctx.spec, []
    if spec.task == "multiclass":
        for name, view in spec.settings.binary_views.items():
            codes = view_codes(spec.data, view.classes)
            vctx = _context(ctx, lambda ds, codes=codes: view_dataset(ds, codes), {}, view.threshold)
            out.append(Derived(name, "binary_view", vctx, {
                "name": name, "classes": [label_text(c) for c in view.classes], "threshold": view.threshold,
                "events": {n: {"n": ds.n, "n_events": ds.n_events} for n, ds in vctx.datasets.items()}}))
    elif spec.task == "multilabel":
        from .tasks.multilabel import labels, thresholds

        names, limits = labels(spec.data), thresholds(spec.data, spec.settings)
        predictions = list(spec.data.prediction) if spec.data.prediction is not None else [None] * len(names)
        for j, label in enumerate(names):
            lctx = _context(ctx, lambda ds, j=j: binary_dataset(ds, ds.y[:, j], ds.p[:, j]),
                            {"target": label, "prediction": predictions[j], "no_finding": None}, limits[label])
            out.append(Derived(label, "label", lctx, {
                "name": label, "threshold": limits[label], "no_finding": label == spec.data.no_finding,
                "events": {n: {"n": ds.n, "n_events": ds.n_events} for n, ds in lctx.datasets.items()}}))
    ctx.cache["derived_audits"] = out
    return out


def derived(ctx: AuditContext, name: str) -> Derived:
    """The derived audit called ``name``."""
    return next(d for d in derived_audits(ctx) if d.name == name)


def view_sections(ctx: AuditContext, checks: list[str]) -> list[Section]:
    """Every requested binary check on every derived binary audit (views or labels), as named sections."""
    sections = []
    for d in derived_audits(ctx):
        for check in checks:
            if check in NOT_PER_VIEW or check not in CHECKS or "binary" not in CHECK_TASKS[check]:
                continue
            what = "binary view" if d.kind == "binary_view" else "label"
            ctx.report_progress(f"check: {check} ({what} {d.name})")
            sections.append(as_view_section(section_of(d, check), d))
    return sections


def section_of(d: Derived, check: str) -> Section:
    """The binary ``check``'s section on derived audit ``d``, computed once (summaries of the parent read it too)."""
    key = ("derived_section", check)
    if key not in d.ctx.cache:
        d.ctx.cache[key] = CHECKS[check](d.ctx)
    return d.ctx.cache[key]


def as_view_section(section: Section, d: Derived) -> Section:
    """A check's section renamed ``<check>:<name>``, its title and findings saying which view or label they are about."""
    key = f"{section.name}:{d.name}"
    if d.kind == "binary_view":
        title = f"{section.title}: binary view {d.name} (class {', '.join(d.info['classes'])} against the rest)"
    else:
        title = f"{section.title}: label {d.name}"
    findings = [Finding(key, f.severity, f.message, f.dataset) for f in section.findings]
    data = {"check": section.name, d.kind: d.info, **section.data}
    return Section(key, title, section.status, data, findings, section.figures, section.evidence)
