"""results.json + figures → one self-contained HTML report.

Rendering never computes. :func:`render_html` arranges what is already in ``results`` into a
small view (ordered findings, which sections to show in full, footnotes for CI methods) and
the Jinja2 template in ``reports/`` lays it out; numbers are formatted by the filters below.

The HTML refers to nothing outside itself: the stylesheet is inlined in a ``<style>`` tag, and
figures are ``<img>`` tags with base64 ``data:image/svg+xml`` URIs (an SVG shown through
``<img>`` cannot run script). A Content-Security-Policy meta tag forbids everything else.
Every value that comes from the user — spec name, dataset and column names, paths, finding
messages — goes through Jinja2's autoescaping; nothing user-supplied is marked safe.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from audit.checks.base import Figure
from audit.resources import resource_dir

__all__ = [
    "render_html",
    "make_environment",
    "fmt_estimate",
    "fmt_num",
    "fmt_pct",
    "fmt_level",
    "fmt_int",
    "short_hash",
    "svg_data_uri",
    "method_label",
    "metric_label",
]

TEMPLATE = "report.html.j2"
STYLESHEET = "style.css"

DASH = "—"

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

STATUSES = ("pass", "warning", "fail", "insufficient evidence", "not run")

METRIC_LABELS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "ppv": "PPV (precision)",
    "npv": "NPV",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1 score",
    "brier": "Brier score",
    "calibration_intercept": "Calibration intercept",
    "calibration_slope": "Calibration slope",
    "ece": "Expected calibration error",
    "coverage": "Coverage",
    "mean_set_size": "Mean prediction-set size",
}

#: Which direction is better, for the "better" column; metrics not listed show nothing.
METRIC_BETTER = {
    "auroc": "higher",
    "auprc": "higher",
    "sensitivity": "higher",
    "specificity": "higher",
    "ppv": "higher",
    "npv": "higher",
    "accuracy": "higher",
    "balanced_accuracy": "higher",
    "f1": "higher",
    "brier": "lower",
    "calibration_intercept": "closer to 0",
    "calibration_slope": "closer to 1",
    "ece": "lower",
    "mean_set_size": "lower",
}

METHOD_LABELS = {
    "delong": "DeLong's method for the variance of the AUROC (DeLong et al., 1988)",
    "bootstrap-bca": "bias-corrected and accelerated (BCa) bootstrap",
    "bca": "bias-corrected and accelerated (BCa) bootstrap",
    "bootstrap-percentile": "percentile bootstrap",
    "percentile": "percentile bootstrap",
    "wilson": "Wilson score interval",
    "clopper-pearson": "Clopper–Pearson exact interval",
}

#: Short methods for the one-paragraph summary (``settings.ci_method`` is a bare name).
METHOD_SHORT = {
    "delong": "DeLong",
    "bootstrap-bca": "BCa bootstrap",
    "bca": "BCa bootstrap",
    "bootstrap-percentile": "percentile bootstrap",
    "percentile": "percentile bootstrap",
    "wilson": "Wilson",
    "clopper-pearson": "Clopper–Pearson",
}

#: One-sentence "how to read this" per known section; other sections get none.
SECTION_INTROS = {
    "performance": (
        "Each cell shows the point estimate followed by its {level} confidence interval in "
        "brackets, the range of values compatible with the data; wider intervals mean less "
        "certainty, and a difference between datasets matters only if it is larger than the "
        "intervals. AUROC 0.5 is chance and 1 is perfect discrimination; for the Brier score "
        "lower is better."
    ),
}

THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy", "f1")

_FOOTNOTE_MARKS = "abcdefghijklmnopqrstuvwxyz"


# ------------------------------------------------------------------------------ filters


def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def fmt_num(x: Any, digits: int = 3) -> str:
    """``0.71234`` → ``"0.712"``; ``None``/NaN → ``"—"``."""
    value = _finite(x)
    return DASH if value is None else f"{value:.{digits}f}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A proportion as a percentage: ``0.42`` → ``"42.0%"``; ``None`` → ``"—"``."""
    value = _finite(x)
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def fmt_level(x: Any) -> str:
    """A confidence level without needless digits: ``0.95`` → ``"95%"``, ``0.975`` → ``"97.5%"``."""
    value = _finite(x)
    return DASH if value is None else f"{round(value * 100, 6):g}%"


