"""Run an audit: spec → load → AuditContext → checks → AuditResult."""

from __future__ import annotations

import math
import os
from importlib import metadata
from pathlib import Path

import numpy as np

from .derived import NOT_PER_VIEW, view_sections
from .checklist import checklist_results, validate_request
from .checks import CHECK_TASKS, CHECKS, data_profile, not_run
from .context import AuditContext, EvaluatedDataset, Progress, StepProgress
from .data import input_limit, load_dataset, load_datasets, read_table, require_column, sha256_file
from .errors import AuditInputError
from .groups import group_labels
from .memory import return_free_memory
from .models import load_model, predictions
from .provenance import provenance
from .result import AuditResult
from .spec import EXECUTION_SETTINGS, AuditSpec, load_spec, resolve
from .stats import ResamplingEngine
from .stats.resample import CountsStore
from .tasks import Task


def run(spec: str | os.PathLike | dict | AuditSpec, model: object | None = None, progress: Progress | None = None) -> AuditResult:
    """Audit a binary classifier as the spec says.

    ``spec`` is a path to an audit YAML file, a dict of the same content or an ``AuditSpec``;
    ``model`` optionally is any fitted object with ``predict_proba`` (then the spec needs no
    ``model`` entry). ``progress`` receives a short description of each long step.
    Bad input raises ``audit.AuditInputError`` with a plain message.
    """
    spec, base_dir = load_spec(spec, model_object=model is not None)
    return run_loaded(spec, base_dir, model, progress)


def run_loaded(spec: AuditSpec, base_dir: Path, model: object | None = None, progress: Progress | None = None) -> AuditResult:
    """Run a validated spec whose relative paths are relative to ``base_dir``."""
    validate_request(spec.checklists, spec.attestations)  # a typo in an attestation id fails before any work
    steps = StepProgress(progress)
    say = steps.step
    say("loading data")
    datasets = load_datasets(spec, base_dir)
    check_group_counts(spec, datasets)
    say("loading the model")
    adapter = load_model(spec, base_dir, model)
    evaluated = {}
    for name, ds in datasets.items():
        if spec.task == "segmentation":
            say(f"scoring the cases of {name}")
            evaluated[name] = segmentation_dataset(ds, spec, base_dir, adapter)
            continue
        say(f"predicting {name}")
        evaluated[name] = EvaluatedDataset(ds, predictions(adapter, ds, spec))
    if spec.task == "segmentation":
        found = {name: d.cases.structures for name, d in evaluated.items()}
        if len(set(found.values())) > 1:
            listed = "; ".join(f"{name}: {', '.join(s)}" for name, s in found.items())
            raise AuditInputError(f"the datasets hold different label values ({listed}); name the structures in data.labels so "
                                  "that every dataset is scored on the same ones.")
    calibration = None
    if spec.data.calibration is not None:
        say("loading the conformal calibration set")
        cal = load_dataset("calibration", "internal", spec.data.calibration, spec, base_dir)
        calibration = EvaluatedDataset(cal, predictions(adapter, cal, spec))
    train_ids, train_file = None, {}
    if spec.data.train is not None:
        say("reading the training table's identifiers")
        path = resolve(base_dir, spec.data.train)
        frame = read_table(path, label=f"data.train ({spec.data.train})", max_bytes=input_limit(spec))
        require_column(frame, spec.data.id, "data.id", f"data.train ({spec.data.train})")
        train_ids = frame[spec.data.id]
        train_file = {"data:train": {"path": spec.data.train, "sha256": sha256_file(path)}}
    settings = spec.settings
    engine = ResamplingEngine(
        settings.seed, settings.n_resamples, settings.confidence, settings.ci_method,
        n_jobs=settings.n_jobs, scheduler=settings.scheduler, progress=steps.resamples, store=CountsStore(),
    )
    ctx = AuditContext(spec, base_dir, evaluated, engine, adapter, say, calibration, train_ids)
    try:  # every check reads each dataset's one stream of counts, drawn once (CountsStore)
        sections = []
        names = requested_checks(spec)
        if spec.data.id is not None and "profile" not in names:  # shared patients are never left unchecked
            say("check: patient identifiers")
            sections.append(data_profile.leakage_only(ctx))
        for name in names:
            return_free_memory()  # what the last check freed, before this one's temporaries come on top
            say(f"check: {name}")
            if name in CHECKS and ctx.task.name not in CHECK_TASKS[name]:
                sections.append(not_run(name, not_defined_reason(name, spec)))
            else:
                sections.append(CHECKS[name](ctx) if name in CHECKS else not_run(name))
        sections += view_sections(ctx, names)  # binary views of a multiclass audit, labels of a multilabel one
    finally:
        engine.store.close()
    mark_backwards_datasets(sections)
    model_file = None
    if model is None and spec.model is not None:
        model_file = (spec.model.path, resolve(base_dir, spec.model.path))
    result = AuditResult.assemble(
        spec=spec_record(spec),
        provenance=_with_files(provenance(spec, datasets | ({"calibration": calibration.dataset} if calibration else {}), model_file, adapter),
                               train_file),
        datasets={name: dataset_summary(d, settings.confidence, ctx.task, spec.data, settings) for name, d in evaluated.items()},
        sections=sections,
        version=_version(),
    )
    if spec.checklists:
        say("guideline checklists")
        result.results["checklists"] = checklist_results(spec.checklists, result.results, spec.attestations)
    null_non_finite(result.results)
    return result


