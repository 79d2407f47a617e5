"""The external check: how much worse is the model elsewhere, is the difference real, and why.

For every external dataset against the internal test set:

- **Gaps with CIs** (external − internal): ``auroc`` by DeLong's variance for two independent
  samples; ``auprc``, ``sensitivity``, ``specificity``, ``brier`` from independent bootstraps of
  the two samples, each under its sampling design and its own resample stream (replicate b of one
  minus replicate b of the other, percentile interval); ``calibration_intercept`` and
  ``calibration_slope`` by Wald with the two standard errors combined. The internal and external
  values beside each gap are the datasets' own estimates (``audit.estimates``), the numbers the
  performance section prints.
- **Label shift**: prevalence in each dataset (Wilson) and its difference (Newcombe's hybrid
  score interval is not used; a Wald interval on the difference of proportions is given).
- **Covariate shift** per feature: standardised mean difference (pooled SD), Kolmogorov–Smirnov
  (numeric) or chi-square and total variation distance (categorical), and the population
  stability index over the internal deciles (or categories).
- **Domain classifier**: gradient boosting (scikit-learn's ``HistGradientBoostingClassifier``)
  trying to tell internal from external rows, its 5-fold cross-validated AUROC with DeLong's
  interval (0.5: indistinguishable), and the features that separate them most (permutation
  importance on a held-out third).
- **Prediction shift**: distribution of predicted risks (means, KS, PSI).
- **Calibration drift**: Brier score and O:E after updating the intercept only and after logistic
  recalibration on the external data — how much of the loss recalibration could fix. These are
  in-sample (optimistic) and say how much is fixable, not what a recalibrated model would achieve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit, ndtri

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..estimates import dataset_bootstrap, dataset_estimates
from ..evidence import SHOWN, shown
from ..groups import group_labels
from ..stats import Estimate, placements, proportion
from ..stats.auroc import auroc_interval
from ..stats.calibration import calibration_intercept, calibration_slope
from ..stats.delong import auroc_difference_independent
from ..stats.metrics import METRICS
from .base import Finding, Section

NAME = "external"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass", "survival", "segmentation")
BOOTSTRAP_METRICS = ("auprc", "sensitivity", "specificity", "brier")
#: Rows per dataset given to the domain classifier at most (seeded subsample beyond).
DOMAIN_ROWS = 20_000
PSI_EPS = 1e-4


def run(ctx: AuditContext) -> Section:
    if ctx.task.name == "multiclass":
        from . import external_multiclass

        return external_multiclass.run(ctx)
    if ctx.task.name == "survival":
        from . import external_survival

        return external_survival.run(ctx)
    if ctx.task.name == "segmentation":
        from . import external_segmentation

        return external_segmentation.run(ctx)
    if not ctx.external and len(sites(ctx)) < MIN_POOL:
        return Section(NAME, "External validation", "not run",
                       {"reason": f"no external dataset and fewer than {MIN_POOL} site groups: add one under data.external, or name a site column in data.site"},
                       [Finding(NAME, "info", "The external check was not run: the spec has no external dataset (data.external).")])
    internal = ctx.internal
    z = ndtri(0.5 + ctx.engine.confidence / 2)
    internal_boot = _bootstrap(internal, ctx)
    own = {ds.name: dataset_estimates(ctx, ds) for ds in ctx.datasets.values()}
    per_dataset, findings = {}, []
    for ds in ctx.external:
        ctx.report_progress(f"external: {ds.name} against test")
        features = feature_columns(ctx, ds)
        entry = {
            "gaps": gaps(internal, ds, internal_boot, _bootstrap(ds, ctx), ctx.engine.confidence, z, own[internal.name], own[ds.name]),
            "label_shift": label_shift(internal, ds, ctx.engine.confidence, z),
            "covariate_shift": covariate_shift(internal.dataset.frame, ds.dataset.frame, features),
            "domain_classifier": domain_classifier(internal.dataset.frame, ds.dataset.frame, features, ctx.spec.settings.seed, ctx.engine.confidence),
            "prediction_shift": prediction_shift(internal.p, ds.p),
            "recalibration": recalibration(ds),
        }
        entry["metrics"] = {m: gap["difference"] for m, gap in entry["gaps"].items()}  # the report's summary table
        per_dataset[ds.name] = entry
        findings += explain(ds.name, entry, ctx.engine.confidence)
    meta = meta_analysis(ctx)
    figures = {}
    if per_dataset:
        figures = {
            "gaps": plots.gap_figure({name: e["gaps"] for name, e in per_dataset.items()}, ctx.engine.confidence),
            "risk": plots.risk_distribution_figure({d.name: d.p for d in ctx.datasets.values()}),
            "shift": plots.shift_figure(per_dataset),
        }
    evidence = shown("external.validation", "external.gap", "external.shift") if ctx.external else {}
    if meta is not None:
        if meta["pooled"]["auroc"]["estimate"]["value"] is not None:
            evidence["external.sites"] = SHOWN
        findings.append(meta_finding(meta, ctx.engine.confidence))
    if meta is not None and meta["pooled"]["auroc"]["estimate"]["value"] is not None:
        figures["sites"] = plots.forest_figure(
            [{"name": "sites", "kind": "site", "attributes": [], "reference": None,
              "groups": [{"label": s["site"], "n": s["n"], "status": "ok", "reason": None,
                          "metrics": {"auroc": s["auroc"], "calibration_slope": s["calibration_slope"]}} for s in meta["sites"]]
              + [{"label": "pooled (random effects)", "n": sum(s["n"] for s in meta["sites"]), "status": "ok", "reason": None,
                  "metrics": {m: v["estimate"] for m, v in meta["pooled"].items()}}]}],
            ["auroc", "calibration_slope"], "all sites", None, confidence=ctx.engine.confidence,
        )
    return Section(
        name=NAME,
        title="External validation",
        status="warning" if any(f.severity != "info" for f in findings) else "pass",
        data={"reference": "test", "confidence": ctx.engine.confidence, "datasets": per_dataset, "meta_analysis": meta},
        findings=findings,
        figures=figures,
        evidence=evidence,
    )


def meta_finding(meta: dict, confidence: float) -> Finding:
    a = meta["pooled"]["auroc"]
    e = a["estimate"]
    if e["value"] is None or e.get("ci") is None:
        why = (e.get("reason") or "no interval").removeprefix("not estimable: ")
        return Finding(NAME, "info", f"The AUROC of the {meta['k']} external site(s) is not pooled: {why}.")
    if a["prediction_interval"] is None:
        het = (f"; with {a['k']} sites between-site heterogeneity cannot be estimated (at least {MIN_HETEROGENEITY} needed), "
               "so no prediction interval for a new site is given")
    else:
        lo, hi = a["prediction_interval"]
        het = (f"; {confidence:.0%} prediction interval for a new site {lo:.2f} to {hi:.2f} (with few sites it is too narrow: "
               f"it covered 90–93% in simulation with 5–10 sites); heterogeneity tau² = {a['tau2']:.3g} "
               f"(logit scale), I² = {a['i2']:.0%}")
    return Finding(NAME, "info", f"Across {a['k']} sites the pooled AUROC is {e['value']:.3f} ({confidence:.0%} CI {e['ci'][0]:.3f} to "
                   f"{e['ci'][1]:.3f}, random effects with the modified Hartung–Knapp–Sidik–Jonkman interval){het}.")


def _bootstrap(ds: EvaluatedDataset, ctx: AuditContext):
    """The gap metrics' replicates from the dataset's shared bootstrap (``audit.estimates``), not a new one."""
    return dataset_bootstrap(ctx, ds).select([METRICS.index(m) for m in BOOTSTRAP_METRICS])


def feature_columns(ctx: AuditContext, ds: EvaluatedDataset) -> list[str]:
    """The model's inputs when known, else every column but target, prediction, id and site."""
    listed = getattr(ctx.model, "features", None) or ctx.spec.data.features
    data = ctx.spec.data
    skip = {c for c in (*data.target_columns, *data.model_output_columns, data.id, data.site) if c}
    shared = [c for c in ctx.internal.dataset.frame.columns if c in ds.dataset.frame.columns and c not in skip]
    return [c for c in (listed or shared) if c in shared]


