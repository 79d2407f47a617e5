"""The external check: gaps with independent-sample CIs, shift diagnosed where it was put."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from audit.checks import external
from audit.context import AuditContext, EvaluatedDataset
from audit.data import Dataset
from audit.spec import load_spec
from audit.estimates import dataset_estimates
from audit.stats import ResamplingEngine


def cohort(n, seed, age_shift=0.0):
    rng = np.random.default_rng(seed)
    age = rng.normal(60 + age_shift, 10, n)
    marker = rng.normal(0, 1, n)
    sex = rng.choice(["F", "M"], n)
    lp = -0.5 + 0.8 * marker + 0.03 * (age - 60)
    y = (rng.random(n) < expit(lp)).astype(int)
    return pd.DataFrame({"age": age, "marker": marker, "sex": sex, "y": y, "p": expit(lp)})


def two_site_context(a: pd.DataFrame, b: pd.DataFrame):
    spec, _ = load_spec({"name": "ext", "data": {"test": "a.csv", "external": {"site_b": "b.csv"}, "target": "y", "prediction": "p"},
                         "settings": {"n_resamples": 300, "seed": 2}, "checks": ["external"]})
    ds = {
        "test": EvaluatedDataset(Dataset("test", "internal", "a.csv", "", a, a["y"].to_numpy()), a["p"].to_numpy()),
        "site_b": EvaluatedDataset(Dataset("site_b", "external", "b.csv", "", b, b["y"].to_numpy()), b["p"].to_numpy()),
    }
    return AuditContext(spec, Path("."), ds, ResamplingEngine(2, 300, 0.95, "bca"))


def test_gaps_are_external_minus_internal_with_intervals():
    a, b = cohort(1500, 1), cohort(1200, 2)
    section = external.run(two_site_context(a, b))
    g = section.data["datasets"]["site_b"]["gaps"]
    expected = roc_auc_score(b["y"], b["p"]) - roc_auc_score(a["y"], a["p"])
    assert g["auroc"]["difference"]["value"] == pytest.approx(expected, abs=1e-12)
    brier = np.mean((b["p"] - b["y"]) ** 2) - np.mean((a["p"] - a["y"]) ** 2)
    assert g["brier"]["difference"]["value"] == pytest.approx(brier, abs=1e-12)
    for m in ("auroc", "auprc", "sensitivity", "specificity", "brier", "calibration_intercept", "calibration_slope"):
        lo, hi = g[m]["difference"]["ci"]
        assert lo <= g[m]["difference"]["value"] <= hi, m
        assert lo <= 0 <= hi or m in ("auprc",), m  # same model and population: no real gap


def test_covariate_shift_is_found_in_the_shifted_feature_and_only_there():
    a, b = cohort(2000, 3), cohort(2000, 4, age_shift=10.0)  # one SD
    data = external.run(two_site_context(a, b)).data["datasets"]["site_b"]
    shift = {r["feature"]: r for r in data["covariate_shift"]}
    assert shift["age"]["smd"] == pytest.approx(1.0, abs=0.1) and shift["age"]["ks_p"] < 1e-6
    assert abs(shift["marker"]["smd"]) < 0.1 and shift["sex"]["tv"] < 0.05
    dc = data["domain_classifier"]
    assert dc["auroc"]["ci"][0] > 0.6 and dc["top_features"][0]["feature"] == "age"


def test_no_shift_gives_a_domain_auroc_near_one_half():
    a, b = cohort(1500, 5), cohort(1500, 6)
    dc = external.run(two_site_context(a, b)).data["datasets"]["site_b"]["domain_classifier"]
    assert dc["auroc"]["ci"][0] <= 0.5 <= dc["auroc"]["ci"][1]


def test_psi_by_hand():
    r, o = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert external.psi(r, o) == pytest.approx((0.25 - 0.5) * np.log(0.5) + (0.75 - 0.5) * np.log(1.5), abs=1e-12)


def test_recalibration_fixes_calibration_in_the_large_not_discrimination():
    a = cohort(1500, 7)
    b = cohort(1500, 8)
    b["p"] = expit(np.log(b["p"] / (1 - b["p"])) - 1.0)  # risks too low on the external site
    r = external.run(two_site_context(a, b)).data["datasets"]["site_b"]["recalibration"]
    assert r["intercept_update"] == pytest.approx(1.0, abs=0.2)
    assert r["intercept_updated"]["brier"] < r["original"]["brier"]
    assert r["intercept_updated"]["oe_ratio"] == pytest.approx(1.0, abs=1e-6)


def test_sites_are_pooled_by_random_effects_with_a_prediction_interval():
    from audit.stats import placements

    frames = [cohort(600, 20 + k) for k in range(6)]
    for k, f in enumerate(frames):
        f["hospital"] = f"H{k}"
    a = pd.concat(frames[:3], ignore_index=True)
    b = pd.concat(frames[3:], ignore_index=True)
    ctx = two_site_context(a, b)
    spec, _ = load_spec({**ctx.spec.model_dump(mode="json"), "data": {**ctx.spec.data.model_dump(mode="json"), "site": "hospital"}})
    ctx = AuditContext(spec, ctx.base_dir, ctx.datasets, ctx.engine)
    section = external.run(ctx)
    meta = section.data["meta_analysis"]
    assert [s["site"] for s in meta["sites"]] == ["test: H0", "test: H1", "test: H2", "site_b: H3", "site_b: H4", "site_b: H5"]
    pooled = meta["pooled"]["auroc"]
    assert pooled["k"] == 6 and pooled["prediction_interval"] is not None
    # the random-effects estimate is the mean on the logit scale weighted by 1 / (v_i + tau²)
    logits, variances = [], []
    for f in frames:
        pl = placements(f["y"], f["p"])
        logits.append(np.log(pl.auroc / (1 - pl.auroc)))
        variances.append(pl.variance / (pl.auroc * (1 - pl.auroc)) ** 2)
    weights = 1 / (np.array(variances) + pooled["tau2"])
    expected = 1 / (1 + np.exp(-np.average(logits, weights=weights)))
    assert pooled["estimate"]["value"] == pytest.approx(expected, abs=1e-9)
    assert pooled["prediction_interval"][0] <= pooled["estimate"]["value"] <= pooled["prediction_interval"][1]
    assert "sites" in section.figures and "external.sites" in section.evidence


def test_gap_intervals_cover_zero_in_at_least_90_percent_of_simulations_without_a_real_gap():
    """Same population and model at both sites: every gap's CI should contain 0 about 95% of the time."""
    from scipy.special import ndtri

    metrics = ("auroc", "sensitivity", "specificity", "brier", "calibration_intercept", "calibration_slope")
    covered = {m: 0 for m in metrics}
    n_sim = 60
    for k in range(n_sim):
        ctx = two_site_context(cohort(300, 1000 + 2 * k), cohort(300, 1001 + 2 * k))
        engine = ResamplingEngine(k, 200, 0.95, "percentile")
        ctx = AuditContext(ctx.spec, ctx.base_dir, ctx.datasets, engine)
        a, b = ctx.internal, ctx.external[0]
        own = {d.name: dataset_estimates(ctx, d) for d in (a, b)}
        g = external.gaps(a, b, external._bootstrap(a, ctx), external._bootstrap(b, ctx), 0.95, ndtri(0.975), own[a.name], own[b.name])
        for m in metrics:
            lo, hi = g[m]["difference"]["ci"]
            covered[m] += lo <= 0 <= hi
    rates = {m: c / n_sim for m, c in covered.items()}
    assert all(rate >= 0.90 for rate in rates.values()), rates