def spec_record(spec: AuditSpec) -> dict:
    """The spec as results.json records it: without the execution settings, and without ``settings.threshold`` for a
    multiclass audit (the decision is the most probable class; the recorded spec must load again for ``reproduce``)."""
    settings = set(EXECUTION_SETTINGS) | ({"threshold"} if spec.task == "multiclass" else set())
    return spec.model_dump(mode="json", exclude={"settings": settings})


def not_defined_reason(check: str, spec: AuditSpec) -> str:
    """Why a check the spec asks for is not run for this task."""
    reason = f"not defined for {spec.task} outcomes"
    if spec.task == "multiclass" and "binary" in CHECK_TASKS[check] and check not in NOT_PER_VIEW:
        views = ", ".join(spec.settings.binary_views)
        reason += (f"; it is run on each binary view ({views}) below" if views else
                   "; name a clinically used dichotomy in settings.binary_views (e.g. {referable: [2, 3, 4]}) to audit it")
    if spec.task == "multilabel" and "binary" in CHECK_TASKS[check] and check not in NOT_PER_VIEW:
        reason += "; it is run on each label below"
    return reason


def null_non_finite(results: dict) -> None:
    """The safety net under "values that cannot be JSON never reach results.json": a NaN or infinity a check
    let through becomes null, and one warning names where, so the audit still saves and the gap is visible.
    Every known source already gives null with a reason; this only catches what those missed."""
    found: list[str] = []

    def clean(value, path):
        if isinstance(value, float) and not math.isfinite(value):
            found.append(path)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    cleaned = clean(results, "")
    if found:
        results.clear()
        results.update(cleaned)
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        results.setdefault("findings", []).append({
            "check": "audit", "severity": "warning", "dataset": None,
            "message": f"{len(found)} values could not be computed and are null in results.json without their own reason: {shown}.",
        })


def check_group_counts(spec: AuditSpec, datasets: dict) -> None:
    """Refuse a sensitive attribute or site column with more groups than ``settings.max_groups`` in a dataset:
    that many groups is an identifier or a continuous variable, not something to compare patients by."""
    limit = spec.settings.max_groups
    columns = [(c, "data.sensitive") for c in spec.data.sensitive] + ([(spec.data.site, "data.site")] if spec.data.site else [])
    for name, ds in datasets.items():
        for column, key in columns:
            if column not in ds.frame.columns:
                continue  # the loader names a missing column; nothing to count here
            count = int(np.unique(group_labels(ds.frame[column])).size)
            if count > limit:
                raise AuditInputError(
                    f"{key} column {column!r} has {count} groups in dataset {name!r}, more than settings.max_groups ({limit}); "
                    "group a continuous variable into bands (e.g. age 18-39, 40-64, 65+), or raise settings.max_groups if you mean it."
                )