def _wald_se(est: Estimate, z: float) -> float:
    return (est.ci[1] - est.ci[0]) / (2 * z) if est.ci is not None else float("nan")


def gaps(internal, external, boot_i, boot_e, confidence: float, z: float, own_i: dict, own_e: dict) -> dict:
    """External minus internal for each gap metric; ``own_i`` / ``own_e`` are the datasets' own estimates."""
    out = {}
    try:
        diff, p_value = auroc_difference_independent(internal.y, internal.p, external.y, external.p, confidence)
        diff = diff.to_dict()
    except ValueError:  # fewer than two of a class in one sample
        diff, p_value = Estimate(np.nan, None, "delong-unpaired", internal.n + external.n,
                                 reason="not estimable: a sample has fewer than two patients of a class").to_dict(), None
    out["auroc"] = {"internal": own_i["auroc"].to_dict(), "external": own_e["auroc"].to_dict(), "difference": diff, "p_value": p_value}
    alpha = 1 - confidence
    for j, m in enumerate(BOOTSTRAP_METRICS):
        diff = boot_e.replicates[:, j] - boot_i.replicates[:, j]
        diff = diff[np.isfinite(diff)]
        ci = tuple(np.quantile(diff, [alpha / 2, 1 - alpha / 2])) if diff.size else None
        out[m] = {
            "internal": own_i[m].to_dict(), "external": own_e[m].to_dict(),
            "difference": Estimate(boot_e.estimate[j] - boot_i.estimate[j], ci, "bootstrap-percentile-independent", internal.n + external.n).to_dict(),
        }
    for m, fn in (("calibration_intercept", calibration_intercept), ("calibration_slope", calibration_slope)):
        a, b = fn(internal.y, internal.p, confidence), fn(external.y, external.p, confidence)
        se = np.hypot(_wald_se(a, z), _wald_se(b, z))
        out[m] = {"internal": a.to_dict(), "external": b.to_dict(),
                  "difference": Estimate(b.value - a.value, (b.value - a.value - z * se, b.value - a.value + z * se), "wald", internal.n + external.n).to_dict()}
    return out


