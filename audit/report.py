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

from audit.checklist import section_states
from audit.figure import Figure
from audit.numbers import finite_or_none
from audit.labels import METRIC_BETTER, METRIC_LABELS, METRICS_BY_NAME, SEVERITY_ORDER
from audit.labels import metric_label as labels_metric_label
from audit.resources import resource_dir
from audit.views import ViewContext, section_view
from audit.views.checklists import build_checklists
from audit.views.summary import TOP_FINDINGS, key_numbers

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
    "fmt_p",
    "estimate_parts",
]

TEMPLATE = "report.html.j2"
STYLESHEET = "style.css"
PRINT_STYLESHEET = "print.css"

DASH = "—"


STATUSES = ("pass", "warning", "fail", "inconclusive", "insufficient evidence", "not run")

METHOD_LABELS = {
    "delong": "DeLong's method for the variance of the AUROC (DeLong et al., 1988)",
    "bootstrap-bca": "bias-corrected and accelerated (BCa) bootstrap",
    "bca": "bias-corrected and accelerated (BCa) bootstrap",
    "bootstrap-percentile": "percentile bootstrap",
    "percentile": "percentile bootstrap",
    "wilson": "Wilson score interval",
    "clopper-pearson": "Clopper–Pearson exact interval",
    "wald-glm": "Wald interval of a logistic recalibration model (statsmodels GLM)",
    "log-wald": "Wald interval on the log scale (Debray et al., BMJ 2017)",
    "point-estimate": "no interval: the bootstrap of a binned ECE is dominated by its upward bias",
    "profile-likelihood": "profile-likelihood interval of a logistic recalibration model",
    "delong-unpaired": "DeLong's variance for two independent samples",
    "bootstrap-percentile-independent": "percentile interval of independent bootstraps of the two samples",
    "wald": "Wald interval",
    "random-effects": "random-effects meta-analysis (Paule–Mandel)",
    "delong-paired": "DeLong's test for two correlated ROC curves (paired)",
    "delong-logit": "DeLong's variance on the logit scale (DeLong et al., 1988; Pepe, 2003)",
    "newcombe-score": "Newcombe's score interval for the AUROC (Newcombe, 2006)",
    "newcombe-score-one-sided": "one-sided bound from Newcombe's score interval for the AUROC (perfect separation)",
    "newcombe-score-one-sided-clusters": "one-sided bound from Newcombe's score interval, clusters as units (perfect separation)",
    "max-t-bootstrap": "simultaneous interval from the single-step max-T bootstrap (Westfall & Young, 1993)",
    "bayes-logit": "Bayes' theorem from sensitivity, specificity and the stated prevalence, logit interval (Mercaldo et al., 2007)",
    "cluster-bootstrap-bca": "cluster bootstrap (whole patients resampled), BCa",
    "cluster-bootstrap-percentile": "cluster bootstrap (whole patients resampled), percentile",
    "clopper-pearson-clusters": "Clopper–Pearson exact interval over clusters (every resample gave the same value)",
    "case-control": "not estimable under case-control sampling",
    "clopper-pearson-treated": "bounds from the Clopper–Pearson upper limit of the share treated (nobody is treated at this threshold)",
    "wald-glm-cluster": "Wald interval of a logistic recalibration model with cluster-robust standard errors",
    "log-wald-cluster": "Wald interval on the log scale with a cluster-robust standard error",
    "newcombe-paired": "Newcombe's score interval for paired proportions (method 10, 1998)",
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
    "wald-glm": "Wald (GLM)",
    "log-wald": "log-scale Wald",
    "point-estimate": "no interval",
    "profile-likelihood": "profile likelihood",
    "delong-unpaired": "DeLong, unpaired",
    "delong-paired": "DeLong (paired)",
    "bootstrap-percentile-independent": "independent bootstraps",
    "wald": "Wald",
    "random-effects": "random effects",
    "delong-logit": "logit DeLong",
    "newcombe-score": "Newcombe score",
    "newcombe-score-one-sided": "one-sided Newcombe",
    "newcombe-score-one-sided-clusters": "one-sided Newcombe (clusters)",
    "max-t-bootstrap": "simultaneous max-T",
    "bayes-logit": "Bayes (logit)",
    "cluster-bootstrap-bca": "cluster bootstrap",
    "cluster-bootstrap-percentile": "cluster bootstrap",
    "clopper-pearson-clusters": "Clopper–Pearson (clusters)",
    "case-control": "not estimable",
    "clopper-pearson-treated": "Clopper–Pearson (none treated)",
    "wald-glm-cluster": "Wald (GLM, clustered)",
    "log-wald-cluster": "log-scale Wald (clustered)",
    "newcombe-paired": "Newcombe, paired",
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
    "external": (
        "For each external dataset the first table puts the internal and external estimates side by "
        "side with the difference external minus internal and its {level} interval (AUROC by DeLong "
        "for independent samples, other discrimination metrics by independent bootstraps, "
        "calibration intercept and slope by Wald): an interval that excludes 0 is a real change. "
        "The tables below say why: label shift (prevalence), prediction shift, covariate shift (a "
        "classifier that tries to tell the datasets apart, the features it uses, and per-feature "
        "distances), and how much of the loss recalibration recovers. With several sites, a "
        "random-effects meta-analysis pools them and shows how much they differ."
    ),
    "utility": (
        "A decision curve asks whether using the model to decide whom to treat does more good than "
        "harm, compared with treating everyone or no one. Net benefit counts true positives minus "
        "false positives weighted by the odds of the threshold probability (the risk at which a "
        "clinician would treat); the model is useful at thresholds where its curve lies above both "
        "defaults. Bands are {level} intervals."
    ),
    "profile": (
        "What each dataset holds before any model is judged: size, events and prevalence, "
        "missing values per column, the make-up of each sensitive attribute and numeric summaries. "
        "When an identifier column is named, patients found in two datasets (or in the training "
        "data) are listed as leakage: such a validation overstates performance."
    ),
    "calibration": (
        "Calibration asks whether a predicted risk of 30% means 30 in 100 such patients have the "
        "outcome. Calibration-in-the-large (intercept) should be 0: negative means predicted risks "
        "are too high on average. The calibration slope should be 1: below 1 means predictions are "
        "too extreme (typical of overfitting or a new case mix). Each estimate comes with its {level} "
        "interval; in the reliability diagram the curve should follow the diagonal."
    ),
}

