"""One estimate per quantity: a dataset's binary metrics, computed once and read by every check.

The performance table, the fairness section's "all patients" row, the executive summary and the
benchmark all print the same numbers for the same dataset, because they all come from here:
``cell_estimates`` (``audit.stats.intervals``) over the bootstrap of the dataset's one resample
stream (``AuditContext.stream``) under its sampling design (``AuditContext.design``).
"""

from __future__ import annotations

import numpy as np

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


#: Multiclass metrics that depend on the classes' prevalence in the sample: not estimable under case-control sampling.
MULTICLASS_PREVALENCE_DEPENDENT = frozenset({
    "accuracy", "top2_accuracy", "macro_f1", "auroc_ovr_weighted", "brier", "log_loss", "kappa_quadratic",
    "kappa_linear", "rps", "mae_grade", "ppv", "npv", "auroc_cumulative",
})
#: Multiclass metrics that are a count over the patients: Wilson or exact intervals (unclustered data).
MULTICLASS_PROPORTIONS = frozenset({"accuracy", "top2_accuracy"})


def multiclass_estimates(ctx: AuditContext, ds: EvaluatedDataset, one_sided: bool = False) -> dict:
    """Every multiclass metric of ``ds`` with its interval, cached on the context: ``{"metrics": {name: Estimate},
    "per_class": {k: {metric: Estimate}}, "cumulative": {k: Estimate}}`` (class codes ``k``; cumulative splits
    grade >= k for ordinal outcomes).

    Intervals follow the binary rules (``stats.intervals``): accuracy and top-2 accuracy and each class's
    one-vs-rest sensitivity, specificity, PPV and NPV are proportions (Wilson, exact near 0 or n); each
    class's AUROC and each cumulative split's AUROC the AUROC rule; the rest the bootstrap of the dataset's
    one resample stream; every interval the cluster bootstrap under ``data.cluster``.
    """
    from .stats.estimate import not_estimable
    from .stats.intervals import auroc_estimate, cell_estimates, proportion_estimate
    from .stats.multiclass import LOG_LOSS_CLIP, PER_CLASS_METRICS, decisions, per_class_name

    key = ("multiclass_estimates", ds.name, one_sided)
    if key in ctx.cache:
        return ctx.cache[key]
    rules = IntervalRules.from_settings(ctx.spec.settings)
    if one_sided:
        rules = rules.one_sided()
    boot = multiclass_bootstrap(ctx, ds)
    if rules.confidence != boot.confidence:
        boot = boot.at_confidence(rules.confidence)
    names, column = multiclass_columns(ctx), {}
    column = {m: j for j, m in enumerate(names)}
    clusters = ctx.design(ds).clusters
    case_control = rules.sampling == "case-control"
    y, P = np.asarray(ds.y), ds.p
    decided = decisions(P)
    n = ds.n

    def booted(name: str) -> Estimate:
        est = boot.estimate_at(column[name], n)
        return est if clusters is None else Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason)

    prevalence_why = "not estimable under case-control sampling: it depends on the classes' prevalence, which the design fixed"
    metrics: dict[str, Estimate] = {}
    for name in ctx.task.metric_names(ctx.spec.data):
        if case_control and name in MULTICLASS_PREVALENCE_DEPENDENT:
            metrics[name] = not_estimable(prevalence_why, "case-control", n)
        elif name in MULTICLASS_PROPORTIONS and clusters is None:
            hits = int((decided == y).sum()) if name == "accuracy" else int(round(boot.estimate[column[name]] * n))
            metrics[name] = proportion_estimate(hits, n, rules)
        elif name == "log_loss" and not np.isfinite(boot.estimate[column[name]]):
            zero = int((P[np.arange(n), y] <= 0).sum())
            metrics[name] = not_estimable(
                f"infinite: {zero} patient{'s' if zero != 1 else ''} got probability 0 for their true class; "
                f"the log loss with probabilities clipped at {LOG_LOSS_CLIP:g} is given beside it", "bootstrap", n)
            metrics["log_loss_clipped"] = booted("log_loss_clipped")
        else:
            metrics[name] = booted(name)
    labels = ctx.task.classes(ctx.spec.data)
    per_class: dict[int, dict[str, Estimate]] = {}
    for k in range(len(labels)):
        positive = y == k
        if not positive.any():
            why = "not estimable: the class is absent from these data"
            per_class[k] = {m: not_estimable(why, "none", n) for m in PER_CLASS_METRICS}
            continue
        cell = cell_estimates(positive, (decided == k).astype(float), 0.5, ("sensitivity", "specificity", "ppv", "npv"),
                              lambda m, k=k: booted(per_class_name(m, k)), rules, clusters)
        if case_control:
            cell.update({m: not_estimable(prevalence_why, "case-control", n) for m in ("ppv", "npv")})
        cell["auroc"] = auroc_estimate(positive, P[:, k], lambda m, k=k: booted(per_class_name("auroc", k)), rules, clusters)
        per_class[k] = {m: cell[m] for m in PER_CLASS_METRICS}
    cumulative: dict[int, Estimate] = {}
    if ctx.spec.data.ordinal:
        for k in range(1, len(labels)):
            if case_control:
                cumulative[k] = not_estimable(prevalence_why, "case-control", n)
                continue
            cumulative[k] = auroc_estimate(y >= k, P[:, k:].sum(axis=1), lambda m, k=k: booted(f"auroc_cumulative[{k}]"), rules, clusters)
    ctx.cache[key] = {"metrics": metrics, "per_class": per_class, "cumulative": cumulative}
    return ctx.cache[key]