def label_shift(internal, external, confidence: float, z: float) -> dict:
    a = proportion(internal.n_events, internal.n, confidence)
    b = proportion(external.n_events, external.n, confidence)
    se = np.sqrt(a.value * (1 - a.value) / internal.n + b.value * (1 - b.value) / external.n)
    d = b.value - a.value
    return {"internal": a.to_dict(), "external": b.to_dict(), "difference": Estimate(d, (d - z * se, d + z * se), "wald", internal.n + external.n).to_dict()}


def psi(reference: np.ndarray, other: np.ndarray) -> float:
    """Population stability index ``sum (o - r) ln(o / r)`` over given bin shares (floored at 1e-4)."""
    r, o = np.maximum(reference, PSI_EPS), np.maximum(other, PSI_EPS)
    return float(np.sum((o - r) * np.log(o / r)))


def covariate_shift(a: pd.DataFrame, b: pd.DataFrame, features: list[str]) -> list[dict]:
    out = []
    for col in features:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y) and x.nunique() > 10:
            xv, yv = x.dropna().to_numpy(float), y.dropna().to_numpy(float)
            pooled = np.sqrt((xv.var(ddof=1) + yv.var(ddof=1)) / 2)
            ks = stats.ks_2samp(xv, yv)
            edges = np.unique(np.quantile(xv, np.linspace(0, 1, 11)))
            edges[0], edges[-1] = -np.inf, np.inf
            share = lambda v: np.histogram(v, edges)[0] / max(v.size, 1)  # noqa: E731
            out.append({"feature": col, "kind": "numeric", "smd": float((yv.mean() - xv.mean()) / pooled) if pooled > 0 else 0.0,
                        "ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue), "psi": psi(share(xv), share(yv)),
                        "missing_internal": float(x.isna().mean()), "missing_external": float(y.isna().mean())})
        else:
            xs, ys = x.astype("string").fillna("(missing)"), y.astype("string").fillna("(missing)")
            cats = sorted(set(xs) | set(ys))
            ca = xs.value_counts().reindex(cats, fill_value=0).to_numpy()
            cb = ys.value_counts().reindex(cats, fill_value=0).to_numpy()
            table = np.vstack([ca, cb])
            table = table[:, table.sum(axis=0) > 0]
            chi = stats.chi2_contingency(table) if table.shape[1] > 1 else None
            pa, pb = ca / ca.sum(), cb / cb.sum()
            out.append({"feature": col, "kind": "categorical", "tv": float(0.5 * np.abs(pa - pb).sum()),
                        "chi2_p": float(chi.pvalue) if chi is not None else None, "psi": psi(pa, pb),
                        "missing_internal": float(x.isna().mean()), "missing_external": float(y.isna().mean())})
    return sorted(out, key=lambda r: -r["psi"])


