"""One estimate per quantity: a dataset's binary metrics, computed once and read by every check.

The performance table, the fairness section's "all patients" row, the executive summary and the
benchmark all print the same numbers for the same dataset, because they all come from here:
``cell_estimates`` (``audit.stats.intervals``) over the bootstrap of the dataset's one resample
stream (``AuditContext.stream``) under its sampling design (``AuditContext.design``).
"""

from __future__ import annotations

from .context import AuditContext, EvaluatedDataset
from .stats import BootstrapResult, Estimate
from .stats.intervals import IntervalRules, cell_estimates
from .stats.metrics import METRICS


def dataset_estimates(ctx: AuditContext, ds: EvaluatedDataset, one_sided: bool = False) -> dict[str, Estimate]:
    """Every metric of ``stats.metrics.METRICS`` for ``ds`` at the spec's threshold, cached on the context.

    ``one_sided`` gives the intervals whose ends are one-sided bounds at the spec's confidence, from
    the same resamples (``IntervalRules.one_sided``), for judging pre-specified targets.
    """
    settings = ctx.spec.settings
    rules = IntervalRules.from_settings(settings)
    if one_sided:
        rules = rules.one_sided()
    confidence = rules.confidence
    key = ("dataset_estimates", ds.name, one_sided)
    if key not in ctx.cache:
        design = ctx.design(ds)
        boot = dataset_bootstrap(ctx, ds)
        if confidence != boot.confidence:
            boot = boot.at_confidence(confidence)
        column = {m: j for j, m in enumerate(METRICS)}
        ctx.cache[key] = cell_estimates(
            ds.y, ds.p, settings.threshold, METRICS, lambda m: boot.estimate_at(column[m], ds.n), rules, design.clusters,
        )
    return ctx.cache[key]


def dataset_bootstrap(ctx: AuditContext, ds: EvaluatedDataset) -> BootstrapResult:
    """The bootstrap of every metric of ``stats.metrics.METRICS`` on ``ds``'s one resample stream, computed once
    (columns in ``METRICS`` order); checks that need replicates (external gaps) read it instead of resampling again."""
    key = ("dataset_bootstrap", ds.name)
    if key not in ctx.cache:
        kernel = ctx.task.kernel(ds.target, ds.prediction, ctx.spec.settings, METRICS)
        ctx.cache[key] = ctx.engine.bootstrap(kernel, ctx.design(ds), ctx.stream(ds))
    return ctx.cache[key]