#: Intros of a task's own sections (``<check>/<task>``), where the check's general intro would mislead.
SECTION_INTROS |= {
    "performance/survival": (
        "Each cell shows the point estimate and its {level} confidence interval. Harrell's and Uno's C "
        "(0.5 chance, 1 perfect) say how well the predicted risks rank who has the event first; at each "
        "horizon the time-dependent AUC does the same for events by then, the Brier score (lower is "
        "better) and IPA (its improvement over the Kaplan–Meier risk for everyone; 0 is no better) judge "
        "the risks themselves. Censored patients are weighted, never dropped; the conventions are listed below."
    ),
    "calibration/survival": (
        "Calibration asks whether a predicted 30% risk of the event by the horizon means 30 in 100 such "
        "patients have it by then, with the observed risk from the Kaplan–Meier estimate so that censoring "
        "does not bias it. O/E (observed over expected events) should be 1: above 1 means predicted risks "
        "are too low. The calibration slope should be 1: below 1 means predictions are too extreme. The "
        "curve (a Cox model on a spline of the predicted risk) should follow the diagonal; the points are "
        "the Kaplan–Meier risk of each tenth of predicted risk. Intervals are {level}."
    ),
    "external/survival": (
        "For each external dataset the first table puts the internal and external estimates side by side "
        "with the difference external minus internal and its {level} interval (the C indices by their "
        "jackknife standard errors, the metrics at each horizon by independent bootstraps): an interval "
        "that excludes 0 is a real change. The tables below say why: outcome shift (different event-free "
        "survival), prediction shift and covariate shift."
    ),
    "performance/segmentation": (
        "Each structure is scored case by case and the cases are summarised: the mean over counted cases (missed "
        "structures count with Dice 0 and the capped distance), the median, and the mean over the cases where the "
        "prediction found the structure, each with its {level} interval. Dice, IoU and NSD run from 0 to 1, higher "
        "better; HD95, HD, MASD and ASSD are distances in mm, lower better. The rules for empty masks are listed below; "
        "every case's values are in results.json (cases[])."
    ),
    "fairness/segmentation": (
        "Each group's mean Dice, HD95 and NSD per structure are compared with the reference group's; gaps carry "
        "simultaneous {level} intervals over all comparisons of a dataset (max-T) and are judged against equivalence "
        "margins (Dice and NSD 0.05, HD95 2 mm unless the spec says otherwise). Small groups are shown, never judged."
    ),
    "calibration/segmentation": (
        "Calibration asks whether a voxel given a 30% probability of belonging to the structure belongs to it 30% "
        "of the time. Only voxels near the reference or the predicted structure (within 5 mm) count, since the far "
        "background is trivially right. ECE is the mean absolute gap between predicted and observed over the "
        "probability bins; O/E (observed over expected structure voxels) should be 1: above 1 means the "
        "probabilities claim too little. Intervals ({level}) come from resampling cases."
    ),
    "robustness/segmentation": (
        "The model is re-run on corrupted images (noise, blur, contrast, gamma, bias field, lower resolution, JPEG) "
        "at growing severity and under an attack that pushes the images, within a small budget, to spoil the "
        "Dice of the prediction. Each point is the mean Dice or HD95 over the same cases with its {level} interval; "
        "the change from the clean images is paired, case by case."
    ),
    "external/segmentation": (
        "For each external site the table puts the internal and external means per structure side by side with "
        "the difference external minus internal and its {level} interval (independent bootstraps over cases): an "
        "interval that excludes 0 is a real change. A structure shift (different lesion sizes) changes overlap "
        "metrics even for an unchanged model."
    ),
    "utility/survival": (
        "A decision curve asks whether treating the patients whose predicted risk by the horizon reaches a "
        "threshold does more good than harm, compared with treating everyone or no one. True and false "
        "positives come from the Kaplan–Meier estimate among those treated, so censored patients count. "
        "Bands are {level} intervals."
    ),
}

THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy", "f1",
                     "fnr", "fpr", "selection_rate")

_FOOTNOTE_MARKS = "abcdefghijklmnopqrstuvwxyz"


# ------------------------------------------------------------------------------ filters


def fmt_num(x: Any, digits: int = 3) -> str:
    """``0.71234`` → ``"0.712"``; ``None``/NaN → ``"—"``."""
    value = finite_or_none(x)
    return DASH if value is None else f"{value:.{digits}f}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A proportion as a percentage: ``0.42`` → ``"42.0%"``; ``None`` → ``"—"``."""
    value = finite_or_none(x)
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def fmt_level(x: Any) -> str:
    """A confidence level without needless digits: ``0.95`` → ``"95%"``, ``0.975`` → ``"97.5%"``."""
    value = finite_or_none(x)
    return DASH if value is None else f"{round(value * 100, 6):g}%"


def fmt_int(x: Any) -> str:
    """A count with thousands separators: ``1234`` → ``"1,234"``."""
    value = finite_or_none(x)
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
    lo, hi = finite_or_none(ci[0]), finite_or_none(ci[1])
    return None if lo is None or hi is None else (lo, hi)


def fmt_estimate(estimate: Any, digits: int = 3, pct: bool = False) -> str:
    """``{"value": 0.712, "ci": [0.668, 0.753], ...}`` → ``"0.712 (0.668–0.753)"``.

    A one-sided bound is written ``"0.081 (≤ 0.142)"`` (``sides: "upper"``) or ``"1.000 (≥ 0.982)"``.
    A ``null`` value gives ``"—"``; a value without an interval gives ``"0.712 (no CI)"``; an
    interval with a negative bound is written with "to": ``"-0.060 (-0.130 to -0.010)"``.
    With ``pct=True`` proportions are shown as percentages: ``"42.0% (38.0–46.0%)"``.
    Plain numbers are accepted and shown without an interval.
    """
    if isinstance(estimate, Mapping):
        value, ci = finite_or_none(estimate.get("value")), _ci(estimate)
        sides = estimate.get("sides")
        if value is not None and sides in ("lower", "upper"):
            bound = finite_or_none((estimate.get("ci") or [None, None])[0 if sides == "lower" else 1])
            if bound is not None:
                sign = "≥" if sides == "lower" else "≤"
                shown = fmt_pct(bound, digits) if pct else fmt_num(bound, digits)
                return f"{fmt_pct(value, digits) if pct else fmt_num(value, digits)} ({sign} {shown})"
    else:
        value, ci = finite_or_none(estimate), None
        if value is not None:
            return fmt_pct(value, digits) if pct else fmt_num(value, digits)
    if value is None:
        return DASH
    if pct:
        point = fmt_pct(value, digits)
        return f"{point} (no CI)" if ci is None else f"{point} ({ci[0] * 100:.{digits}f}–{fmt_pct(ci[1], digits)})"
    point = fmt_num(value, digits)
    if ci is None:
        return f"{point} (no CI)"
    # "–" between two negative numbers reads as a minus sign: say "to" instead
    sep = " to " if ci[0] < 0 or ci[1] < 0 else "–"
    return f"{point} ({fmt_num(ci[0], digits)}{sep}{fmt_num(ci[1], digits)})"