def fmt_int(x: Any) -> str:
    """A count with thousands separators: ``1234`` → ``"1,234"``."""
    value = _finite(x)
    return DASH if value is None else f"{int(round(value)):,}"


def fmt_plain(x: Any) -> str:
    """A setting as the user wrote it: ``0.5`` → ``"0.5"``, ``2000`` → ``"2000"``."""
    if x is None:
        return DASH
    if isinstance(x, float):
        return f"{x:g}" if math.isfinite(x) else DASH
    return str(x)


def _ci(estimate: Mapping) -> tuple[float, float] | None:
    ci = estimate.get("ci")
    if not ci or len(ci) != 2:
        return None
    lo, hi = _finite(ci[0]), _finite(ci[1])
    return None if lo is None or hi is None else (lo, hi)


def fmt_estimate(estimate: Any, digits: int = 3, pct: bool = False) -> str:
    """``{"value": 0.712, "ci": [0.668, 0.753], ...}`` → ``"0.712 (0.668–0.753)"``.

    A ``null`` value gives ``"—"``; a value without an interval gives ``"0.712 (no CI)"``.
    With ``pct=True`` proportions are shown as percentages: ``"42.0% (38.0–46.0%)"``.
    Plain numbers are accepted and shown without an interval.
    """
    if isinstance(estimate, Mapping):
        value, ci = _finite(estimate.get("value")), _ci(estimate)
    else:
        value, ci = _finite(estimate), None
        if value is not None:
            return fmt_pct(value, digits) if pct else fmt_num(value, digits)
    if value is None:
        return DASH
    if pct:
        point = fmt_pct(value, digits)
        return f"{point} (no CI)" if ci is None else f"{point} ({ci[0] * 100:.{digits}f}–{fmt_pct(ci[1], digits)})"
    point = fmt_num(value, digits)
    return f"{point} (no CI)" if ci is None else f"{point} ({fmt_num(ci[0], digits)}–{fmt_num(ci[1], digits)})"


def short_hash(sha: Any, length: int = 12) -> str:
    """The first ``length`` hex digits of a hash followed by an ellipsis; ``"—"`` when absent."""
    if not sha:
        return DASH
    sha = str(sha)
    return sha if len(sha) <= length else sha[:length] + "…"


def svg_data_uri(figure: Figure | str) -> str:
    """An SVG (a :class:`Figure` or the SVG text) as a ``data:image/svg+xml;base64,`` URI."""
    svg = figure.svg if isinstance(figure, Figure) else figure
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def method_label(method: Any) -> str:
    """``"bootstrap-bca"`` → ``"bias-corrected and accelerated (BCa) bootstrap"``."""
    if not method:
        return "method not recorded"
    return METHOD_LABELS.get(str(method).lower(), str(method))


def method_short(method: Any) -> str:
    if not method:
        return DASH
    return METHOD_SHORT.get(str(method).lower(), str(method))


def metric_label(name: Any) -> str:
    """``"balanced_accuracy"`` → ``"Balanced accuracy"``; known acronyms kept (``"AUROC"``)."""
    name = str(name)
    return METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


FILTERS = {
    "fmt_estimate": fmt_estimate,
    "fmt_num": fmt_num,
    "fmt_pct": fmt_pct,
    "fmt_level": fmt_level,
    "fmt_int": fmt_int,
    "fmt_plain": fmt_plain,
    "short_hash": short_hash,
    "svg_data_uri": svg_data_uri,
    "method_label": method_label,
    "method_short": method_short,
    "metric_label": metric_label,
}


# --------------------------------------------------------------------------- rendering


