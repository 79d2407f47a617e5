"""The fairness check: performance per subgroup and intersection, gaps with paired CIs, small groups flagged.

For every dataset, the groups of each sensitive attribute (``data.sensitive``), of ``data.site``
when set, and of their intersection (``settings.intersectional``) are analysed from **one**
stratified bootstrap: resamples are drawn within outcome x finest cell, so every group keeps its
size and event count in every replicate, and all groups' metrics come from the same resamples.
A gap between two groups is then a *paired* difference, replicate by replicate, and its interval
(BCa or percentile, with the jackknife applied to the difference) answers "is this gap real?".

Per group: n, events, prevalence (Wilson; Clopper–Pearson for small groups) and ``auroc``,
``sensitivity``, ``specificity``, ``ppv``, ``npv``, ``fnr`` (underdiagnosis), ``fpr``,
``selection_rate``, ``brier``. Groups with fewer than ``settings.min_group_size`` patients or
fewer than ``settings.min_group_events`` patients with (or without) the outcome get exact
Clopper–Pearson intervals for their proportions and the status "insufficient evidence"; they are
shown, never hidden, but not tested. Missing attribute values form the group ``(missing)``.

Gaps: each group against the reference group (``settings.reference_groups[partition]``, default
the largest), difference and ratio with CIs; the max − min gap over adequately sized groups with
its CI and the worst group; and fairlearn's ``demographic_parity_difference`` (max − min selection
rate), ``equal_opportunity_difference`` (max − min sensitivity) and ``equalized_odds_difference``
(the larger of the max − min sensitivity and max − min FPR), over all groups as fairlearn defines
them. p-values are two-sided Wald tests with the bootstrap standard error of the difference,
adjusted over every comparison of a dataset with Holm's step-down method (family-wise error) or
Benjamini–Hochberg (false discovery rate), ``settings.multiplicity``.

Per-group point estimates equal fairlearn's ``MetricFrame`` with scikit-learn's metrics (tested);
they are taken from the engine, which computes them with the replicates: on 100,000 rows with two
attributes, the ``MetricFrame`` calls alone took 13 s on our 2-core machine, the whole bootstrap
about 2 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..errors import AuditInputError
from ..labels import metric_label
from ..stats import Estimate, clopper_pearson_interval, proportion, strata_codes
from ..stats.bootstrap import bootstrap_p_value
from ..stats.metrics import GroupedBinaryMetrics, ratio_or_nan
from .base import Finding, Section

NAME = "fairness"
METRICS: tuple[str, ...] = ("auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr", "selection_rate", "brier")
HIGHER_IS_BETTER = frozenset({"auroc", "sensitivity", "specificity", "ppv", "npv"})
LOWER_IS_BETTER = frozenset({"fnr", "fpr", "brier"})
#: fnr and fpr mirror sensitivity and specificity (same gap, opposite sign): tested once, via the mirror.
MIRRORS = {"fnr": "sensitivity", "fpr": "specificity"}
MISSING = "(missing)"
DISPARITIES = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")


@dataclass(frozen=True)
class Partition:
    """One way of splitting the patients: an attribute, the site, or the intersection of attributes."""

    name: str
    kind: str  # "attribute" | "site" | "intersection"
    attributes: tuple[str, ...]
    labels: np.ndarray  # one group label (str) per row

    def display(self, label: str) -> str:
        return label if self.kind == "intersection" else f"{self.name}={label}"


def run(ctx: AuditContext) -> Section:
    attributes = list(ctx.spec.data.sensitive)
    site = ctx.spec.data.site
    if not attributes and site is None:
        return Section(
            NAME, "Subgroup fairness", "not run",
            {"reason": "no sensitive attributes: list them in data.sensitive (or name a site column in data.site)"},
            [Finding(NAME, "info", "The fairness check was not run: the spec names no sensitive attributes (data.sensitive).")],
        )
    settings = ctx.spec.settings
    per_dataset, findings, figures = {}, [], {}
    for ds in ctx.datasets.values():
        ctx.report_progress(f"fairness: subgroups of {ds.name}")
        partitions = build_partitions(ds, attributes, site, settings.intersectional)
        data, ds_findings = analyse(ds, partitions, ctx)
        per_dataset[ds.name] = data
        findings += ds_findings
        figures[f"forest_{ds.name}"] = plots.forest_figure(
            data["partitions"], list(METRICS), ds.name, {m: e["value"] for m, e in data["overall"].items()},
            confidence=settings.confidence,
        )
    evidence = ["fairness.subgroups", "fairness.gaps"]
    if any(p["kind"] == "intersection" for d in per_dataset.values() for p in d["partitions"]):
        evidence.append("fairness.intersectional")
    judged = any(sum(g["status"] == "ok" for g in p["groups"]) >= 2 for d in per_dataset.values() for p in d["partitions"])
    status = "warning" if any(f.severity != "info" for f in findings) else ("pass" if judged else "insufficient evidence")
    return Section(
        name=NAME,
        title="Subgroup fairness",
        status=status,
        data={
            "threshold": settings.threshold,
            "confidence": settings.confidence,
            "reference": "configured" if settings.reference_groups else "largest",
            "multiplicity": settings.multiplicity,
            "min_group_size": settings.min_group_size,
            "min_group_events": settings.min_group_events,
            "gap_warning": settings.gap_warning,
            "metrics": list(METRICS),
            "datasets": per_dataset,
        },
        findings=findings,
        figures=figures,
        evidence=evidence,
    )


# --------------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------------


def group_labels(column: pd.Series) -> np.ndarray:
    """String labels of an attribute; missing values become their own group, ``(missing)``."""
    labels = column.astype("string").fillna(MISSING).to_numpy(dtype=object)
    return labels.astype(str)


def build_partitions(ds: EvaluatedDataset, attributes: list[str], site: str | None, intersectional: bool) -> list[Partition]:
    frame = ds.dataset.frame
    parts = [Partition(a, "attribute", (a,), group_labels(frame[a])) for a in attributes]
    if site is not None and site not in attributes:
        parts.append(Partition(site, "site", (site,), group_labels(frame[site])))
    if intersectional and len(attributes) >= 2:
        combined = np.array(
            [" & ".join(f"{a}={v}" for a, v in zip(attributes, row)) for row in zip(*(p.labels for p in parts[: len(attributes)]))],
            dtype=object,
        ).astype(str)
        parts.append(Partition(" × ".join(attributes), "intersection", tuple(attributes), combined))
    return parts


# --------------------------------------------------------------------------------------------
# Analysis of one dataset
# --------------------------------------------------------------------------------------------


def analyse(ds: EvaluatedDataset, partitions: list[Partition], ctx: AuditContext) -> tuple[dict, list[Finding]]:
    settings = ctx.spec.settings
    codes = {p.name: np.unique(p.labels, return_inverse=True) for p in partitions}
    kernel = GroupedBinaryMetrics(ds.y, ds.p, {name: inv.ravel() for name, (_, inv) in codes.items()}, settings.threshold, METRICS)
    strata = strata_codes(ds.y, *(inv.ravel() for _, inv in codes.values()))
    boot = ctx.engine.bootstrap(kernel, strata, f"{NAME}/{ds.name}")
    column = {key: j for j, key in enumerate(kernel.columns)}
    overall = {m: boot.estimate_at(column[(None, None, m)], ds.n) for m in METRICS}

    results, comparisons = [], []
    for part in partitions:
        uniques = codes[part.name][0]
        groups = [group_summary(ds, part, label, code, boot, column, ctx) for code, label in enumerate(uniques)]
        reference = reference_group(part, groups, settings.reference_groups)
        entry = {
            "name": part.name,
            "kind": part.kind,
            "attributes": list(part.attributes),
            "reference": reference,
            "groups": groups,
            "gaps": gaps(part, groups, reference, uniques, boot, column, ds.n, comparisons),
            "disparities": disparities(part, uniques, boot, column, ds.n),
        }
        results.append(entry)
    findings = adjust_and_explain(comparisons, ds, ctx)
    findings += [
        Finding(NAME, "info", f"{part['name']}: group {g['label']} has too little evidence to judge ({g['reason']}); "
                f"its proportions carry exact Clopper–Pearson intervals.", ds.name)
        for part in results for g in part["groups"] if g["status"] != "ok"
    ]
    return {"overall": {m: e.to_dict() for m, e in overall.items()}, "partitions": results}, findings


def group_summary(ds, part: Partition, label: str, code: int, boot, column, ctx) -> dict:
    settings = ctx.spec.settings
    rows = part.labels == label
    y, pred = ds.y[rows], ds.p[rows] >= settings.threshold
    n, events = int(rows.sum()), int(y.sum())
    reasons = []
    if n < settings.min_group_size:
        reasons.append(f"n = {n} < {settings.min_group_size}")
    if events < settings.min_group_events:
        reasons.append(f"{events} with the outcome < {settings.min_group_events}")
    if n - events < settings.min_group_events:
        reasons.append(f"{n - events} without the outcome < {settings.min_group_events}")
    small = bool(reasons)
    metrics = {m: boot.estimate_at(column[(part.name, code, m)], n) for m in METRICS}
    if small:
        metrics.update(exact_proportions(y, pred, settings.confidence))
    conf = settings.confidence
    prevalence = (
        Estimate(events / n, clopper_pearson_interval(events, n, conf), "clopper-pearson", n) if small else proportion(events, n, conf)
    )
    return {
        "label": label,
        "n": n,
        "n_events": events,
        "status": "insufficient evidence" if small else "ok",
        "reason": "; ".join(reasons) or None,
        "prevalence": prevalence.to_dict(),
        "metrics": {m: e.to_dict() for m, e in metrics.items()},
    }


def exact_proportions(y: np.ndarray, pred: np.ndarray, confidence: float) -> dict[str, Estimate]:
    """Clopper–Pearson intervals for the proportions of a small group (counts, not resamples)."""
    y = y.astype(bool)
    tp, fn = int((y & pred).sum()), int((y & ~pred).sum())
    fp, tn = int((~y & pred).sum()), int((~y & ~pred).sum())
    pairs = {
        "sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp), "npv": (tn, tn + fn),
        "fnr": (fn, tp + fn), "fpr": (fp, tn + fp), "selection_rate": (tp + fp, y.size),
    }
    out = {}
    for metric, (k, m) in pairs.items():
        out[metric] = (
            Estimate(k / m, clopper_pearson_interval(k, m, confidence), "clopper-pearson", m) if m else Estimate(np.nan, None, "clopper-pearson", 0)
        )
    return out


def reference_group(part: Partition, groups: list[dict], configured: dict[str, str]) -> str:
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


def gaps(part, groups, reference, uniques, boot, column, n, comparisons: list) -> dict:
    """Differences and ratios against the reference, max − min and worst group, per metric."""
    ok = [code for code, g in enumerate(groups) if g["status"] == "ok"]
    ref_code = int(np.flatnonzero(uniques == reference)[0])
    others = [c for c in ok if c != ref_code] if ref_code in ok else []
    out = {}
    for m in METRICS:
        idx_g = [column[(part.name, c, m)] for c in others]
        idx_r = column[(part.name, ref_code, m)]
        diff = boot.derive(lambda X, g=idx_g, r=idx_r: X[:, g] - X[:, [r]]) if others else None
        ratio = boot.derive(lambda X, g=idx_g, r=idx_r: ratio_or_nan(X[:, g], X[:, [r]])) if others else None
        rows = []
        for k, c in enumerate(others):
            d = diff.estimate_at(k, n)
            row = {"group": groups[c]["label"], "difference": d.to_dict(), "ratio": ratio.estimate_at(k, n).to_dict(),
                   "p_value": bootstrap_p_value(d.value, diff.replicates[:, k]), "p_adjusted": None, "significant": False}
            rows.append(row)
            comparisons.append((part, m, row, reference))
        cols = [column[(part.name, c, m)] for c in ok]
        spread = None
        if len(cols) >= 2:
            mm = boot.derive(lambda X, c=cols: (np.nanmax(X[:, c], axis=1) - np.nanmin(X[:, c], axis=1))[:, None])
            spread = mm.estimate_at(0, n).to_dict()
        out[m] = {"worst": worst_group(m, [groups[c] for c in ok]), "max_min": spread, "comparisons": rows}
    return out


def worst_group(metric: str, groups: list[dict]) -> str | None:
    values = [(g["metrics"][metric]["value"], g["label"]) for g in groups if g["metrics"][metric]["value"] is not None]
    if len(values) < 2 or metric not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return None
    pick = min if metric in HIGHER_IS_BETTER else max
    return pick(values, key=lambda v: v[0])[1]


def disparities(part, uniques, boot, column, n) -> dict:
    """fairlearn's three disparity differences over all groups, with paired bootstrap intervals."""
    codes = range(len(uniques))

    def spread(X, metric):
        cols = [column[(part.name, c, metric)] for c in codes]
        return np.nanmax(X[:, cols], axis=1) - np.nanmin(X[:, cols], axis=1)

    derived = boot.derive(
        lambda X: np.column_stack(
            [spread(X, "selection_rate"), np.fmax(spread(X, "sensitivity"), spread(X, "fpr")), spread(X, "sensitivity")]
        )
    )
    return {name: derived.estimate_at(k, n).to_dict() for k, name in enumerate(DISPARITIES)}