def multiclass_columns(ctx: AuditContext) -> tuple[str, ...]:
    """The multiclass kernel's columns: the task's metrics, the clipped log loss, each class's one-vs-rest metrics
    and (ordinal) each cumulative split's AUROC."""
    from .stats.multiclass import PER_CLASS_METRICS, per_class_name

    data = ctx.spec.data
    k = len(ctx.task.classes(data))
    per_class = tuple(per_class_name(m, c) for c in range(k) for m in PER_CLASS_METRICS)
    cumulative = tuple(f"auroc_cumulative[{c}]" for c in range(1, k)) if data.ordinal else ()
    return ctx.task.metric_names(data) + ("log_loss_clipped",) + per_class + cumulative


def multiclass_bootstrap(ctx: AuditContext, ds: EvaluatedDataset) -> BootstrapResult:
    """The bootstrap of every multiclass column on ``ds``'s one resample stream, computed once."""
    key = ("multiclass_bootstrap", ds.name)
    if key not in ctx.cache:
        kernel = ctx.task.kernel(ds.target, ds.prediction, ctx.spec.settings, multiclass_columns(ctx))
        ctx.cache[key] = ctx.engine.bootstrap(kernel, ctx.design(ds), ctx.stream(ds))
    return ctx.cache[key]


def survival_bootstrap(ctx: AuditContext, ds: EvaluatedDataset) -> BootstrapResult:
    """The bootstrap of every metric at every horizon (``stats.survival.SurvivalMetrics``) on ``ds``'s one resample
    stream, computed once."""
    key = ("survival_bootstrap", ds.name)
    if key not in ctx.cache:
        kernel = ctx.task.kernel(ds.target, ds.prediction, ctx.spec.settings)
        ctx.cache[key] = ctx.engine.bootstrap(kernel, ctx.design(ds), ctx.stream(ds))
    return ctx.cache[key]