def domain_classifier(a: pd.DataFrame, b: pd.DataFrame, features: list[str], seed: int, confidence: float) -> dict:
    """Cross-validated AUROC of a classifier telling external from internal rows, and what separates them."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

    from threadpoolctl import threadpool_limits

    from ..stats.auroc import auroc_interval

    if not features:
        return {"auroc": None, "top_features": [], "reason": "no shared feature columns"}
    rng = np.random.default_rng(seed)
    frames = []
    for frame in (a, b):
        rows = rng.choice(len(frame), DOMAIN_ROWS, replace=False) if len(frame) > DOMAIN_ROWS else np.arange(len(frame))
        frames.append(frame.iloc[np.sort(rows)][features])
    X = pd.concat(frames, ignore_index=True)
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("string").fillna("(missing)").astype("category")
    label = np.r_[np.zeros(len(frames[0]), int), np.ones(len(frames[1]), int)]
    model = HistGradientBoostingClassifier(max_iter=200, random_state=seed, categorical_features="from_dtype")
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    # one OpenMP thread: gradient boosting's threads spin-wait when another process holds a core, which made this
    # step 10-50x slower on a loaded 2-core machine; on <= 2 x 20,000 rows one thread is fast enough
    with threadpool_limits(limits=1, user_api="openmp"):
        scores = cross_val_predict(model, X, label, cv=folds, method="predict_proba")[:, 1]
        X_fit, X_hold, y_fit, y_hold = train_test_split(X, label, test_size=1 / 3, stratify=label, random_state=seed)
        fitted = model.fit(X_fit, y_fit)
        imp = permutation_importance(fitted, X_hold, y_hold, scoring="roc_auc", n_repeats=5, random_state=seed)
    auc = auroc_interval(label, scores, confidence)
    order = np.argsort(-imp.importances_mean)[:10]
    method = "HistGradientBoosting, 5-fold cross-validated; permutation importance on a held-out third"
    if max(len(a), len(b)) > DOMAIN_ROWS:  # the classifier's cost is bounded; the subsample is stated
        method += (f"; on a random {DOMAIN_ROWS:,} rows of each dataset larger than that "
                   f"(internal {len(frames[0]):,} of {len(a):,}, external {len(frames[1]):,} of {len(b):,})")
    return {"auroc": auc.to_dict(), "method": method,
            "top_features": [{"feature": str(X.columns[i]), "importance": float(imp.importances_mean[i]), "sd": float(imp.importances_std[i])} for i in order]}


def prediction_shift(p_internal: np.ndarray, p_external: np.ndarray) -> dict:
    ks = stats.ks_2samp(p_internal, p_external)
    edges = np.unique(np.quantile(p_internal, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    share = lambda v: np.histogram(v, edges)[0] / v.size  # noqa: E731
    return {"mean_internal": float(p_internal.mean()), "mean_external": float(p_external.mean()),
            "ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue), "psi": psi(share(p_internal), share(p_external))}


def recalibration(ds: EvaluatedDataset) -> dict:
    """Brier and O:E as the model stands, after updating its intercept, after logistic recalibration (in-sample)."""
    y, p = ds.y.astype(float), ds.p
    lp = logit(np.clip(p, 1e-12, 1 - 1e-12))
    a = calibration_intercept(y, p).value
    slope = calibration_slope(y, p)
    versions = {"original": p}
    if np.isfinite(a):
        versions["intercept_updated"] = expit(lp + a)
    fitted = _logistic_recalibration(y, lp)
    if fitted is not None:
        versions["logistic_recalibrated"] = fitted
    out = {name: {"brier": float(np.mean((q - y) ** 2)), "oe_ratio": float(y.sum() / q.sum()) if q.sum() > 0 else None}
           for name, q in versions.items()}
    missing = [name for name in ("intercept_updated", "logistic_recalibrated") if name not in versions]
    if missing:  # an outcome absent or perfectly separated, or constant predictions: no fit to report
        out["reason"] = "recalibration not estimable on these data (no events, no non-events, or constant or separated predictions)"
    return out | {name: None for name in missing} | {
        "intercept_update": float(a) if np.isfinite(a) else None, "slope": slope.value if np.isfinite(slope.value) else None}


def _logistic_recalibration(y: np.ndarray, lp: np.ndarray) -> np.ndarray | None:
    """In-sample logistic recalibration ``expit(a + b lp)``, or None when the fit is not estimable."""
    import warnings

    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM

    from ..stats.calibration import release_fits

    if np.ptp(lp) == 0 or y.min() == y.max():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = GLM(y, np.column_stack([np.ones(y.size), lp]), family=Binomial()).fit()
    except Exception:  # noqa: BLE001 - statsmodels on separated data (PerfectSeparationError and kin)
        return None
    q = expit(fit.params[0] + fit.params[1] * lp)
    del fit
    release_fits(y.size)
    return q if np.all(np.isfinite(q)) else None


def explain(name: str, e: dict, confidence: float) -> list[Finding]:
    lvl = f"{confidence:.0%}"
    out = []
    g = e["gaps"]["auroc"]
    d = g["difference"]
    if d.get("ci") is None or d.get("value") is None:
        out.append(Finding(NAME, "info", f"The AUROC difference between {name} and the internal test set is not estimable: "
                                         f"{(d.get('reason') or 'no interval').removeprefix('not estimable: ')}.", name))
    else:
        sev = "warning" if d["ci"][1] < 0 else "info"
        out.append(Finding(NAME, sev, f"AUROC on {name} differs from the internal test set by {d['value']:+.3f} ({lvl} CI {d['ci'][0]:+.3f} "
                                      f"to {d['ci'][1]:+.3f}, DeLong, independent samples).", name))
    ls = e["label_shift"]
    dd = ls["difference"]
    if dd.get("ci") and (dd["ci"][0] > 0 or dd["ci"][1] < 0):
        out.append(Finding(NAME, "warning", f"Label shift: prevalence is {ls['external']['value']:.2f} on {name} against {ls['internal']['value']:.2f} internally "
                           f"(difference {dd['value']:+.2f}, {lvl} CI {dd['ci'][0]:+.2f} to {dd['ci'][1]:+.2f}); PPV, NPV and calibration will differ.", name))
    out += domain_findings(name, e["domain_classifier"], confidence)
    ps = e["prediction_shift"]
    out.append(Finding(NAME, "warning" if ps["psi"] > 0.25 else "info",
                       f"Prediction shift: mean predicted risk is {ps['mean_external']:.2f} on {name} against {ps['mean_internal']:.2f} internally "
                       f"(population stability index {ps['psi']:.2f}; above 0.25 is usually read as a major shift).", name))
    r = e["recalibration"]
    if r.get("intercept_updated") is None or r.get("logistic_recalibrated") is None:
        out.append(Finding(NAME, "info", f"On {name}, {r.get('reason')}.", name))
        return out
    out.append(Finding(NAME, "info", f"On {name}, updating the intercept alone changes the Brier score from {r['original']['brier']:.3f} to {r['intercept_updated']['brier']:.3f}, "
                       f"logistic recalibration to {r['logistic_recalibrated']['brier']:.3f} (in-sample): what recalibration cannot fix is discrimination.", name))
    return out


def domain_findings(name: str, dc: dict, confidence: float) -> list[Finding]:
    """Covariate shift as the domain classifier sees it: how well it tells ``name`` from the internal patients, and by what."""
    if not (dc.get("auroc") and dc["auroc"]["value"] is not None):
        return []
    lvl = f"{confidence:.0%}"
    top = ", ".join(f["feature"] for f in dc["top_features"][:3])
    a = dc["auroc"]
    sev = "warning" if a["ci"] and a["ci"][0] is not None and a["ci"][0] > 0.7 else "info"
    lo, hi = ((a["ci"] or [None, None])[k] for k in (0, 1))
    shown = f"{lvl} CI {lo:.2f} to {hi:.2f}" if lo is not None and hi is not None else (f"{lvl} lower bound {lo:.2f}" if lo is not None else "no interval")
    return [Finding(NAME, sev, f"Covariate shift: a classifier tells {name} from the internal patients with AUROC {a['value']:.2f} ({shown}; 0.5 = indistinguishable); "
                    f"the features that separate them most: {top}.", name)]


def sites(ctx: AuditContext) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, y, p) per cluster: the external datasets, split by ``data.site`` when it is set, and the internal
    test set's ``data.site`` groups; the internal test set as a whole only with ``settings.pool_internal``."""
    out = []
    column = ctx.spec.data.site
    for ds in ctx.datasets.values():
        if column is None:
            if ds.role == "external" or ctx.spec.settings.pool_internal:
                out.append((ds.name, ds.y, ds.p))
            continue
        labels = group_labels(ds.dataset.frame[column])
        out += [(f"{ds.name}: {lab}", ds.y[labels == lab], ds.p[labels == lab]) for lab in np.unique(labels)]
    return out