def estimate_parts(estimate: Any, digits: int = 3, pct: bool = False) -> tuple[str, str]:
    """:func:`fmt_estimate` split into the point and the bracketed interval, for table cells
    that may wrap the interval onto its own line: ``("0.712", "(0.668–0.753)")``, ``("—", "")``."""
    text = fmt_estimate(estimate, digits, pct)
    point, sep, rest = text.partition(" (")
    return (point, "(" + rest) if sep else (point, "")


def fmt_p(x: Any) -> str:
    """A p-value: ``0.0312`` → ``"0.031"``, ``0.0004`` → ``"<0.001"``; ``None`` → ``"—"``."""
    value = finite_or_none(x)
    if value is None:
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


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
    base = name.split("[")[0]
    if name.endswith("]") and base in METRICS_BY_NAME and "segmentation" in METRICS_BY_NAME[base].tasks:
        return labels_metric_label(name)  # a structure's metric: "Dice, whole_tumour"
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
    "estimate_parts": estimate_parts,
    "fmt_p": fmt_p,
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
    css, print_css = (_stylesheet(name) for name in (STYLESHEET, PRINT_STYLESHEET))
    view = build_view(results, figures or {})
    return env.get_template(TEMPLATE).render(css=css, print_css=print_css, **view)


def _stylesheet(name: str) -> Markup:
    """One of our stylesheets, to inline in a ``<style>`` tag (never one that could close the tag)."""
    css = (resource_dir("reports") / name).read_text(encoding="utf-8")
    if "</style" in css.lower():  # our own file, but never let it close the tag early
        raise RuntimeError(f"{name} must not contain '</style'")
    return Markup(css)


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

    anchors = _Anchors({"top", "summary", "findings", "datasets", "not-run", "checklists", "provenance", "contents"})
    sections, not_run = [], []
    for name, section in (results.get("sections") or {}).items():
        view = _section_view(name, section or {}, figures.get(name) or {}, findings, settings, anchors,
                             results.get("datasets") or {})
        (not_run if view["status"] == "not run" else sections).append(view)

    toc = [("summary", "Executive summary"), ("findings", "All findings"), ("datasets", "Datasets")]
    toc += [(s["anchor"], s["title"]) for s in sections]
    if not_run:
        toc.append(("not-run", "Checks not run"))
    if results.get("checklists"):
        toc.append(("checklists", "Guideline checklists"))
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
                "key_numbers": key_numbers(s["check"], (results.get("sections") or {}).get(s["name"]) or {}, results),
            }
            for s in sections + not_run
        ],
        "findings": findings,
        "top_findings": _top_findings(findings),
        "checklists": build_checklists(results.get("checklists") or {}),
        "sections": sections,
        "not_run": not_run,
        "toc": toc,
        "provenance": _provenance_view(provenance),
        "spec_path": spec.get("path") or spec.get("source"),
        "statuses": STATUSES,
    }