def survival_estimates(ctx: AuditContext, ds: EvaluatedDataset, one_sided: bool = False) -> dict:
    """Every survival metric of ``ds`` with its interval, cached: ``{"metrics": {"harrell_c", "uno_c"},
    "horizons": {h: {metric: Estimate}}, "status": {h: HorizonStatus}, "concordance": {kind: stats.survival.Concordance}}``
    (``h`` the horizon key).

    The concordance indices (truncated at the largest horizon, ranked by ``data.risk_score`` or the risk at that
    horizon) get the infinitesimal-jackknife Wald interval of ``survival::concordance`` (grouped by
    ``data.cluster``); the O/E ratio McLernon et al.'s ``exp(+-z / sqrt(events))``; every other metric at a
    horizon the bootstrap of the dataset's one resample stream. A horizon the data cannot support
    (``stats.survival.horizon_status``) gives "not estimable" with the reason for each metric there; a risk score
    without risks gives the AUC only. ``one_sided`` gives intervals whose ends are one-sided bounds at the spec's
    confidence (the two-sided interval at ``2c - 1``), for judging targets.
    """
    from .stats.estimate import not_estimable
    from .stats.survival import HORIZON_METRICS, RISK_METRICS, concordance, horizon_key, horizon_status, oe_interval
    from .tasks.survival import horizons

    key = ("survival_estimates", ds.name, one_sided)
    if key in ctx.cache:
        return ctx.cache[key]
    settings = ctx.spec.settings
    confidence = 2 * settings.confidence - 1 if one_sided else settings.confidence
    boot = survival_bootstrap(ctx, ds)
    if confidence != boot.confidence:
        boot = boot.at_confidence(confidence)
    T, P = np.asarray(ds.y), np.asarray(ds.p)
    time, event = T[:, 0], T[:, 1].astype(np.int8)
    hs = horizons(settings)
    clusters = ctx.design(ds).clusters
    n = ds.n
    metrics, fits = {}, {}
    for kind in ("harrell", "uno"):
        c = fits[kind] = concordance(time, event, P[:, 0], hs[-1], kind, clusters)
        method = ("cluster-" if clusters is not None else "") + "infinitesimal-jackknife"
        if not np.isfinite(c.value):
            metrics[f"{kind}_c"] = not_estimable("not estimable: no comparable pairs (no events before the horizon)", method, n)
        else:
            ci = c.interval(confidence)
            metrics[f"{kind}_c"] = Estimate(c.value, ci, method, n, reason=None if ci else "no interval: the standard error is zero")
    has_risks = P.shape[1] > 1
    column = {name: j for j, name in enumerate(ctx.task.kernel(ds.target, ds.prediction, settings).names)}
    per_horizon, status = {}, {}
    for h in hs:
        hk = horizon_key(h)
        st = horizon_status(time, event, h)
        status[hk] = st
        row = {}
        for m in HORIZON_METRICS:
            if not st.estimable:
                row[m] = not_estimable(st.reason, "none", n)
            elif m in RISK_METRICS and not has_risks:
                row[m] = not_estimable("not estimable: only a risk score is given (data.risk_score ranks patients; "
                                       "give the risk by the horizon in data.prediction)", "none", n)
            elif m == "oe_ratio":
                value = float(boot.estimate[column[f"oe_ratio@{hk}"]])
                ci = oe_interval(value, st.events, confidence)
                row[m] = Estimate(value, ci, "poisson-log", st.events)
            else:
                est = boot.estimate_at(column[f"{m}@{hk}"], n)
                row[m] = est if clusters is None else Estimate(est.value, est.ci, f"cluster-{est.method}", est.n, reason=est.reason)
        per_horizon[hk] = row
    ctx.cache[key] = {"metrics": metrics, "horizons": per_horizon, "status": status, "concordance": fits}
    return ctx.cache[key]


# --------------------------------------------------------------------------------------------
# Segmentation: means over cases
# --------------------------------------------------------------------------------------------

#: The mean of a distance or overlap over the cases where both masks hold the structure, shown beside each mean.
DETECTED_SUFFIX = "|detected"
#: The mean over the counted cases that are not failures (missed or false-positive structures), for the failure-
#: mixture interval (``stats.segmentation.failure_mixture_interval``).
REST_SUFFIX = "|rest"
#: Metrics whose failures (missed, false positive) all take one value: 0, or the distance cap (``None`` here).
FAILURE_VALUES = {"dice": 0.0, "iou": 0.0, "nsd": 0.0, "hd": None, "hd95": None, "masd": None, "assd": None}