#: Clusters needed to pool, and to estimate between-cluster heterogeneity and a prediction interval.
MIN_POOL, MIN_HETEROGENEITY = 3, 5


def hksj_pool(effects: np.ndarray, variances: np.ndarray, confidence: float) -> dict:
    """Random-effects pooling with the modified Hartung–Knapp–Sidik–Jonkman interval.

    tau² by Paule–Mandel (statsmodels ``combine_effects``; it truncates at 0, where
    DerSimonian–Laird's statsmodels estimate can go negative); weights ``w_i = 1 / (v_i + tau²)``;
    pooled ``theta = sum w theta_i / sum w``; ``q = sum w (theta_i - theta)^2 / (k - 1)``; the
    interval ``theta +- t_(k-1) sqrt(max(1, q) / sum w)`` (Hartung & Knapp 2001; Sidik & Jonkman
    2002; the ``max(1, q)`` modification of Knapp & Hartung 2003, recommended by IntHout, Ioannidis
    & Borm, BMC Med Res Methodol 2014). The prediction interval for a new cluster,
    ``theta +- t_(k-2) sqrt(tau² + se²)`` (Riley et al., BMJ 2011), with ``se`` the HKSJ standard error.
    """
    from statsmodels.stats.meta_analysis import combine_effects

    k = effects.size
    res = combine_effects(effects, variances, method_re="pm", alpha=1 - confidence)
    tau2 = max(0.0, float(res.tau2))
    w = 1.0 / (variances + tau2)
    theta = float(np.sum(w * effects) / np.sum(w))
    q = float(np.sum(w * (effects - theta) ** 2) / (k - 1))
    se = float(np.sqrt(max(1.0, q) / np.sum(w)))
    half = stats.t.ppf(0.5 + confidence / 2, k - 1) * se
    pi_half = stats.t.ppf(0.5 + confidence / 2, k - 2) * np.sqrt(tau2 + se**2) if k >= 3 else np.nan
    return {"theta": theta, "low": theta - half, "high": theta + half, "se": se, "tau2": tau2, "i2": max(0.0, float(res.i2)),
            "pi": (theta - pi_half, theta + pi_half), "k": k}


