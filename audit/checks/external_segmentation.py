"""The external check of a segmentation audit: how each structure's quality changes from the internal test set to
each external site, and whether the structures themselves changed.

- **Gaps** (external − internal) of each structure's mean Dice, HD95, NSD (with a tolerance) and detection rate:
  replicate b of the external dataset's bootstrap over cases minus replicate b of the internal one (independent
  samples, each resampled under its own design and stream; percentile interval), as in the survival check.
- **Structure shift**: the reference volume of each structure in both datasets (cases holding it) with the
  Mann–Whitney test (scipy), since a site with smaller lesions lowers Dice for a model that did not change.

Warnings: a mean Dice lower by at least ``DICE_DROP_WARNING`` with its interval wholly below 0, an HD95 higher by at
least ``HD95_RISE_WARNING`` mm with its interval wholly above 0, a structure shift at the spec's significance level.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import mannwhitneyu

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import segmentation_bootstrap, segmentation_estimates, segmentation_metrics, segmentation_statistic
from ..evidence import shown
from ..stats.segmentation import BOTH_PRESENT, MISSED
from .base import Finding, Section
from .external import no_external_section
from .external_survival import independent_gap

NAME = "external"
GAP_METRICS = ("dice", "hd95", "nsd", "detection_rate")
DICE_DROP_WARNING = 0.05
HD95_RISE_WARNING = 2.0


def run(ctx: AuditContext) -> Section:
    if not ctx.external:
        return no_external_section()
    internal, confidence = ctx.internal, ctx.engine.confidence
    per_dataset, findings = {}, []
    for ds in ctx.external:
        ctx.report_progress(f"external: {ds.name} against test")
        entry = {"gaps": gaps(ctx, internal, ds), "structure_shift": structure_shift(internal, ds)}
        entry["metrics"] = {m: gap["difference"] for m, gap in entry["gaps"].items()}
        per_dataset[ds.name] = entry
        findings += explain(ds.name, entry, confidence)
    return Section(
        name=NAME,
        title="External validation",
        status="warning" if any(f.severity != "info" for f in findings) else "pass",
        data={"reference": "test", "confidence": confidence, "task": "segmentation", "datasets": per_dataset, "meta_analysis": None},
        findings=findings,
        figures={"gaps": plots.gap_figure({name: e["gaps"] for name, e in per_dataset.items()}, confidence)},
        evidence=shown("external.validation", "external.gap", "external.shift"),
    )


def gaps(ctx: AuditContext, internal: EvaluatedDataset, external: EvaluatedDataset) -> dict:
    """``<metric>[<structure>]`` -> internal, external and their difference with its interval."""
    metrics = segmentation_metrics(ctx)
    names = segmentation_statistic(internal.cases, metrics).names
    column = {name: j for j, name in enumerate(names)}
    boot_i, boot_e = segmentation_bootstrap(ctx, internal), segmentation_bootstrap(ctx, external)
    own_i, own_e = segmentation_estimates(ctx, internal), segmentation_estimates(ctx, external)
    out = {}
    for s in internal.cases.structures:
        for m in GAP_METRICS:
            if m not in own_i[s]:
                continue
            diff = independent_gap(boot_i, boot_e, column[f"{m}/{s}"], ctx.engine.confidence, internal.n + external.n)
            out[f"{m}[{s}]"] = {"internal": own_i[s][m].to_dict(), "external": own_e[s][m].to_dict(), "difference": diff.to_dict()}
    return out


def structure_shift(internal: EvaluatedDataset, external: EvaluatedDataset) -> dict:
    """Per structure: the mean reference volume (mm³) of the cases holding it in each dataset, and the Mann–Whitney
    test of equal distributions."""
    out = {}
    for j, s in enumerate(internal.cases.structures):
        volumes = []
        for ds in (internal, external):
            holding = np.isin(ds.cases.status[:, j], (BOTH_PRESENT, MISSED))
            volumes.append(ds.cases.metric("reference_volume")[holding, j])
        a, b = volumes
        p = float(mannwhitneyu(a, b).pvalue) if a.size and b.size else None
        out[s] = {"internal_mean_volume": float(a.mean()) if a.size else None,
                  "external_mean_volume": float(b.mean()) if b.size else None,
                  "internal_cases": int(a.size), "external_cases": int(b.size), "p_value": p,
                  "test": "Mann–Whitney U test of equal reference volumes (scipy)"}
    return out


def explain(name: str, e: dict, confidence: float) -> list[Finding]:
    lvl = f"{confidence:.0%}"
    out = []
    for key, gap in e["gaps"].items():
        d = gap["difference"]
        if d.get("value") is None or not d.get("ci"):
            continue
        metric, structure = key[:-1].split("[")
        if metric == "dice" or metric == "hd95":
            bad = (d["ci"][1] < 0 and d["value"] <= -DICE_DROP_WARNING) if metric == "dice" else (
                d["ci"][0] > 0 and d["value"] >= HD95_RISE_WARNING)
            unit = "" if metric == "dice" else " mm"
            out.append(Finding(NAME, "warning" if bad else "info",
                               f"Mean {'Dice' if metric == 'dice' else 'HD95'} of {structure} on {name} differs from the internal "
                               f"test set by {d['value']:+.3f}{unit} ({lvl} CI {d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}, independent "
                               "bootstraps over cases).", name))
    alpha = 1 - confidence
    for s, shift in e["structure_shift"].items():
        if shift["p_value"] is not None and shift["p_value"] < alpha:
            out.append(Finding(NAME, "warning", f"Structure shift: the reference {s} is on average {shift['external_mean_volume']:.0f} mm³ "
                               f"on {name} against {shift['internal_mean_volume']:.0f} mm³ internally (Mann–Whitney p = "
                               f"{shift['p_value']:.2g}); overlap metrics depend on structure size, so part of a gap may be the "
                               "case mix rather than the model.", name))
    return out


__all__ = ["run"]
