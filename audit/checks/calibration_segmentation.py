"""The calibration check of a segmentation audit: are the voxel probabilities of a probability map (or a model's
softmax) what they claim, near the structures?

Per dataset and structure, over the voxels within ``stats.segmentation.CALIBRATION_MARGIN_MM`` mm of the reference or
the predicted structure (the far background, where everything is near 0 and right, is left out): the reliability
diagram (mean probability and observed frequency in ten equal-width bins), the expected calibration error (ECE) and
the observed / expected ratio of structure voxels, with intervals from the bootstrap over cases on the dataset's one
stream (``stats.segmentation.VoxelCalibration``). P(structure) is the sum of its label values' channels.

Verdict per structure: pass when the O/E ratio's interval lies within [``OE_RANGE``]; fail when it lies wholly outside;
otherwise inconclusive. Without probabilities (label maps only) the check is "not run" with the reason.
"""

from __future__ import annotations

import numpy as np

from ..context import AuditContext
from ..evidence import shown
from ..plots.calibration import reliability_figure
from ..stats.estimate import cluster_labelled
from ..stats.segmentation import CALIBRATION_BINS, CALIBRATION_MARGIN_MM, VoxelCalibration
from ..verdicts import criterion, judge_interval_within, worst
from .base import Finding, Section

NAME = "calibration"
#: The range an O/E ratio of structure voxels must lie within (a model predicting 25% too few or too many voxels
#: of a structure fails).
OE_RANGE = (0.8, 1.25)


def run(ctx: AuditContext) -> Section:
    if ctx.internal.cases.calibration is None:
        reason = ("the predictions are label maps: calibration needs probabilities (data.prediction_type: probabilities, "
                  "or a model)")
        return Section(NAME, "Calibration", "not run", {"reason": reason},
                       [Finding(NAME, "info", f"The calibration check was not run: {reason}.")])
    settings = ctx.spec.settings
    level = f"{settings.confidence:.0%}"
    rule = (f"pass when the {level} interval of the observed / expected ratio of structure voxels lies within "
            f"[{OE_RANGE[0]:g}, {OE_RANGE[1]:g}]; fail when it lies wholly outside; otherwise inconclusive")
    per_dataset, criteria, findings, figures = {}, [], [], {}
    curves: dict[str, dict] = {}
    for ds in ctx.datasets.values():
        ctx.report_progress(f"calibration: voxel reliability on {ds.name}")
        entry = {}
        for j, s in enumerate(ds.cases.structures):
            stat = VoxelCalibration(ds.cases.calibration[:, j])
            boot = ctx.engine.bootstrap(stat, ctx.design(ds), ctx.stream(ds))
            column = {name: k for k, name in enumerate(stat.names)}
            clustered = ctx.design(ds).clusters is not None
            ece, oe = (cluster_labelled(boot.estimate_at(column[k], ds.n), clustered).to_dict() for k in ("ece", "oe_ratio"))
            counts = ds.cases.calibration[:, j, :, 0].sum(axis=0)
            bins = [{"predicted": _finite(boot.estimate[column[f"predicted@{b}"]]),
                     "observed": _finite(boot.estimate[column[f"observed@{b}"]]),
                     "ci": boot.estimate_at(column[f"observed@{b}"], ds.n).to_dict().get("ci"), "n": int(counts[b])}
                    for b in range(CALIBRATION_BINS)]
            entry[s] = {"ece": ece, "oe_ratio": oe, "bins": bins, "voxels": int(counts.sum())}
            verdict, reason = judge_interval_within(oe, *OE_RANGE)
            criteria.append(criterion(f"{s}: structure voxels predicted in the right amount", rule, verdict, ds.name, "oe_ratio", oe,
                                      list(OE_RANGE), reason))
            curves.setdefault(s, {})[ds.name] = {"bins": [b for b in bins if b["n"]],
                                                 "histogram": {"edges": list(np.linspace(0, 1, CALIBRATION_BINS + 1)),
                                                               "counts": [int(c) for c in counts]}}
            if oe.get("value") is not None and oe.get("ci") and (oe["ci"][1] < OE_RANGE[0] or oe["ci"][0] > OE_RANGE[1]):
                word = "fewer" if oe["value"] < 1 else "more"
                findings.append(Finding(NAME, "warning", f"On {ds.name}, the probabilities of {s} claim {word} structure voxels "
                                        f"than the reference holds (O/E {oe['value']:.2f}, {level} CI {oe['ci'][0]:.2f} to "
                                        f"{oe['ci'][1]:.2f}).", ds.name))
        per_dataset[ds.name] = {"structures": entry}
    for s, by_dataset in curves.items():
        figures[f"reliability_{s}"] = reliability_figure(by_dataset, title=f"Voxel calibration: {s}")
    return Section(
        name=NAME, title="Calibration", status=worst(c["verdict"] for c in criteria),
        data={"task": "segmentation", "confidence": settings.confidence, "region_margin_mm": CALIBRATION_MARGIN_MM,
              "bins": CALIBRATION_BINS, "oe_range": list(OE_RANGE), "datasets": per_dataset, "criteria": criteria},
        findings=findings, figures=figures, evidence=shown("calibration.ece", "calibration.curve"),
    )


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


__all__ = ["run"]
