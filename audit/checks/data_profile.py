"""The data profile: what every dataset holds, and whether the same patients appear in two of them.

Per dataset: n, events and prevalence (Wilson; per class for a multiclass outcome), missingness per column, the distribution of each
sensitive attribute (missing values as their own category), and numeric summaries. When
``data.id`` names a patient identifier, an identifier found in more than one dataset is an
error-level finding (the same patients must not validate a model twice, or validate it at all
when they trained it); identifiers repeated within one dataset are a warning. When ``data.readers``
names several readers' label columns, the agreement between them (Fleiss' kappa, Cohen's kappa per
pair) and of each with the reference standard (the target), with bootstrap intervals, on the
patients every reader labelled (``audit.stats.agreement``).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from ..context import AuditContext, EvaluatedDataset
from ..evidence import CONTRADICTED, SHOWN, shown
from ..stats.agreement import ReaderAgreement
from .base import Finding, Section

NAME = "profile"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass", "multilabel", "survival")
MISSING = "(missing)"
HEAVY_MISSING = 0.20
#: The name the training table's identifiers go by in the overlap table.
TRAINING = "training data"


def run(ctx: AuditContext) -> Section:
    data, findings = {}, []
    # the outcome is summarised by its prevalence; an identifier has no meaningful mean
    not_summarised = {c for c in (*ctx.spec.data.target_columns, ctx.spec.data.id) if c is not None}
    for ds in ctx.datasets.values():
        frame = ds.dataset.frame
        missing = frame.isna().sum()
        entry = {
            **ctx.task.summary(ds.target, ctx.engine.confidence, ctx.spec.data, ctx.spec.settings),  # n, events or classes; horizons
            "missing": [{"column": str(c), "count": int(missing[c]), "share": float(missing[c] / max(ds.n, 1))}
                        for c in missing.sort_values(ascending=False, kind="stable").index],
            "sensitive": {a: distribution(frame[a]) for a in ctx.spec.data.sensitive},
            "numeric": {str(c): summary(frame[c]) for c in frame.columns
                        if pd.api.types.is_numeric_dtype(frame[c]) and c not in not_summarised},
        }
        if ds.dataset.reads is not None:
            entry["agreement"], note = reader_agreement(ctx, ds)
            if note:
                findings.append(note)
        data[ds.name] = entry
        infinite = [f"{c} ({v['n_infinite']})" for c, v in entry["numeric"].items() if v.get("n_infinite")]
        if infinite:
            findings.append(Finding(NAME, "warning", f"{ds.name}: columns holding infinite values (count): {', '.join(infinite[:8])}"
                                    f"{f' and {len(infinite) - 8} more' if len(infinite) > 8 else ''}; they are left out of the "
                                    "summaries, and a model fed them may fail.", ds.name))
        heavy = [m for m in entry["missing"] if m["share"] > HEAVY_MISSING]
        if heavy:
            listed = ", ".join(f"{m['column']} ({m['share']:.0%})" for m in heavy[:8])
            findings.append(Finding(NAME, "info", f"{ds.name}: columns with more than {HEAVY_MISSING:.0%} missing values: {listed}.", ds.name))
    evidence = shown("data.profile")
    if any((entry.get("agreement") or {}).get("fleiss") for entry in data.values()):
        evidence["labels.agreement"] = SHOWN
    return _with_leakage(ctx, data, findings, evidence)


def leakage_only(ctx: AuditContext) -> Section:
    """The profile's light form: only the identifier checks. The runner adds it whenever ``data.id`` is set and
    the spec's ``checks`` leave out ``profile``, so patients shared between datasets are never missed."""
    section = _with_leakage(ctx, {}, [], {})
    section.data["light"] = True
    return section


def _with_leakage(ctx: AuditContext, data: dict, findings: list[Finding], evidence: dict[str, str]) -> Section:
    """The section with the identifier checks added (when ``data.id`` is set) and its status from the findings."""
    leakage = None
    if ctx.spec.data.id is not None:
        leakage, leak_findings = identifier_overlap(ctx)
        findings = findings + leak_findings
        evidence = evidence | overlap_evidence(leakage)
    status = "fail" if any(f.severity == "error" for f in findings) else ("warning" if any(f.severity == "warning" for f in findings) else "pass")
    return Section(NAME, "Data profile", status, {"datasets": data, "leakage": leakage}, findings, evidence=evidence)


def reader_agreement(ctx: AuditContext, ds: EvaluatedDataset) -> tuple[dict, Finding | None]:
    """Kappas with bootstrap intervals on the patients every reader labelled, and a finding that states Fleiss' kappa."""
    readers, reads = ctx.spec.data.readers, ds.dataset.reads
    complete = ~np.isnan(reads).any(axis=1)
    n = int(complete.sum())
    out = {"readers": list(readers), "n": n, "n_incomplete": int(ds.n - n), "fleiss": None, "pairs": [], "reference": []}
    if n < 2:
        return out, Finding(NAME, "warning", f"{ds.name}: only {n} patients were labelled by every reader in data.readers; "
                                             "agreement needs more.", ds.name)
    statistic = ReaderAgreement(reads[complete].astype(np.int8), tuple(readers), ds.y[complete])
    result = ctx.engine.bootstrap(statistic, ctx.design(ds).subset(complete), f"{NAME}/agreement/{ds.name}")
    estimates = {name: result.estimate_at(j, n).to_dict() for j, name in enumerate(statistic.names)}
    out["fleiss"] = estimates["fleiss"]
    out["pairs"] = [{"a": a, "b": b, "kappa": estimates[f"{a}|{b}"]} for a, b in combinations(readers, 2)]
    out["reference"] = [{"reader": r, "kappa": estimates[f"{r}|reference"]} for r in readers]
    kappa = out["fleiss"]
    if kappa["value"] is None:
        return out, Finding(NAME, "info", f"{ds.name}: reader agreement is undefined: every reader gave every patient the same label.", ds.name)
    ci = f" ({ctx.engine.confidence:.0%} CI {kappa['ci'][0]:.2f} to {kappa['ci'][1]:.2f})" if kappa["ci"] else ""
    return out, Finding(NAME, "info", f"{ds.name}: {len(readers)} readers agree with Fleiss' kappa {kappa['value']:.2f}{ci} "
                                      f"on the {n} patients they all labelled.", ds.name)