def make_environment() -> Environment:
    """The Jinja2 environment for the report templates, with autoescaping and our filters."""
    env = Environment(
        loader=FileSystemLoader(resource_dir("reports")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render_html(results: Mapping, figures: Mapping[str, Mapping[str, Figure]] | None = None) -> str:
    """Render ``results`` (the results.json dict) and the check figures as one HTML page.

    ``figures`` maps section name → figure key → :class:`Figure`
    (e.g. ``figures["performance"]["roc"]``). The returned HTML is self-contained.
    """
    env = make_environment()
    css = (resource_dir("reports") / STYLESHEET).read_text(encoding="utf-8")
    if "</style" in css.lower():  # our own file, but never let it close the tag early
        raise RuntimeError(f"{STYLESHEET} must not contain '</style'")
    view = build_view(results, figures or {})
    return env.get_template(TEMPLATE).render(css=Markup(css), **view)


def build_view(results: Mapping, figures: Mapping[str, Mapping[str, Figure]]) -> dict:
    """Arrange ``results`` for the template: no numbers are computed, only order and lookup."""
    spec = dict(results.get("spec") or {})
    settings = dict(spec.get("settings") or {})
    provenance = dict(results.get("provenance") or {})
    data_spec = dict(spec.get("data") or {})
    model = spec.get("model") or None

    datasets = [_dataset_view(name, ds) for name, ds in (results.get("datasets") or {}).items()]

    findings = sorted(
        (_finding_view(f) for f in results.get("findings") or []),
        key=lambda f: SEVERITY_ORDER.get(f["severity"], len(SEVERITY_ORDER)),
    )

    anchors = _Anchors({"top", "summary", "datasets", "not-run", "provenance", "contents"})
    sections, not_run = [], []
    for name, section in (results.get("sections") or {}).items():
        view = _section_view(name, section or {}, figures.get(name) or {}, findings, settings, anchors)
        (not_run if view["status"] == "not run" else sections).append(view)

    toc = [("summary", "Summary"), ("datasets", "Datasets")]
    toc += [(s["anchor"], s["title"]) for s in sections]
    if not_run:
        toc.append(("not-run", "Checks not run"))
    toc.append(("provenance", "Provenance"))

    confidence = settings.get("confidence", provenance.get("confidence"))
    ci_method = settings.get("ci_method", provenance.get("ci_method"))
    return {
        "name": spec.get("name") or "Untitled audit",
        "description": spec.get("description"),
        "intended_use": spec.get("intended_use"),
        "schema": results.get("schema"),
        "version": results.get("trustaudit_version") or provenance.get("trustaudit"),
        "model_path": (model or {}).get("path") if isinstance(model, Mapping) else None,
        "prediction_column": data_spec.get("prediction"),
        "target": data_spec.get("target"),
        "sensitive": list(data_spec.get("sensitive") or []),
        "internal": [d for d in datasets if d["role"] == "internal"],
        "external": [d for d in datasets if d["role"] != "internal"],
        "datasets": datasets,
        "seed": settings.get("seed", provenance.get("seed")),
        "n_resamples": settings.get("n_resamples", provenance.get("n_resamples")),
        "confidence": confidence,
        "ci_method": ci_method,
        "other_methods": _other_methods(sections, ci_method),
        "threshold": settings.get("threshold"),
        "summary_rows": [
            {
                "title": s["title"],
                "anchor": s["anchor"],
                "status": s["status"],
                "status_class": s["status_class"],
                "n_findings": len(s["findings"]),
                "reason": s["reason"],
            }
            for s in sections + not_run
        ],
        "findings": findings,
        "sections": sections,
        "not_run": not_run,
        "toc": toc,
        "provenance": _provenance_view(provenance),
        "spec_path": spec.get("path") or spec.get("source"),
        "statuses": STATUSES,
    }


class _Anchors:
    """Unique, URL-safe ``id`` values derived from section names."""

    def __init__(self, reserved: set[str]):
        self.used = set(reserved)

    def __call__(self, name: str) -> str:
        base = "section-" + (re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "x")
        anchor, i = base, 2
        while anchor in self.used:
            anchor, i = f"{base}-{i}", i + 1
        self.used.add(anchor)
        return anchor


def _status_class(status: Any) -> str:
    status = str(status)
    return "status-" + re.sub(r"[^a-z]+", "-", status.lower()).strip("-") if status in STATUSES else "status-unknown"


def _finding_view(finding: Mapping) -> dict:
    severity = str(finding.get("severity") or "info")
    known = severity in SEVERITY_ORDER
    return {
        "item_class": "finding-" + severity if known else "finding-unknown",
        "check": finding.get("check"),
        "severity": severity,
        "severity_class": "severity-" + severity if known else "severity-unknown",
        "dataset": finding.get("dataset"),
        "message": finding.get("message") or "",
    }


def _dataset_view(name: str, ds: Mapping) -> dict:
    return {
        "name": name,
        "role": ds.get("role") or DASH,
        "path": ds.get("path"),
        "sha256": ds.get("sha256"),
        "n": ds.get("n"),
        "n_events": ds.get("n_events"),
        "prevalence": ds.get("prevalence"),
    }


def _section_view(name, section, section_figures, findings, settings, anchors) -> dict:
    status = str(section.get("status") or "not run")
    title = section.get("title") or str(name).replace("_", " ").capitalize()
    confidence = section.get("confidence", settings.get("confidence"))
    intro = SECTION_INTROS.get(name)
    if intro:
        intro = intro.format(level=fmt_level(confidence) if confidence is not None else "")
    table = _metrics_table(section)
    threshold = section.get("threshold")
    threshold_metrics = [m for m in THRESHOLD_METRICS if table and m in table["metrics"]]
    return {
        "name": name,
        "title": title,
        "anchor": anchors(name),
        "status": status,
        "status_class": _status_class(status),
        "reason": section.get("reason"),
        "intro": intro,
        "evidence": list(section.get("evidence") or []),
        "confidence": confidence,
        "threshold": threshold,
        "threshold_metrics": threshold_metrics,
        "table": table,
        "figures": [fig for fig in section_figures.values() if isinstance(fig, Figure)],
        "findings": [f for f in findings if f["check"] == name],
    }


def _metrics_table(section: Mapping) -> dict | None:
    """Rows = metrics, columns = datasets, for a section with ``datasets.<name>.metrics``."""
    per_dataset = section.get("datasets")
    if not isinstance(per_dataset, Mapping):
        return None
    columns = [name for name, d in per_dataset.items() if isinstance(d, Mapping) and isinstance(d.get("metrics"), Mapping)]
    if not columns:
        return None
    metrics = list(section.get("metrics") or [])
    for name in columns:  # metrics a dataset has that the list does not name, in order seen
        metrics += [m for m in per_dataset[name]["metrics"] if m not in metrics]

    marks: dict[str, str] = {}  # CI method → footnote mark, in order of first use
    rows = []
    for metric in metrics:
        cells, row_marks = [], []
        for name in columns:
            estimate = per_dataset[name]["metrics"].get(metric)
            method = estimate.get("method") if isinstance(estimate, Mapping) else None
            if method:
                mark = marks.setdefault(str(method), _FOOTNOTE_MARKS[len(marks) % len(_FOOTNOTE_MARKS)])
                if mark not in row_marks:
                    row_marks.append(mark)
            cells.append({
                "estimate": estimate,
                "n": estimate.get("n") if isinstance(estimate, Mapping) else None,
                "method": method,
            })
        rows.append({
            "metric": metric,
            "better": METRIC_BETTER.get(metric),
            "marks": row_marks,
            "cells": cells,
        })
    footnotes = [
        {"mark": mark, "method": method, "metrics": [r["metric"] for r in rows if mark in r["marks"]]}
        for method, mark in marks.items()
    ]
    return {"columns": columns, "metrics": metrics, "rows": rows, "footnotes": footnotes}


def _other_methods(sections: list[dict], ci_method: Any) -> list[dict]:
    """CI methods used in the tables besides the configured one, with the metrics using them.

    Lets the summary say "BCa bootstrap (DeLong's method for the AUROC)" only when it is true.
    """
    default = method_short(ci_method)
    found: dict[str, list[str]] = {}
    for section in sections:
        for fn in (section["table"] or {}).get("footnotes", []):
            short = method_short(fn["method"])
            if short != default:
                metrics = found.setdefault(short, [])
                metrics += [m for m in fn["metrics"] if m not in metrics]
    return [{"method": k, "metrics": v} for k, v in found.items()]


def _provenance_view(provenance: Mapping) -> dict:
    files = []
    for key, entry in (provenance.get("files") or {}).items():
        entry = entry if isinstance(entry, Mapping) else {"path": entry}
        files.append({"key": key, "path": entry.get("path"), "sha256": entry.get("sha256")})
    return {
        "trustaudit": provenance.get("trustaudit"),
        "python": provenance.get("python"),
        "platform": provenance.get("platform"),
        "packages": sorted((provenance.get("packages") or {}).items()),
        "files": files,
        "extra": {
            k: v
            for k, v in provenance.items()
            if k not in {"trustaudit", "python", "platform", "packages", "files", "seed", "n_resamples",
                         "confidence", "ci_method"}
            and isinstance(v, (str, int, float, bool))
        },
    }