def segmentation_statistic(cases, metrics: tuple[str, ...], rows=None):
    """One ``stats.segmentation.CaseMeans`` over the cases (all, or ``rows``): per structure, the mean of each metric
    (``<metric>/<structure>``), its mean over detected cases (``<metric>|detected/<structure>``: both masks hold the
    structure), for metrics with a fixed failure value the mean over the cases that did not fail (``|rest``), the
    detection rate, false-positive lesions per case, and lesion-wise sensitivity (a ratio of sums)."""
    from .stats.segmentation import BOTH_PRESENT, CASE_METRICS, FALSE_POSITIVE, LESION_COUNTS, MISSED, CaseMeans

    rows = slice(None) if rows is None else rows
    values, status, lesions = cases.values[rows], cases.status[rows], cases.lesions[rows]
    cols, names = [], []
    for j, s in enumerate(cases.structures):
        for m in metrics:
            x = values[:, j, CASE_METRICS.index(m)]
            cols += [x, np.where(status[:, j] == BOTH_PRESENT, x, np.nan)]
            names += [f"{m}/{s}", f"{m}{DETECTED_SUFFIX}/{s}"]
            if m in FAILURE_VALUES:
                cols.append(np.where(np.isin(status[:, j], (MISSED, FALSE_POSITIVE)), np.nan, x))
                names.append(f"{m}{REST_SUFFIX}/{s}")
        present = np.isin(status[:, j], (BOTH_PRESENT, MISSED))
        cols += [np.where(present, (status[:, j] == BOTH_PRESENT).astype(float), np.nan),
                 lesions[:, j, LESION_COUNTS.index("false_positive_lesions")]]
        names += [f"detection_rate/{s}", f"false_positive_lesions/{s}"]
    num = lesions[:, :, LESION_COUNTS.index("detected_lesions")]
    den = lesions[:, :, LESION_COUNTS.index("reference_lesions")]
    names += [f"lesion_sensitivity/{s}" for s in cases.structures]
    return CaseMeans(np.column_stack(cols), tuple(names), num, den)


def segmentation_metrics(ctx: AuditContext) -> tuple[str, ...]:
    """The metrics summarised over cases: NSD only with a tolerance (``settings.nsd_tolerance``)."""
    from .tasks.segmentation import SEGMENTATION_METRICS

    return tuple(m for m in SEGMENTATION_METRICS if m != "nsd" or ctx.spec.settings.nsd_tolerance is not None)


def segmentation_bootstrap(ctx: AuditContext, ds: EvaluatedDataset) -> BootstrapResult:
    """The bootstrap over cases of every segmentation mean (``segmentation_statistic``) on ``ds``'s one stream."""
    key = ("segmentation_bootstrap", ds.name)
    if key not in ctx.cache:
        ctx.cache[key] = ctx.engine.bootstrap(segmentation_statistic(ds.cases, segmentation_metrics(ctx)), ctx.design(ds),
                                              ctx.stream(ds))
    return ctx.cache[key]