def test_random_effects_tau2_equals_an_independent_paule_mandel_solution():
    """tau² solves Q(tau²) = k - 1 (Paule & Mandel 1982); solved here by root finding, not statsmodels."""
    from scipy.optimize import brentq

    frames = [cohort(300 + 100 * k, 40 + k) for k in range(5)]
    for k, f in enumerate(frames):
        f["p"] = expit(np.log(f["p"] / (1 - f["p"])) * (0.6 + 0.25 * k))  # sites really differ in slope
        f["hospital"] = f"H{k}"
    a, b = pd.concat(frames[:2], ignore_index=True), pd.concat(frames[2:], ignore_index=True)
    ctx = two_site_context(a, b)
    spec, _ = load_spec({**ctx.spec.model_dump(mode="json"), "data": {**ctx.spec.data.model_dump(mode="json"), "site": "hospital"}})
    meta = external.meta_analysis(AuditContext(spec, ctx.base_dir, ctx.datasets, ctx.engine))
    slopes = [s["calibration_slope"] for s in meta["sites"]]
    effects = np.array([s["value"] for s in slopes])
    variances = np.array([((s["ci"][1] - s["ci"][0]) / (2 * 1.959963984540054)) ** 2 for s in slopes])

    def q_minus_df(tau2):
        w = 1 / (variances + tau2)
        mu = np.sum(w * effects) / np.sum(w)
        return np.sum(w * (effects - mu) ** 2) - (len(effects) - 1)

    tau2 = brentq(q_minus_df, 0, 100) if q_minus_df(0) > 0 else 0.0
    pooled = meta["pooled"]["calibration_slope"]
    assert tau2 > 0 and pooled["tau2"] == pytest.approx(tau2, rel=1e-4)
    w = 1 / (variances + tau2)
    assert pooled["estimate"]["value"] == pytest.approx(np.sum(w * effects) / np.sum(w), rel=1e-4)


def test_the_domain_classifier_states_its_subsample(monkeypatch):
    """Issue 21: the domain classifier runs on a seeded subsample of a large dataset, and says how large."""
    from audit.checks import external

    rng = np.random.default_rng(0)
    a = pd.DataFrame({"age": rng.normal(60, 10, 300), "lab": rng.normal(0, 1, 300)})
    b = pd.DataFrame({"age": rng.normal(65, 10, 250), "lab": rng.normal(0, 1, 250)})
    whole = external.domain_classifier(a, b, ["age", "lab"], 1, 0.95)
    assert "random" not in whole["method"]
    monkeypatch.setattr(external, "DOMAIN_ROWS", 120)
    sub = external.domain_classifier(a, b, ["age", "lab"], 1, 0.95)
    assert "random 120 rows" in sub["method"] and "internal 120 of 300" in sub["method"] and "external 120 of 250" in sub["method"]
    assert sub["auroc"]["n"] == 240