def _top_findings(findings: list[dict]) -> list[dict]:
    """The errors and warnings to show first: by severity, then taking turns between checks.

    Within a severity, each check's first finding comes before any check's second, so one check
    with many similar findings does not crowd out the others.
    """
    serious = [f for f in findings if f["severity"] in ("error", "warning")]
    seen: dict[tuple, int] = {}
    ranked = []
    for position, f in enumerate(serious):
        key = (f["severity"], f["check"])
        turn = seen.get(key, 0)
        seen[key] = turn + 1
        ranked.append((SEVERITY_ORDER[f["severity"]], turn, position, f))
    return [f for *_, f in sorted(ranked, key=lambda r: r[:3])][:TOP_FINDINGS]


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
        "classes": ds.get("classes"),
        "labels": ds.get("labels"),
    }


def _section_view(name, section, section_figures, findings, settings, anchors, datasets_meta=None) -> dict:
    status = str(section.get("status") or "not run")
    title = section.get("title") or str(name).replace("_", " ").capitalize()
    confidence = section.get("confidence", settings.get("confidence"))
    check = str(section.get("check") or name)  # a binary view's section ("performance:referable") is its check's
    intro = SECTION_INTROS.get(f"{check}/{section.get('task')}") or SECTION_INTROS.get(check)
    if intro:
        intro = intro.format(level=fmt_level(confidence) if confidence is not None else "")
    table = _metrics_table(section)
    threshold = section.get("threshold")
    threshold_metrics = [m for m in THRESHOLD_METRICS if table and m in table["metrics"]]
    figure_list = [fig for fig in section_figures.values() if isinstance(fig, Figure)]
    custom = section_view(check, section, section_figures, settings, ViewContext(name, anchors, datasets_meta or {}))
    wide = findings_first = False
    if custom is not None:
        view = custom["view"]
        used = view.get("used_figures") or []
        figure_list = [fig for fig in figure_list if all(fig is not u for u in used)]
        if view.get("table_metrics") is not None:
            threshold_metrics = [m for m in THRESHOLD_METRICS if m in view["table_metrics"]]
        if view.get("replaces_table"):
            table = None
        wide, findings_first = bool(view.get("wide")), bool(view.get("findings_first"))
    return {
        "name": name,
        "check": check,
        "title": title,
        "anchor": anchors(name),
        "status": status,
        "status_class": _status_class(status),
        "reason": section.get("reason"),
        "intro": intro,
        "evidence": [{"key": key, "state": state} for key, state in section_states(section).items()],
        "criteria": [{**c, "verdict_class": _status_class(c.get("verdict"))} for c in section.get("criteria") or [] if isinstance(c, Mapping)],
        "confidence": confidence,
        "threshold": threshold,
        "threshold_metrics": threshold_metrics,
        "table": table,
        "custom": custom,
        "wide": wide,
        "findings_first": findings_first,
        "figures": figure_list,
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
