"""One estimate per quantity: a dataset's binary metrics, computed once and read by every check.

The performance table, the fairness section's "all patients" row, the executive summary and the
benchmark all print the same numbers for the same dataset, because they all come from here:
``cell_estimates`` (``audit.stats.intervals``) over the bootstrap of the dataset's one resample
stream (``AuditContext.stream``) under its sampling design (``AuditContext.design``).
"""

from __future__ import annotations

from .context import AuditContext, EvaluatedDataset
from .stats import BinaryMetrics, Estimate
from .stats.intervals import IntervalRules, cell_estimates
from .stats.metrics import METRICS


def dataset_estimates(ctx: AuditContext, ds: EvaluatedDataset) -> dict[str, Estimate]:
    """Every metric of ``stats.metrics.METRICS`` for ``ds`` at the spec's threshold, cached on the context."""
    key = ("dataset_estimates", ds.name)
    if key not in ctx.cache:
        design = ctx.design(ds)
        kernel = BinaryMetrics(ds.y, ds.p, ctx.spec.settings.threshold, METRICS)
        boot = ctx.engine.bootstrap(kernel, design, ctx.stream(ds))
        column = {m: j for j, m in enumerate(kernel.names)}
        ctx.cache[key] = cell_estimates(
            ds.y, ds.p, ctx.spec.settings.threshold, METRICS, lambda m: boot.estimate_at(column[m], ds.n),
            IntervalRules.from_settings(ctx.spec.settings), design.clusters,
        )
    return ctx.cache[key]
