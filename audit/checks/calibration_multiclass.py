"""The calibration check of a multiclass audit: do the K predicted probabilities match what happens?

Per dataset (formulas and references: ``audit.stats.multiclass_calibration``):

- the **multinomial calibration framework** of Van Hoorde et al. (Stat Med 2014): for each class
  against the reference class (the first of ``data.classes``), the calibration intercept (0 ideal)
  and slope (1 ideal) of a multinomial logistic recalibration on the model's log-ratios, Wald intervals;
- **top-label calibration**: the confidence (the largest probability) against whether the decided class
  was right: ICI of a lowess curve and ECE over equal-width bins, with the estimator named;
- **classwise calibration**: each class's probability against its indicator, ICI and ECE per class and
  their unweighted mean (the classwise-ECE of Kull et al., NeurIPS 2019).

A class whose intercept or slope interval excludes the ideal value is a warning, as in the binary check;
the section's status is "warning" when any is found, else "pass" (pre-specified targets do not apply).
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..evidence import SHOWN, THIN, shown
from ..groups import build_partitions, too_small
from ..stats.multiclass_calibration import classwise_calibration, multinomial_calibration, top_label_calibration
from ..tasks.multiclass import label_text
from .base import Finding, Section
from .calibration import holm, wald_p

NAME = "calibration"


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    labels = [label_text(c) for c in ctx.task.classes(ctx.spec.data)]
    per_dataset, findings, curves = {}, [], {}
    for ds in ctx.datasets.values():
        ctx.report_progress(f"calibration: {ds.name}")
        entry = dataset_calibration(ds.y, ds.p, labels, settings.confidence, settings.calibration_bins)
        entry["subgroups"] = subgroup_calibration(ds, ctx, labels)
        per_dataset[ds.name] = entry
        findings += dataset_findings(ds.name, entry, settings.confidence)
        findings += subgroup_findings(ds.name, entry["subgroups"], settings.confidence)
        top = entry["top_label"]
        counts, edges = np.histogram(np.max(ds.p, axis=1), bins=np.linspace(0, 1, 21))
        curves[ds.name] = {"smooth": top["curve"], "bins": top["points"], "slope": None, "intercept": None,
                           "histogram": {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist()}}
    return Section(
        name=NAME,
        title="Calibration",
        status="warning" if any(f.severity != "info" for f in findings) else "pass",
        data={"task": "multiclass", "confidence": settings.confidence, "bins": settings.calibration_bins,
              "reference_class": labels[0], "criteria": [], "datasets": per_dataset},
        findings=findings,
        figures={"reliability": plots.reliability_figure(curves, title="Top-label reliability (confidence against accuracy)")},
        evidence=evidence(per_dataset),
    )


def evidence(per_dataset: dict) -> dict[str, str]:
    out = shown("calibration.slope_intercept", "calibration.ece", "calibration.curve")
    groups = [g for d in per_dataset.values() for g in d["subgroups"]]
    if groups:
        out["calibration.subgroups"] = SHOWN if any(g["status"] == "ok" for g in groups) else THIN
    return out


def subgroup_calibration(ds: EvaluatedDataset, ctx: AuditContext, labels: list[str]) -> list[dict]:
    """Per group of every attribute and site: the multinomial intercepts and slopes and the top-label and mean
    classwise ICI. Each adequately sized group's slopes (= 1) and intercepts (= 0) are Wald-tested, and every
    test of the dataset is Holm-adjusted together, as in the binary check (``p_adjusted`` is what findings judge)."""
    settings = ctx.spec.settings
    partitions = build_partitions(ds, list(ctx.spec.data.sensitive), ctx.spec.data.site, False, settings.max_groups)
    out = []
    for part in partitions:
        for group, rows in part.members():
            n = int(rows.sum())
            small = too_small(n, None, settings)
            entry = {"partition": part.name, "group": str(group), "n": n,
                     "status": "insufficient evidence" if small else "ok", "reason": "; ".join(small) or None}
            if not small:
                sub = dataset_calibration(np.asarray(ds.y)[rows], ds.p[rows], labels, settings.confidence, settings.calibration_bins)
                m = sub["multinomial"]
                entry |= {"multinomial": m, "top_label_ici": sub["top_label"]["ici"], "classwise_mean_ici": sub["classwise"]["mean_ici"]}
                entry["tests"] = {**{f"intercept[{k}]": wald_p(_estimate(e), 0.0, settings.confidence) for k, e in m["intercepts"].items()},
                                  **{f"slope[{k}]": wald_p(_estimate(e), 1.0, settings.confidence) for k, e in m["slopes"].items()}}
            out.append(entry)
    holm(out)
    return out


def _estimate(d: dict):
    from ..stats import Estimate

    value = d["value"] if d["value"] is not None else np.nan
    ci = tuple(d["ci"]) if d.get("ci") and None not in d["ci"] else None
    return Estimate(value, ci, d["method"], d["n"])


def subgroup_findings(name: str, groups: list[dict], confidence: float) -> list[Finding]:
    """A group whose slope or intercept of some class differs from the ideal after Holm's adjustment."""
    alpha = 1 - confidence
    out = []
    for g in groups:
        flagged = [(key, t) for key, t in (g.get("tests") or {}).items() if t.get("p_adjusted") is not None and t["p_adjusted"] < alpha]
        for key, t in flagged:
            kind, label = key[:-1].split("[")
            e = g["multinomial"]["slopes" if kind == "slope" else "intercepts"][label]
            ideal = "1" if kind == "slope" else "0"
            out.append(Finding(NAME, "warning", (
                f"For {g['partition']}={g['group']} in {name}, the calibration {kind} of class {label} against class "
                f"{g['multinomial']['reference']} is {e['value']:.2f} ({ideal} is ideal; Holm-adjusted p = {t['p_adjusted']:.2g} over the "
                "dataset's subgroup tests)."), name))
    return out