def distribution(column: pd.Series) -> list[dict]:
    counts = column.astype("string").fillna(MISSING).value_counts(sort=False).sort_index()
    total = int(counts.sum())
    return [{"value": str(k), "count": int(v), "share": float(v / total)} for k, v in counts.items()]


def summary(column: pd.Series) -> dict:
    """n, mean, SD and quantiles of the finite values; infinite values are counted apart (``n_infinite``).

    Mean and SD are computed on the values divided by their largest magnitude and scaled back, so values
    near the float limit (1e308) summarise without overflowing to infinity.
    """
    x = column.dropna().to_numpy(dtype=float)
    finite = np.isfinite(x)
    out = {"n_infinite": int((~finite).sum())} if not finite.all() else {}
    x = x[finite]
    if x.size == 0:
        return {"n": 0, **out}
    scale = float(np.abs(x).max()) or 1.0
    q = np.quantile(x, [0, 0.25, 0.5, 0.75, 1])
    return {"n": int(x.size), "mean": float(np.mean(x / scale) * scale),
            "sd": float(np.std(x / scale, ddof=1) * scale) if x.size > 1 else None,
            "min": float(q[0]), "q25": float(q[1]), "median": float(q[2]), "q75": float(q[3]), "max": float(q[4]), **out}


def identifier_overlap(ctx: AuditContext) -> tuple[dict, list[Finding]]:
    """Identifiers repeated within each dataset, and (unless ``data.id_scope: dataset`` says identifiers are only
    unique within a file) shared between datasets or with the training table."""
    column = ctx.spec.data.id
    ids = {name: identifiers(ds.dataset.frame[column]) for name, ds in ctx.datasets.items()}
    if ctx.spec.data.id_scope == "dataset":
        findings, duplicates = _duplicates(ids, column)
        return {"column": column, "scope": "dataset", "overlaps": [], "duplicates": duplicates}, findings
    if ctx.train_ids is not None:  # data.train: patients the model was trained on
        ids = {TRAINING: identifiers(ctx.train_ids)} | ids
    findings, duplicates = _duplicates(ids, column)
    pairs = []
    for a, b in combinations(ids, 2):
        shared = sorted(set(ids[a]) & set(ids[b]), key=_natural)
        pairs.append({"datasets": [a, b], "count": len(shared), "examples": shared[:10]})
        if shared:
            why = ("a model must be validated on patients it was not trained on" if a == TRAINING
                   else "the same patients must not be in two validation sets")
            findings.append(Finding(NAME, "error", f"{len(shared)} patient identifiers (column {column}) appear in both {a} and {b}, "
                                    f"e.g. {', '.join(shared[:3])}: {why}.", b))
    return {"column": column, "overlaps": pairs, "duplicates": duplicates}, findings


def _duplicates(ids: dict[str, pd.Series], column: str) -> tuple[list[Finding], dict]:
    """Identifiers occurring more than once within each dataset: a warning per evaluated dataset."""
    findings, duplicates = [], {}
    for name, values in ids.items():
        repeated = values[values.duplicated()].unique()
        duplicates[name] = {"count": int(repeated.size), "examples": sorted(repeated.tolist(), key=_natural)[:10]}
        if repeated.size and name != TRAINING:
            findings.append(Finding(NAME, "warning", f"{repeated.size} patient identifiers (column {column}) occur more than once in {name}, "
                                    f"e.g. {', '.join(duplicates[name]['examples'][:3])}: check for repeated visits or duplicated rows.", name))
    return findings, duplicates


def overlap_evidence(leakage: dict) -> dict[str, str]:
    """``data.leakage`` when the training table was compared (contradicted by a shared identifier);
    ``data.overlap`` when two or more evaluated datasets were compared with each other (likewise)."""
    evidence = {}
    with_training = [p for p in leakage["overlaps"] if p["datasets"][0] == TRAINING]
    between = [p for p in leakage["overlaps"] if TRAINING not in p["datasets"]]
    for key, pairs in (("data.leakage", with_training), ("data.overlap", between)):
        if pairs:
            evidence[key] = CONTRADICTED if any(p["count"] for p in pairs) else SHOWN
    return evidence


def identifiers(column: pd.Series) -> pd.Series:
    """Identifiers as comparable strings: blanks dropped, whole-number floats written as integers.

    A blank cell makes pandas read a numeric id column as float (17 becomes 17.0), which would hide
    an overlap with a file that has no blank.
    """
    values = column.dropna()
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.to_numpy(), 1) == 0):
        values = values.astype("int64")
    return values.astype(str).str.strip()


def _natural(value: str):
    return (0, int(value), value) if value.lstrip("-").isdigit() else (1, 0, value)
