"""The utility check of a survival audit: decision curves at each horizon (Vickers et al., BMC Med Inform Decis Mak 2008).

Treating the patients whose predicted risk by the horizon reaches the threshold probability ``p_t``, the true and
false positives come from the Kaplan–Meier estimate among the treated (``audit.stats.survival.SurvivalNetBenefit``),
so patients censored before the horizon count through the Kaplan–Meier curve rather than being dropped. Intervals:
the bootstrap of the dataset's own resample stream for the model, treat-all and their paired difference; the
verdict is the binary decision curve's rule (``checks.utility.net_benefit_criterion``) at ``settings.threshold``.
A horizon the follow-up cannot support is listed with the reason and not judged.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..context import AuditContext
from ..errors import AuditInputError
from ..evidence import shown
from ..stats.net_benefit import DEFAULT_THRESHOLDS, check_thresholds, curve_summary
from ..stats.survival import SurvivalNetBenefit, horizon_key, horizon_status
from ..tasks.survival import horizons
from ..verdicts import criterion, worst
from .base import Finding, Section
from .utility import NAME, net_benefit_criterion, range_criterion, useful_range

TITLE = "Clinical utility (decision curves)"


def run(ctx: AuditContext) -> Section:
    settings = ctx.spec.settings
    try:
        thresholds = check_thresholds(settings.dca_thresholds or DEFAULT_THRESHOLDS)
        if 0 < settings.threshold < 1 and not np.any(np.isclose(thresholds, settings.threshold, rtol=0, atol=1e-12)):
            thresholds = np.sort(np.r_[thresholds, settings.threshold])
    except ValueError as exc:
        raise AuditInputError(f"settings.dca_thresholds: {exc}") from None
    if ctx.internal.p.shape[1] < 2:
        why = "net benefit needs the predicted risk by the horizon; only a risk score (data.risk_score) is given"
        return Section(NAME, TITLE, "not run", {"reason": why}, [Finding(NAME, "info", f"The utility check was not run: {why}.")])
    hs = horizons(settings)
    several = len(hs) > 1
    curves, criteria, findings, unjudged = {}, [], [], []
    for ds in ctx.datasets.values():
        time, event = ds.y[:, 0], ds.y[:, 1].astype(np.int8)
        for j, h in enumerate(hs):
            hk = horizon_key(h)
            name = f"{ds.name} at {hk}" if several else ds.name
            status = horizon_status(time, event, h)
            if not status.estimable:
                unjudged.append({"dataset": ds.name, "horizon": hk, "reason": status.reason})
                criteria.append(criterion("net benefit above treat-all and treat-none", "not judged: the horizon is not estimable",
                                          "insufficient evidence", ds.name, "net_benefit", None, 0.0, status.reason))
                continue
            ctx.report_progress(f"utility: decision curve on {ds.name} at {hk}")
            risk = ds.p[:, 1 + j]
            stat = SurvivalNetBenefit(time, event, risk, h, thresholds)
            curve = curve_summary(stat, risk, ctx.engine, ctx.stream(ds), ctx.design(ds), settings.dca_range)
            curve["horizon"] = hk
            curves[name] = curve
            findings.append(useful_range(name, curve))
            if settings.dca_range is None:
                c = net_benefit_criterion(ds.name, curve, settings.threshold, settings.confidence)
            else:
                c = range_criterion(ds.name, curve, settings.confidence)
            c["horizon"] = hk
            c["criterion"] += f" at {hk}"
            criteria.append(c)
    return Section(
        name=NAME,
        title=TITLE,
        status=worst(c["verdict"] for c in criteria),
        data={"task": "survival", "confidence": settings.confidence, "threshold": settings.threshold, "criteria": criteria,
              "datasets": curves, "not_estimable": unjudged,
              "method": "net benefit at the horizon with Kaplan–Meier true and false positives (Vickers et al. 2008)"},
        findings=findings,
        figures={"decision_curve": plots.decision_curve_figure(curves)} if curves else {},
        evidence=shown("utility.net_benefit"),
    )