def dataset_calibration(y: np.ndarray, P: np.ndarray, labels: list[str], confidence: float, bins: int) -> dict:
    """The three views of the calibration of class codes ``y`` and probabilities ``P``, keyed by class label."""
    y = np.asarray(y, dtype=np.int64)
    multinomial = multinomial_calibration(y, P, reference=0, confidence=confidence).to_dict()
    for key in ("intercepts", "slopes"):
        multinomial[key] = {labels[int(code)]: est for code, est in multinomial[key].items()}
    multinomial["reference"] = labels[0]
    classwise = classwise_calibration(y, P, n_bins=bins, confidence=confidence).to_dict()
    classwise["classes"] = {labels[int(code)]: c for code, c in classwise["classes"].items()}
    return {
        "multinomial": multinomial,
        "top_label": top_label_calibration(y, P, n_bins=bins, confidence=confidence).to_dict(),
        "classwise": classwise,
    }


def dataset_findings(name: str, entry: dict, confidence: float) -> list[Finding]:
    """Classes whose Van Hoorde slope or intercept interval excludes 1 or 0, and the overall ICIs."""
    level = f"{confidence:.0%}"
    m = entry["multinomial"]
    out = []
    for label, slope in m["slopes"].items():
        ci = slope.get("ci")
        if ci and ci[0] is not None and (ci[0] > 1 or ci[1] < 1):
            kind = "too extreme (overfitting or another case mix)" if ci[1] < 1 else "too moderate"
            out.append(Finding(NAME, "warning", f"In {name}, the predicted odds of class {label} against class {m['reference']} are {kind}: "
                               f"calibration slope {slope['value']:.2f} ({level} CI {ci[0]:.2f} to {ci[1]:.2f}; 1 is ideal; Van Hoorde et al. 2014).", name))
    for label, intercept in m["intercepts"].items():
        ci = intercept.get("ci")
        if ci and ci[0] is not None and (ci[0] > 0 or ci[1] < 0):
            kind = "too low" if ci[0] > 0 else "too high"
            out.append(Finding(NAME, "warning", f"In {name}, class {label} is predicted {kind} on average relative to class {m['reference']}: "
                               f"calibration intercept {intercept['value']:+.2f} ({level} CI {ci[0]:+.2f} to {ci[1]:+.2f}; 0 is ideal).", name))
    not_estimable = [label for label, e in m["slopes"].items() if e.get("value") is None]
    if not_estimable:
        out.append(Finding(NAME, "info", f"In {name}, the calibration slope of class {', '.join(not_estimable)} is not estimable: "
                           f"{m['slopes'][not_estimable[0]].get('reason') or 'too few patients'}.", name))
    top, cw = entry["top_label"], entry["classwise"]
    if top["ici"] is not None and cw["mean_ici"] is not None:
        out.append(Finding(NAME, "info", f"In {name}, the top-label ICI is {top['ici']:.3f} (ECE {top['ece']:.3f}) and the mean classwise ICI "
                           f"{cw['mean_ici']:.3f} (classwise ECE {cw['mean_ece']:.3f}): the average distance between predicted and observed risk.", name))
    return out