# --------------------------------------------------------------------------------------------
# Multiplicity and findings
# --------------------------------------------------------------------------------------------


def adjust_and_explain(comparisons: list, ds: EvaluatedDataset, ctx: AuditContext) -> list[Finding]:
    """Adjust every comparison's p-value of this dataset; turn significant gaps into sentences."""
    settings = ctx.spec.settings
    family = [c for c in comparisons if c[1] not in MIRRORS and c[2]["p_value"] is not None]
    if family:
        reject, adjusted, _, _ = multipletests([c[2]["p_value"] for c in family], alpha=1 - settings.confidence, method=settings.multiplicity)
        for (part, m, row, _), rej, adj in zip(family, reject, adjusted):
            row["p_adjusted"], row["significant"] = float(adj), bool(rej)
    by_key = {(c[0].name, c[1], c[2]["group"]): c[2] for c in comparisons}
    for part, m, row, _ in comparisons:  # fnr / fpr share their mirror's test
        if m in MIRRORS:
            mirror = by_key.get((part.name, MIRRORS[m], row["group"]))
            if mirror is not None:
                row["p_adjusted"], row["significant"] = mirror["p_adjusted"], mirror["significant"]
    method = {"holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}[settings.multiplicity]
    level = f"{settings.confidence:.0%}"
    findings = []
    for part, m, row, reference in family:
        d = row["difference"]
        if not row["significant"] or d["value"] is None or d["ci"] is None:
            continue
        severity = "warning" if abs(d["value"]) >= settings.gap_warning and m != "selection_rate" else "info"
        word = "lower" if d["value"] < 0 else "higher"
        note = " (this also reflects differences in prevalence)" if m == "selection_rate" else ""
        findings.append(
            Finding(
                NAME, severity,
                f"{metric_label(m, short=True)} is {abs(d['value']):.2f} {word} for {part.display(row['group'])} than for "
                f"{part.display(reference)} ({level} CI {_magnitude_ci(d['ci'])}; {method}-adjusted p = {row['p_adjusted']:.3g}){note}.",
                ds.name,
            )
        )
    if family and not findings:
        findings.append(
            Finding(NAME, "info", f"No gap between groups is significant after {method} adjustment across "
                    f"{len(family)} comparisons on {ds.name}.", ds.name)
        )
    return findings


def _magnitude_ci(ci: list[float]) -> str:
    """The interval of a gap's size when it excludes zero ("0.05 to 0.19"), else the signed interval."""
    lo, hi = ci
    if lo * hi > 0:
        a, b = sorted((abs(lo), abs(hi)))
        return f"{a:.2f} to {b:.2f}"
    return f"{lo:+.2f} to {hi:+.2f} for the difference"
