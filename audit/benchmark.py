"""Benchmarking: many models x datasets, audited side by side and compared with paired statistics.

A benchmark spec (YAML) lists models (saved model files or columns of predicted probabilities),
datasets, the target and the settings. :func:`run_benchmark`

1. scores every dataset with every model and computes each cell's performance metrics with
   confidence intervals, exactly as the performance check does (``audit.stats.intervals``:
   logit-DeLong AUROC, Wilson/exact proportions, the patient bootstrap of the one resampling
   engine for the rest; a benchmark dataset is treated as a cohort);
2. for every dataset compares every model with the reference model on the *same patients*:
   AUROC by DeLong's test for correlated ROC curves; sensitivity, specificity, accuracy (and the
   other paired proportions) by Newcombe's paired score interval with the exact McNemar test;
   every other metric by a paired bootstrap of patients (both models evaluated on the same
   resampled patients in each replicate), accuracy at the threshold also by McNemar's test
   (``audit.stats.paired``). Pairing is refused when the
   rows differ: by the ``id`` column when one is named (rows are then matched by identifier),
   else by row count and label vector;
3. adjusts the p-values of each dataset's comparisons with Holm's method (or Benjamini–Hochberg);
4. writes ``benchmark.json`` (deterministic: same spec and seed, byte-identical file) and a
   self-contained ``benchmark.html`` (leaderboards, paired-difference table, forest plot).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import difflib
import typing

import matplotlib
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure as _MplFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from statsmodels.stats.multitest import multipletests

from . import plots
from .checks.base import Finding
from .figure import Figure
from .data import Dataset, load_dataset
from .errors import AuditInputError
from .labels import LOWER_IS_BETTER, SHORT_METRIC_LABELS, metric_label
from .models import load_model, predictions
from .plots.style import RC
from .provenance import environment, package_versions
from .result import write_atomically
from .spec import AuditSpec, explain_error, jobs_not_zero, problems_error, read_yaml, resolve, scheduler_address
from .stats import PERFORMANCE_METRICS, BinaryMetrics, Estimate, ResamplingEngine, proportion
from .stats.intervals import IntervalRules, cell_estimates
from .stats.paired import PAIRED_PROPORTIONS, delong_paired, mcnemar_test, paired_bootstrap, paired_proportion

SCHEMA = "trustaudit/benchmark/1"
TEMPLATE = "benchmark.html.j2"
STYLESHEET = "style.css"
MetricName = Literal[PERFORMANCE_METRICS]  # type: ignore[valid-type]
DEFAULT_METRICS = ["auroc", "auprc", "sensitivity", "specificity", "brier"]
#: Events (or non-events) below which a dataset is flagged as thin evidence (Collins et al. 2016).
MIN_EVENTS = 100

Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenchmarkModel(_Strict):
    """One model: a saved model file (``path``) or a column of P(positive) (``prediction``).

    ``tables`` gives, per dataset, a separate table holding this model's prediction column for
    the same patients (default: the dataset's own table).
    """

    path: str | None = None
    prediction: str | None = None
    tables: dict[str, str] = Field(default_factory=dict)
    trust: bool = False
    features: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BenchmarkModel:
        if (self.path is None) == (self.prediction is None):
            raise ValueError("every model needs exactly one of path (a saved model file) and prediction (a column of predicted probabilities)")
        if self.tables and self.prediction is None:
            raise ValueError("a model's tables hold its prediction column; give prediction: <column> with tables, or remove tables")
        return self


class BenchmarkSettings(_Strict):
    seed: int = 0
    n_resamples: int = Field(2000, ge=50)
    confidence: float = Field(0.95, gt=0, lt=1)
    threshold: float = Field(0.5, ge=0, le=1)
    ci_method: Literal["bca", "percentile"] = "bca"
    metrics: list[MetricName] = Field(default_factory=lambda: list(DEFAULT_METRICS))
    reference: str | None = None  # default: the first model listed
    multiplicity: Literal["holm", "fdr_bh"] = "holm"
    #: Where the model x dataset cells run (never recorded in benchmark.json, never changing it): ``n_jobs``
    #: local processes (-1: every core), or the Dask distributed scheduler at ``scheduler``.
    n_jobs: int = Field(1, ge=-64, le=1024)
    scheduler: str | None = None

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        return scheduler_address(value)

    @field_validator("n_jobs")
    @classmethod
    def _jobs_not_zero(cls, value: int) -> int:
        return jobs_not_zero(value)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("settings.metrics is empty; list at least one metric, e.g. [auroc, brier]")
        if len(set(value)) != len(value):
            raise ValueError("settings.metrics lists a metric more than once; remove the duplicate")
        return value


class BenchmarkSpec(_Strict):
    """A benchmark: models x datasets, one binary target, paired comparisons with a reference."""

    name: str
    description: str | None = None
    models: dict[str, BenchmarkModel]
    datasets: dict[str, str]
    target: str
    positive_label: str | int | bool | None = None
    id: str | None = None
    settings: BenchmarkSettings = Field(default_factory=BenchmarkSettings)

    @field_validator("positive_label", mode="before")
    @classmethod
    def _scalar_label(cls, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkSpec:
        if len(self.models) < 2:
            raise ValueError(f"a benchmark compares models, but models lists {len(self.models)}; list at least two")
        if not self.datasets:
            raise ValueError("datasets is empty; list at least one dataset as name: path/to/table.csv")
        for name in list(self.models) + list(self.datasets):
            if not str(name).strip():
                raise ValueError("a model or dataset has an empty name; give every model and dataset a name")
        reference = self.settings.reference
        if reference is not None and reference not in self.models:
            close = difflib.get_close_matches(reference, list(self.models), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "set it to one of the models' names"
            raise ValueError(
                f"settings.reference is {reference!r}, which is not one of the models ({', '.join(map(repr, self.models))}); {hint}"
            )
        for model_name, model in self.models.items():
            if model.prediction is not None and model.prediction == self.target:
                raise ValueError(f"model {model_name!r} reads its predictions from the target column {self.target!r}; name the column of predicted probabilities")
            unknown = [d for d in model.tables if d not in self.datasets]
            if unknown:
                raise ValueError(f"model {model_name!r} gives tables for {unknown[0]!r}, which is not one of the datasets ({', '.join(map(repr, self.datasets))}); correct the name")
        return self

    @property
    def reference(self) -> str:
        return self.settings.reference or next(iter(self.models))


def load_benchmark_spec(source: str | os.PathLike | dict | BenchmarkSpec) -> tuple[BenchmarkSpec, Path]:
    """Validate a benchmark spec (YAML path, dict or spec); relative paths resolve against its folder."""
    if isinstance(source, BenchmarkSpec):
        return source, Path.cwd()
    if isinstance(source, dict):
        return _validate(source, "the benchmark spec"), Path.cwd()
    path = Path(source).expanduser()
    raw = read_yaml(path)
    return _validate(raw, path.name), path.resolve().parent


def _validate(raw: dict, source: str) -> BenchmarkSpec:
    try:
        return BenchmarkSpec.model_validate(raw)
    except ValidationError as exc:
        problems = list(dict.fromkeys(_explain_one(error, source) for error in exc.errors()))
    raise problems_error(source, problems) from None


def _explain_one(error: dict, source: str) -> str:
    loc = tuple(error["loc"])
    if error["type"] != "extra_forbidden":
        return explain_error(error, source)
    where = ".".join(str(p) for p in loc)
    valid = _valid_keys(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key {where!r} in {source}; did you mean {close[0]!r}?"
    return f"unknown key {where!r} in {source}; valid keys here are " + ", ".join(valid)


def _valid_keys(parent: tuple) -> list[str]:
    model: type[BaseModel] | None = BenchmarkSpec
    for part in parent:
        if model is None:
            return []
        field_info = model.model_fields.get(str(part))
        if field_info is None:  # a key of a dict of models
            continue
        model = _inner_model(field_info.annotation)
    return list(model.model_fields) if model else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------------------------
# Loading: every model on every dataset, rows matched to the reference's
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One model's predictions on one dataset, rows in the reference model's order."""

    model: str
    dataset: Dataset
    y: np.ndarray
    p: np.ndarray
    ids: np.ndarray | None


def _cell_spec(spec: BenchmarkSpec, model: BenchmarkModel, table: str) -> AuditSpec:
    data = {"test": table, "target": spec.target, "positive_label": spec.positive_label, "id": spec.id,
            "prediction": model.prediction, "features": model.features}
    raw = {"name": spec.name, "data": data}
    if model.path is not None:
        raw["model"] = {"path": model.path, "trust": model.trust}
    try:
        return AuditSpec.model_validate(raw)
    except ValidationError as exc:  # already checked in the benchmark spec; kept as a plain message
        raise AuditInputError(explain_error(exc.errors()[0], "the benchmark spec")) from None


def load_cells(spec: BenchmarkSpec, base_dir: Path, say: Progress) -> dict[str, dict[str, Cell]]:
    """``cells[dataset][model]``; raises ``AuditInputError`` when two models' rows cannot be paired."""
    adapters: dict[str, object] = {}
    cells: dict[str, dict[str, Cell]] = {}
    for d_name, d_path in spec.datasets.items():
        cells[d_name] = {}
        for m_name, model in spec.models.items():
            table = model.tables.get(d_name, d_path)
            cell_spec = _cell_spec(spec, model, table)
            say(f"scoring {d_name} with {m_name}")
            ds = load_dataset(d_name, "internal", table, cell_spec, base_dir)
            if m_name not in adapters:
                adapters[m_name] = load_model(cell_spec, base_dir)
            p = predictions(adapters[m_name], ds, cell_spec)
            ids = None if spec.id is None else ds.frame[spec.id].to_numpy()
            cells[d_name][m_name] = Cell(m_name, ds, np.asarray(ds.y), p, ids)
        cells[d_name] = pair_rows(cells[d_name], spec.reference, d_name, spec.id)
    return cells


def pair_rows(by_model: dict[str, Cell], reference: str, dataset: str, id_column: str | None) -> dict[str, Cell]:
    """Put every model's rows in the reference's order, or refuse to pair (``AuditInputError``)."""
    ref = by_model[reference]
    out = {}
    for name, cell in by_model.items():
        if name == reference:
            out[name] = cell
            continue
        why = f"cannot pair models {reference!r} and {name!r} on dataset {dataset!r}: "
        fix = "paired comparisons need the same patients scored by both models"
        if id_column is not None:
            for who, c in ((reference, ref), (name, cell)):
                if pd.Series(c.ids).duplicated().any():
                    raise AuditInputError(why + f"the identifier column {id_column!r} repeats values in {who!r}'s table ({c.dataset.path}); {fix}, each identifier once.")
            keys_ref, keys = pd.Index(ref.ids), pd.Index(cell.ids)
            missing, extra = keys_ref.difference(keys), keys.difference(keys_ref)
            if len(missing) or len(extra):
                raise AuditInputError(
                    why + f"by {id_column!r}, {len(missing)} of {reference!r}'s patients are not in {name!r}'s table and "
                    f"{len(extra)} of {name!r}'s are not in {reference!r}'s; {fix} — score the same table with both."
                )
            order = keys.get_indexer(keys_ref)
            cell = Cell(name, cell.dataset, cell.y[order], cell.p[order], cell.ids[order])
        elif cell.y.size != ref.y.size:
            raise AuditInputError(
                why + f"their tables have {ref.y.size} and {cell.y.size} rows; {fix} — score the same table with both, "
                "or name a patient identifier column in id so that rows can be matched."
            )
        differ = int(np.sum(cell.y != ref.y))
        if differ:
            raise AuditInputError(
                why + f"the outcome differs in {differ} of {ref.y.size} rows, so these are not the same patients in the same order; "
                f"{fix} — score the same table with both, or name a patient identifier column in id so that rows can be matched."
            )
        out[name] = cell
    return out


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def cell_work(shared: tuple, d_name: str, m_name: str, y: np.ndarray, p_ref: np.ndarray, p: np.ndarray) -> dict:
    """One (dataset, model) cell: its metrics with intervals, and (unless it is the reference) its paired
    comparison with the reference and McNemar's test; a pure function of its arguments (``map_ordered``)."""
    engine, metrics, threshold, reference = shared
    est = cell_metrics(y, p, metrics, engine, threshold, f"benchmark/{d_name}/{m_name}")
    out = {"metrics": {m: e.to_dict() for m, e in est.items()}, "rows": [], "mcnemar": None}
    if m_name != reference:
        out["rows"] = [{"model": m_name, "reference": reference, **row}
                       for row in compare(y, p_ref, p, metrics, engine, threshold, f"benchmark/{d_name}/{reference}-vs-{m_name}")]
        mc = mcnemar_test(y, p_ref, p, threshold)
        out["mcnemar"] = {"model": m_name, "reference": reference, "n": mc.n, "only_reference_correct": mc.n01,
                          "only_model_correct": mc.n10, "accuracy_difference": _num(mc.accuracy_difference),
                          "p_exact": mc.p_exact, "p_midp": mc.p_midp}
    return out


def cell_metrics(y: np.ndarray, p: np.ndarray, metrics: list[str], engine: ResamplingEngine, threshold: float, stream: str) -> dict[str, Estimate]:
    """The performance check's estimates for one cell, by the same rules (``audit.stats.intervals``):
    logit-DeLong AUROC, Wilson/exact proportions, the patient bootstrap (a cohort) for the rest."""
    n = int(y.size)
    names = tuple(metrics)
    boot = engine.bootstrap(BinaryMetrics(y, p, threshold, names), None, stream)
    column = {m: j for j, m in enumerate(names)}
    rules = IntervalRules(engine.confidence)
    return cell_estimates(y, p, threshold, names, lambda m: boot.estimate_at(column[m], n), rules)


def compare(y: np.ndarray, p_ref: np.ndarray, p: np.ndarray, metrics: list[str], engine: ResamplingEngine, threshold: float, stream: str) -> list[dict]:
    """Paired differences model − reference for each metric, with unadjusted p-values."""
    rows: dict[str, dict] = {}
    boot_names = tuple(m for m in metrics if m != "auroc")
    if "auroc" in metrics:
        try:
            d = delong_paired(y, p_ref, p, engine.confidence)
            rows["auroc"] = _row("auroc", d.auroc_a, d.auroc_b, d.difference, d.p_value)
        except ValueError:
            boot_names = ("auroc",) + boot_names
    for m in [m for m in boot_names if m in PAIRED_PROPORTIONS]:
        d = paired_proportion(m, y, p_ref, p, threshold, engine.confidence)
        rows[m] = _row(m, d.value_a, d.value_b, d.difference, d.p_value)
    boot_names = tuple(m for m in boot_names if m not in PAIRED_PROPORTIONS)
    if boot_names:
        diffs, _ = paired_bootstrap(y, p_ref, p, engine, stream, threshold, boot_names)
        for m, d in diffs.items():
            rows[m] = _row(m, d.value_a, d.value_b, d.difference, d.p_value)
    return [rows[m] for m in metrics]


def _row(metric: str, ref_value: float, value: float, diff: Estimate, p_value: float | None) -> dict:
    return {
        "metric": metric,
        "reference_value": _num(ref_value),
        "model_value": _num(value),
        "difference": diff.to_dict(),
        "p_value": _num(p_value),
        "p_adjusted": None,
        "significant": False,
    }


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _adjust(rows: list[dict], method: str, alpha: float) -> None:
    family = [r for r in rows if r["p_value"] is not None]
    if not family:
        return
    reject, adjusted, _, _ = multipletests([r["p_value"] for r in family], alpha=alpha, method=method)
    for r, rej, adj in zip(family, reject, adjusted):
        r["p_adjusted"], r["significant"] = float(adj), bool(rej)


def _rank(board: list[dict], metric: str) -> list[dict]:
    """Order a leaderboard by ``metric`` (best first; undefined last; ties by listing order)."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(item):
        i, row = item
        v = row["metrics"][metric]["value"]
        return (v is None, sign * v if v is not None else 0.0, i)

    ordered = [row for _, row in sorted(enumerate(board), key=key)]
    for k, row in enumerate(ordered, 1):
        row["rank"] = k
    return ordered


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


@dataclass
class BenchmarkResult:
    """What a benchmark produced; ``results`` is exactly benchmark.json."""

    results: dict
    figures: dict[str, Figure] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_html(self) -> str:
        return render_html(self.results, self.figures)

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``benchmark.json`` and ``benchmark.html`` atomically into ``out_dir``."""
        return write_atomically(Path(out_dir), {"benchmark.json": self.to_json(), "benchmark.html": self.to_html()})


def run_benchmark(source: str | os.PathLike | dict | BenchmarkSpec, progress: Progress | None = None) -> BenchmarkResult:
    """Run the benchmark a spec describes (see the module docstring). Bad input raises ``AuditInputError``."""
    spec, base_dir = load_benchmark_spec(source)
    return run_loaded(spec, base_dir, progress)


#: Settings that say where the work runs, not what it computes: left out of benchmark.json.
EXECUTION_SETTINGS = frozenset({"n_jobs", "scheduler"})


def run_loaded(spec: BenchmarkSpec, base_dir: Path, progress: Progress | None = None) -> BenchmarkResult:
    """Every (dataset, model) cell's metrics and paired comparison, computed independently — serially, on
    ``settings.n_jobs`` local processes or on the Dask cluster at ``settings.scheduler`` — then assembled in
    the spec's order, so benchmark.json is byte-identical wherever the cells ran."""
    from .stats.parallel import map_ordered

    say = progress or (lambda step: None)
    settings = spec.settings
    cells = load_cells(spec, base_dir, say)
    engine = ResamplingEngine(settings.seed, settings.n_resamples, settings.confidence, settings.ci_method)
    reference, metrics = spec.reference, list(settings.metrics)
    level = f"{settings.confidence:.0%}"

    tasks = [(d_name, m_name, by_model[reference].y, by_model[reference].p, cell.p)
             for d_name, by_model in cells.items() for m_name, cell in by_model.items()]
    shared = (engine, metrics, settings.threshold, reference)
    done = {}
    for (d_name, m_name, *_), outcome in zip(tasks, map_ordered(cell_work, shared, tasks, settings.n_jobs, settings.scheduler)):
        say(f"cell {len(done) + 1} of {len(tasks)}: {m_name} on {d_name}")
        done[d_name, m_name] = outcome

    datasets, leaderboard, comparisons, findings = {}, {}, {}, []
    for d_name, by_model in cells.items():
        ref = by_model[reference]
        y = ref.y
        n, events = int(y.size), int(y.sum())
        datasets[d_name] = {"path": ref.dataset.path, "sha256": ref.dataset.sha256, "n": n, "n_events": events,
                            "prevalence": proportion(events, n, settings.confidence).to_dict()}
        if min(events, n - events) < MIN_EVENTS:
            findings.append(Finding("benchmark", "warning", f"{d_name} has only {min(events, n - events)} "
                                    f"{'events' if events <= n - events else 'non-events'}; at least {MIN_EVENTS} are recommended "
                                    "to compare models precisely (Collins et al., Stat Med 2016), so expect wide intervals.", d_name))
        board = [{"model": m_name, "rank": None, "metrics": done[d_name, m_name]["metrics"]} for m_name in by_model]
        leaderboard[d_name] = _rank(board, metrics[0])
        rows = [r for m_name in by_model if m_name != reference for r in done[d_name, m_name]["rows"]]
        tests = [done[d_name, m_name]["mcnemar"] for m_name in by_model if m_name != reference]
        _adjust(rows, settings.multiplicity, 1 - settings.confidence)
        comparisons[d_name] = {"reference": reference, "rows": rows, "mcnemar": tests}
        findings += comparison_findings(d_name, rows, settings.multiplicity, level)

    results = {
        "schema": SCHEMA,
        "trustaudit_version": package_versions(("trustaudit",))["trustaudit"],
        "spec": spec.model_dump(mode="json", exclude={"settings": set(EXECUTION_SETTINGS)}),
        "provenance": _provenance(spec, base_dir, cells),
        "datasets": datasets,
        "models": {name: _model_summary(model) for name, model in spec.models.items()},
        "leaderboard": leaderboard,
        "comparisons": comparisons,
        "findings": [f.to_dict() for f in sorted(findings, key=lambda f: {"error": 0, "warning": 1, "info": 2}[f.severity])],
    }
    say("drawing the forest plot")
    figures = {"differences": difference_forest(comparisons, metrics, settings.confidence)}
    return BenchmarkResult(results, figures)


def comparison_findings(dataset: str, rows: list[dict], multiplicity: str, level: str) -> list[Finding]:
    """One plain sentence per difference that stays significant after adjustment; else one that says so."""
    method = {"holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}[multiplicity]
    out = []
    for r in rows:
        d = r["difference"]
        if not r["significant"] or d["value"] is None or d["ci"] is None:
            continue
        word = "higher" if d["value"] > 0 else "lower"
        label = metric_label(r["metric"])
        label = label[0].lower() + label[1:] if label[1:2].islower() else label  # "accuracy", but "AUROC"
        better = (d["value"] < 0) == (r["metric"] in LOWER_IS_BETTER)
        out.append(Finding("benchmark", "info", (
            f"On {dataset}, {label} of {r['model']} is {abs(d['value']):.3f} {word} than of the reference "
            f"{r['reference']} ({r['model_value']:.3f} vs {r['reference_value']:.3f}; paired difference {level} CI "
            f"{d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}; {method}-adjusted p = {r['p_adjusted']:.2g}): "
            f"{r['model']} is {'better' if better else 'worse'} on this metric."), dataset))
    if rows and not out:
        out.append(Finding("benchmark", "info", (
            f"On {dataset}, no model differs from the reference {rows[0]['reference']} on any metric after "
            f"{method} adjustment; the paired intervals are the evidence for how large a difference could still be."), dataset))
    return out


def _model_summary(model: BenchmarkModel) -> dict:
    if model.path is not None:
        return {"source": "model file", "path": model.path}
    return {"source": "prediction column", "column": model.prediction, "tables": dict(model.tables)}


def _provenance(spec: BenchmarkSpec, base_dir: Path, cells: dict[str, dict[str, Cell]]) -> dict:
    from .data import sha256_file

    files: dict[str, dict] = {}
    for d_name, by_model in cells.items():
        for m_name, cell in by_model.items():
            key = f"data:{d_name}" if cell.dataset.path == by_model[spec.reference].dataset.path else f"data:{d_name}:{m_name}"
            files.setdefault(key, {"path": cell.dataset.path, "sha256": cell.dataset.sha256})
    for m_name, model in spec.models.items():
        if model.path is not None:
            files[f"model:{m_name}"] = {"path": model.path, "sha256": sha256_file(resolve(base_dir, model.path))}
    return environment(spec.settings, files)


# --------------------------------------------------------------------------------------------
# Figure: forest plot of the paired differences
# --------------------------------------------------------------------------------------------


def difference_forest(comparisons: dict, metrics: list[str], confidence: float) -> Figure:
    """One panel per metric; one row per (dataset, model vs reference); a dot and its CI; 0 dashed."""
    labels = [(d, r) for d, comp in comparisons.items() for r in dict.fromkeys(row["model"] for row in comp["rows"])]
    lookup = {(d, row["model"], row["metric"]): row for d, comp in comparisons.items() for row in comp["rows"]}
    level = f"{round(confidence * 100, 6):g}%"
    n_rows = max(1, len(labels))
    ncols = min(len(metrics), 3)
    nrows = math.ceil(len(metrics) / ncols)
    panel_w, row_h, label_w = 2.4, 0.32, 2.2
    with matplotlib.rc_context(RC):
        width, height = label_w + ncols * (panel_w + 0.3), nrows * (n_rows * row_h + 0.9) + 0.7
        fig = _MplFigure(figsize=(width, height))
        grid = fig.add_gridspec(nrows, ncols, left=label_w / width, right=0.98, top=1 - 0.75 / height, bottom=0.45 / height,
                                hspace=0.9, wspace=0.15)
        for k, metric in enumerate(metrics):
            ax = fig.add_subplot(grid[k // ncols, k % ncols])
            ax.axvline(0, color="#777777", linestyle=(0, (4, 3)), linewidth=0.9)
            for i, (d, model) in enumerate(labels):
                row = lookup.get((d, model, metric))
                est = (row or {}).get("difference") or {}
                y_pos = -i
                if est.get("value") is None:
                    ax.text(0, y_pos, "n/a", ha="center", va="center", color="#777777", fontsize=7, parse_math=False)
                    continue
                colour = plots.OKABE_ITO[1] if row["significant"] else plots.OKABE_ITO[0]
                if est.get("ci"):
                    ax.plot(est["ci"], [y_pos, y_pos], color=colour, linewidth=1.4)
                ax.plot([est["value"]], [y_pos], marker="o" if row["significant"] else "s", color=colour, markersize=4.5)
            ax.set_ylim(-(n_rows - 1) - 0.6, 0.6)
            ax.set_title(f"{SHORT_METRIC_LABELS.get(metric, metric)}", fontsize=9)
            ax.set_yticks([-i for i in range(len(labels))])
            if k % ncols == 0:
                ax.set_yticklabels([f"{d}: {m} − {comparisons[d]['reference']}" for d, m in labels])
            else:
                ax.set_yticklabels([])
            ax.tick_params(axis="x", labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.grid(axis="x", color="#dddddd", linewidth=0.5)
        fig.legend(handles=[
            Line2D([], [], color=plots.OKABE_ITO[1], marker="o", markersize=4.5, linewidth=1.4, label=f"significant after adjustment ({level} CI)"),
            Line2D([], [], color=plots.OKABE_ITO[0], marker="s", markersize=4.5, linewidth=1.4, label=f"not significant ({level} CI)"),
            Line2D([], [], color="#777777", linestyle=(0, (4, 3)), linewidth=0.9, label="no difference"),
        ], loc="upper left", ncols=3, frameon=False, fontsize=8, bbox_to_anchor=(0.0, 1.0))
        svg = plots.figure_to_svg(fig)
    alt = (f"Forest plot of paired differences (model minus reference model) with {level} confidence intervals, "
           f"one panel per metric ({', '.join(metric_label(m) for m in metrics)}), one row per dataset and model: "
           + "; ".join(f"{d}: {m}" for d, m in labels)
           + ". A dashed vertical line marks no difference; differences that stay significant after adjustment are drawn as orange dots, the others as blue squares.")
    return Figure(svg=svg, alt=alt, title="Paired differences from the reference model")


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def render_html(results: dict, figures: dict[str, Figure]) -> str:
    """benchmark.json + figures → one self-contained page. Rendering computes nothing."""
    from .report import make_environment
    from .resources import resource_dir

    env = make_environment()
    css = (resource_dir("reports") / STYLESHEET).read_text(encoding="utf-8")
    if "</style" in css.lower():
        raise RuntimeError(f"{STYLESHEET} must not contain '</style'")
    spec = results["spec"]
    settings = spec["settings"]
    metrics = list(settings["metrics"])
    return env.get_template(TEMPLATE).render(
        css=Markup(css),
        name=spec["name"],
        description=spec.get("description"),
        version=results.get("trustaudit_version"),
        target=spec["target"],
        settings=settings,
        reference=results["comparisons"][next(iter(results["comparisons"]))]["reference"] if results["comparisons"] else None,
        metrics=metrics,
        lower_is_better=sorted(LOWER_IS_BETTER & set(metrics)),
        datasets=results["datasets"],
        models=results["models"],
        leaderboard=results["leaderboard"],
        comparisons=results["comparisons"],
        findings=results["findings"],
        figures=list(figures.values()),
        provenance=results["provenance"],
        multiplicity={"holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}[settings["multiplicity"]],
    )