def segmentation_estimates(ctx: AuditContext, ds: EvaluatedDataset, one_sided: bool = False) -> dict:
    """Per structure, every summary of ``ds``'s cases with its interval, cached: ``{structure: {column: Estimate}}`` with
    columns ``<metric>`` (mean over counted cases), ``<metric>|detected``, ``<metric>|median`` (order-statistic
    interval), ``detection_rate``, ``false_positive_lesions``, ``lesion_sensitivity``.

    Means: the bootstrap over cases (patients' cases together under ``data.cluster``) of the dataset's one stream, BCa
    by default. A mean of a metric whose failures share one value (Dice, IoU, NSD at 0; distances at the cap) over
    unclustered cases gets the failure-mixture interval (``stats.segmentation.failure_mixture_interval``: the
    bootstrap of the other cases' mean combined with the Jeffreys posterior of the failure share), which keeps its
    coverage when failures are rare and a sample may hold none. The detection rate of unclustered cases is a proportion: the Wilson score interval, exact near 0 or
    n (``stats.intervals.proportion_estimate``), which holds its coverage where a bootstrap degenerates (every case
    detected).
    """
    from .stats.estimate import cluster_labelled, not_estimable
    from .stats.intervals import IntervalRules, proportion_estimate
    from .stats.segmentation import BOTH_PRESENT, MISSED, median_interval

    key = ("segmentation_estimates", ds.name, one_sided)
    if key in ctx.cache:
        return ctx.cache[key]
    settings = ctx.spec.settings
    confidence = 2 * settings.confidence - 1 if one_sided else settings.confidence
    boot = segmentation_bootstrap(ctx, ds)
    if confidence != boot.confidence:
        boot = boot.at_confidence(confidence)
    cases = ds.cases
    clustered = ctx.spec.data.cluster is not None
    column = {name: j for j, name in enumerate(segmentation_statistic(cases, segmentation_metrics(ctx)).names)}
    rules = IntervalRules.from_settings(settings)
    rules = rules if not one_sided else rules.one_sided()
    out = {}
    for j, s in enumerate(cases.structures):
        row = {}
        for name in [c.split("/")[0] for c in column if c.endswith(f"/{s}")]:
            est = boot.estimate_at(column[f"{name}/{s}"], cases.n)
            if name == "detection_rate" and not clustered and np.isfinite(est.value):
                present = np.isin(cases.status[:, j], (BOTH_PRESENT, MISSED))
                k = int((cases.status[present, j] == BOTH_PRESENT).sum())
                est = proportion_estimate(k, int(present.sum()), rules, what="cases")
            elif name in FAILURE_VALUES and not clustered and np.isfinite(est.value):
                est = failure_mixture(ctx, ds, boot, column, name, s, j, confidence) or est
            else:
                est = cluster_labelled(est, clustered)
            row[name] = est
        for m in segmentation_metrics(ctx):
            x = cases.metric(m)[:, j]
            median, ci = median_interval(x, confidence)
            counted = int(np.isfinite(x).sum())
            row[f"{m}|median"] = (Estimate(median, ci, "order-statistic", counted,
                                           reason=None if ci else "no interval: fewer than 6 counted cases")
                                  if counted else not_estimable("not estimable: no counted case", "order-statistic", 0))
        out[s] = row
    ctx.cache[key] = out
    return out


def failure_mixture(ctx: AuditContext, ds: EvaluatedDataset, boot: BootstrapResult, column: dict, metric: str,
                    structure: str, j: int, confidence: float) -> Estimate | None:
    """The failure-mixture interval of one structure's mean ``metric`` (``segmentation_estimates``); ``None`` when
    every counted case failed (the bootstrap's answer stands)."""
    from .stats import stream_rng
    from .stats.segmentation import FALSE_POSITIVE, MISSED, failure_mixture_interval

    x = ds.cases.metric(metric)[:, j]
    counted = np.isfinite(x)
    failures = int(np.isin(ds.cases.status[counted, j], (MISSED, FALSE_POSITIVE)).sum())
    value = FAILURE_VALUES[metric]
    value = ctx.spec.settings.distance_cap if value is None else value
    rng = stream_rng(ctx.spec.settings.seed, f"{ctx.stream(ds)}/failure-share/{metric}/{structure}")
    ci = failure_mixture_interval(boot.replicates[:, column[f"{metric}{REST_SUFFIX}/{structure}"]], failures,
                                  int(counted.sum()), value, confidence, rng)
    if ci is None:
        return None
    return Estimate(float(np.mean(x[counted])), ci, "bootstrap-jeffreys-mixture", ds.n)