def mark_backwards_datasets(sections) -> None:
    """Where discrimination fails (the model ranks patients backwards), every other verdict on that dataset says so."""
    backwards = {
        c["dataset"] for s in sections if s.name == "performance"
        for c in s.data.get("criteria", []) if c["metric"] == "auroc" and c["verdict"] == "fail"
    }
    for s in sections:
        for c in s.data.get("criteria", []):
            if c.get("dataset") in backwards and not (s.name == "performance" and c["metric"] == "auroc"):
                c["caveat"] = f"This verdict rests on a model that ranks patients backwards on {c['dataset']}."


def requested_checks(spec: AuditSpec) -> list[str]:
    """The spec's checks, each once, in the order they were asked for."""
    return list(dict.fromkeys(spec.checks))


def segmentation_dataset(ds, spec: AuditSpec, base_dir: Path, adapter) -> EvaluatedDataset:
    """A segmentation dataset with every case scored (``audit.segmentation.evaluate_cases``): file paths are relative to
    the case table's folder; cases are named by ``data.id`` (else their row number)."""
    from .segmentation import evaluate_cases, with_files_digest

    data = spec.data
    written = spec.data.test if ds.name == "test" else spec.data.external[ds.name]
    folder = resolve(base_dir, written).parent
    frame = ds.frame
    ids = ([str(v) for v in frame[data.id]] if data.id is not None else [f"row {i + 1}" for i in range(len(frame))])
    masks = [str(resolve(folder, p)) for p in ds.y]
    column = data.image if adapter is not None else data.prediction
    files = [str(resolve(folder, p)) for p in frame[column].astype(str)]
    for case, path in [c for pair in zip(zip(ids, masks), zip(ids, files)) for c in pair]:
        if not Path(path).is_file():
            raise AuditInputError(f"dataset {ds.name!r}, case {case}: the file {path!r} does not exist; check the path in the "
                                  "case table (relative paths are relative to the table's folder).")
    settings = spec.settings
    try:
        preds = files if adapter is None else model_predictions(adapter, ids, files, masks, spec)
        cases = evaluate_cases(ids, masks, preds, data, settings, settings.n_jobs, settings.scheduler)
    except AuditInputError as exc:
        raise AuditInputError(f"dataset {ds.name!r}, {exc}") from None
    cases = with_files_digest(cases, [p for pair in zip(masks, files) for p in pair])
    return EvaluatedDataset(ds, cases.values, cases)


def model_predictions(adapter, ids: list[str], images: list[str], masks: list[str], spec: AuditSpec) -> list:
    """The model's per-class probabilities for every case, from its image windowed to [0, 1] (label map: the most
    probable class)."""
    from .segmentation import case_image, model_probabilities

    window = spec.model.window if spec.model is not None else None
    size = adapter.batch_size
    out = []
    for start in range(0, len(ids), size):
        rows = range(start, min(len(ids), start + size))
        batch = [case_image(images[i], masks[i], spec.data, window, ids[i]) for i in rows]
        try:
            probabilities = model_probabilities(adapter, batch)
        except AuditInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's model failing on the user's images
            raise AuditInputError(f"case {ids[rows[0]]}: the model failed on its image ({type(exc).__name__}: {exc}); check "
                                  "model.normalize and that the network takes (batch, channels, *spatial) images.") from None
        out += probabilities
    return out


def dataset_summary(ds: EvaluatedDataset, confidence: float, task: Task, data, settings=None) -> dict:
    """results.json's ``datasets.<name>``: where the table came from, then the task's summary of its outcome."""
    summary = ds.cases.summary() if ds.cases is not None else task.summary(ds.target, confidence, data, settings)
    return {"role": ds.role, "path": ds.dataset.path, "sha256": ds.dataset.sha256, **summary}


def _version() -> str:
    try:
        return metadata.version("trustaudit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _with_files(prov: dict, extra: dict) -> dict:
    prov["files"].update(extra)
    return prov