def meta_analysis(ctx: AuditContext) -> dict | None:
    """Per-cluster AUROC, calibration-in-the-large and calibration slope, pooled across clusters.

    Clusters are external sites and ``data.site`` groups (``sites``); pooling needs at least
    ``MIN_POOL`` of them with both outcomes, tau², I² and the prediction interval at least
    ``MIN_HETEROGENEITY`` (with fewer, between-cluster variation cannot be estimated, and saying
    "I² = 0%" would claim homogeneity the data cannot show). AUROC is pooled on the logit scale
    (Debray et al., BMJ 2019) and back-transformed. ``hksj_pool`` gives the interval.
    """
    conf = ctx.engine.confidence
    z = ndtri(0.5 + conf / 2)
    rows = []
    for name, y, p in sites(ctx):
        if min(int(y.sum()), int(y.size - y.sum())) < 2:
            continue
        pl = placements(y, p)
        slope, intercept = calibration_slope(y, p, conf), calibration_intercept(y, p, conf)
        rows.append({"site": name, "n": int(y.size), "auroc": pl.auroc, "auroc_var": pl.variance, "auroc_estimate": auroc_interval(y, p, conf),
                     "slope": slope.value, "slope_se": _wald_se(slope, z), "intercept": intercept.value, "intercept_se": _wald_se(intercept, z)})
    if not rows:
        return None
    k = len(rows)
    out = {"sites": [], "pooled": {}, "k": k,
           "method": "random effects: Paule–Mandel tau², modified Hartung–Knapp–Sidik–Jonkman interval"}
    for r in rows:
        out["sites"].append({"site": r["site"], "n": r["n"],
                             "auroc": r["auroc_estimate"].to_dict(),
                             "calibration_intercept": Estimate(r["intercept"], (r["intercept"] - z * r["intercept_se"], r["intercept"] + z * r["intercept_se"]), "wald-glm", r["n"]).to_dict(),
                             "calibration_slope": Estimate(r["slope"], (r["slope"] - z * r["slope_se"], r["slope"] + z * r["slope_se"]), "wald-glm", r["n"]).to_dict()})
    n_total = sum(r["n"] for r in rows)
    if k < MIN_POOL:
        reason = f"not estimable: {k} cluster{'s' if k != 1 else ''} (at least {MIN_POOL} needed to pool, {MIN_HETEROGENEITY} to estimate heterogeneity)"
        for metric in ("auroc", "calibration_intercept", "calibration_slope"):
            out["pooled"][metric] = {"estimate": Estimate(np.nan, None, "random-effects-hksj", n_total, reason=reason).to_dict(),
                                     "prediction_interval": None, "tau2": None, "i2": None, "k": k}
        return out
    auc = np.clip([r["auroc"] for r in rows], 1e-6, 1 - 1e-6)
    specs = {
        "auroc": (logit(auc), np.array([r["auroc_var"] for r in rows]) / (auc * (1 - auc)) ** 2, expit),
        "calibration_intercept": (np.array([r["intercept"] for r in rows]), np.array([r["intercept_se"] for r in rows]) ** 2, lambda v: v),
        "calibration_slope": (np.array([r["slope"] for r in rows]), np.array([r["slope_se"] for r in rows]) ** 2, lambda v: v),
    }
    for metric, (eff, var, back) in specs.items():
        ok = np.isfinite(eff) & np.isfinite(var) & (var > 0)
        if ok.sum() < MIN_POOL:
            out["pooled"][metric] = {"estimate": Estimate(np.nan, None, "random-effects-hksj", n_total,
                                                          reason=f"not estimable: fewer than {MIN_POOL} clusters with an estimate").to_dict(),
                                     "prediction_interval": None, "tau2": None, "i2": None, "k": int(ok.sum())}
            continue
        pool = hksj_pool(eff[ok], var[ok], conf)
        heterogeneity = pool["k"] >= MIN_HETEROGENEITY
        out["pooled"][metric] = {
            "estimate": Estimate(back(pool["theta"]), (back(pool["low"]), back(pool["high"])), "random-effects-hksj", n_total).to_dict(),
            "prediction_interval": [float(back(pool["pi"][0])), float(back(pool["pi"][1]))] if heterogeneity else None,
            "tau2": pool["tau2"] if heterogeneity else None, "i2": pool["i2"] if heterogeneity else None, "k": pool["k"],
            "scale": "logit" if metric == "auroc" else "identity",
        }
    return out


def no_external_section() -> Section:
    """The section of a task's external check when the spec names no external dataset."""
    return Section(NAME, "External validation", "not run",
                   {"reason": "no external dataset: add one under data.external"},
                   [Finding(NAME, "info", "The external check was not run: the spec has no external dataset (data.external).")])
