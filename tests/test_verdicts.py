"""Verdicts that can fail (issue 15): every verdict follows a stated rule, and the rule can fail."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit
from audit.checks import performance, utility
from audit.context import AuditContext, EvaluatedDataset
from audit.data import Dataset
from audit.spec import load_spec
from audit.stats import ResamplingEngine
from audit.verdicts import judge_interval_against, judge_interval_within, worst


def context(y, p, n_resamples=300, **settings) -> AuditContext:
    frame = pd.DataFrame({"y": y, "p": p})
    spec, _ = load_spec({"name": "verdicts", "data": {"test": "mem.csv", "target": "y", "prediction": "p"},
                         "settings": {"n_resamples": n_resamples, "seed": 1, **settings}, "checks": ["performance", "utility"]})
    ds = EvaluatedDataset(Dataset("test", "internal", "mem.csv", "", frame, np.asarray(y, np.int8)), np.asarray(p, float))
    s = spec.settings
    return AuditContext(spec, Path("."), {"test": ds}, ResamplingEngine(s.seed, s.n_resamples, s.confidence, s.ci_method))


def model(n, seed, strength):
    """Outcome ~ Bernoulli(0.3); the prediction's logit moves with the outcome by ``strength`` (negative: backwards)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(-1 + strength * (y - 0.3) + rng.normal(0, 1, n))))
    return y, p


def test_worst_verdict_orders_fail_inconclusive_insufficient_pass():
    assert worst(["pass", "inconclusive", "insufficient evidence"]) == "inconclusive"
    assert worst(["pass", "fail", "inconclusive"]) == "fail"
    assert worst(["pass", "insufficient evidence"]) == "insufficient evidence"
    assert worst([]) == "insufficient evidence"


@pytest.mark.parametrize("ci, higher, expected", [
    ((0.80, 0.90), True, "pass"), ((0.60, 0.70), True, "fail"), ((0.70, 0.80), True, "inconclusive"),
    ((0.10, 0.15), False, "pass"), ((0.25, 0.30), False, "fail"), ((0.15, 0.25), False, "inconclusive"),
])
def test_a_target_passes_fails_or_is_inconclusive_by_where_the_interval_lies(ci, higher, expected):
    target = 0.75 if higher else 0.20
    assert judge_interval_against({"value": sum(ci) / 2, "ci": list(ci)}, target, higher)[0] == expected


def test_a_target_range_and_a_missing_interval():
    assert judge_interval_within({"value": 1.0, "ci": [0.9, 1.1]}, 0.8, 1.2)[0] == "pass"
    assert judge_interval_within({"value": 0.5, "ci": [0.4, 0.6]}, 0.8, 1.2)[0] == "fail"
    assert judge_interval_within({"value": 0.8, "ci": [0.6, 1.0]}, 0.8, 1.2)[0] == "inconclusive"
    assert judge_interval_against({"value": None, "ci": None, "reason": "not estimable: 3 events"}, 0.5, True) == (
        "insufficient evidence", "not estimable: 3 events")


def test_random_model_is_not_a_pass_for_performance_or_utility():
    y, p = model(600, 1, 0.0)
    ctx = context(y, p, threshold=0.3)
    perf, util = performance.run(ctx), utility.run(ctx)
    assert perf.status == "inconclusive" and util.status != "pass"
    assert not any("exceeds both" in f.message and f.severity == "info" and "0.01" in f.message for f in util.findings)


def test_inverted_model_fails_with_the_reversed_label_finding_and_utility_is_not_a_pass():
    y, p = model(600, 2, -4.0)
    ctx = context(y, p, threshold=0.3)
    perf, util = performance.run(ctx), utility.run(ctx)
    assert perf.status == "fail"
    errors = [f.message for f in perf.findings if f.severity == "error"]
    assert errors and "ranks patients backwards" in errors[0] and "'p'" in errors[0]
    assert util.status in ("fail", "inconclusive")


def test_forest_with_class_1_benign_against_a_malignant_target_names_the_positive_class(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["malignant"] = 1 - frame["target"]  # sklearn codes 1 = benign
    train, test = frame.iloc[::2], frame.iloc[1::2]
    features = [c for c in frame.columns if c not in ("target", "malignant")]
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(train[features], train["target"])
    test.to_csv(tmp_path / "test.csv", index=False)
    result = audit.run({"name": "reversed", "data": {"test": str(tmp_path / "test.csv"), "target": "malignant", "features": features},
                        "settings": {"n_resamples": 200}, "checks": ["performance", "utility"]}, model=forest)
    perf = result.sections["performance"]
    assert perf["status"] == "fail"
    message = next(f["message"] for f in result.results["findings"] if f["severity"] == "error")
    assert "classes_ [0, 1]" in message and "positive_label" in message
    caveats = [c.get("caveat") for c in result.sections["utility"]["criteria"]]
    assert caveats and all("ranks patients backwards" in c for c in caveats)


def test_targets_are_judged_by_one_sided_bounds_for_higher_and_lower_is_better_metrics():
    y, p = model(1500, 3, 3.0)
    ctx = context(y, p, threshold=0.3, targets={"auroc": 0.6, "brier": 0.05, "sensitivity": 0.5})
    crit = {c["metric"]: c for c in performance.run(ctx).data["criteria"] if c["criterion"] != "discrimination better than chance"}
    assert crit["auroc"]["verdict"] == "pass"  # AUROC about 0.85: clears 0.6
    assert crit["brier"]["verdict"] == "fail"  # Brier about 0.15: the lower bound misses a maximum of 0.05
    lo, hi = crit["sensitivity"]["estimate"]["ci"]
    assert crit["sensitivity"]["verdict"] == ("pass" if lo > 0.5 else "fail" if hi < 0.5 else "inconclusive")
    assert "one-sided 95%" in crit["auroc"]["rule"] and "two-sided 90%" in crit["auroc"]["rule"]
    # the one-sided 95% bound is the 90% two-sided interval's end: narrower than the reported 95% interval
    reported = performance.run(ctx).data["datasets"]["test"]["metrics"]["auroc"]["ci"]
    assert reported[0] < crit["auroc"]["estimate"]["ci"][0]


def test_an_unknown_target_metric_is_a_plain_input_error():
    from audit.errors import AuditInputError

    with pytest.raises(AuditInputError, match="settings.targets names 'auc'"):
        load_spec({"name": "x", "data": {"test": "a.csv", "target": "y", "prediction": "p"}, "settings": {"targets": {"auc": 0.7}}})


def test_net_benefit_ranges_are_contiguous_runs_and_ties_are_not_benefit():
    assert utility.runs(np.array([False, True, True, False, True])) == [(1, 2), (4, 4)]
    y, p = model(800, 4, 3.0)
    curve = utility.run(context(y, p, threshold=0.2)).data["datasets"]["test"]
    low = curve["model_minus_treat_all"][0]  # threshold 0.01: the model treats everyone, like treat-all
    assert low["value"] == 0.0


# ---------------------------------------------------------------------------------------------
# Fairness by equivalence
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ci, value, expected", [
    ((-0.03, 0.04), 0.005, "within margin"),
    ((0.10, 0.25), 0.17, "material gap"),
    ((0.01, 0.07), 0.04, "small gap"),
    ((-0.02, 0.12), 0.05, "inconclusive"),
])
def test_each_gap_class_follows_from_where_the_simultaneous_interval_lies(ci, value, expected):
    from audit.checks.fairness import gap_class

    assert gap_class({"value": value, "ci": list(ci)}, 0.05) == expected
    assert gap_class({"value": value, "ci": list(ci)}, None) == "not judged"


def _fairness(n, seed, sens, n_resamples=300):
    """Two sexes; sensitivity at the threshold 0.5 set per sex, specificity 0.8 in both."""
    from audit.checks import fairness

    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    y = (rng.random(n) < 0.4).astype(int)
    hit = rng.random(n) < np.where(y == 1, np.where(sex == "F", sens[0], sens[1]), 0.2)
    p = np.where(hit, rng.uniform(0.5, 0.99, n), rng.uniform(0.01, 0.49, n))
    frame = pd.DataFrame({"y": y, "p": p, "sex": sex})
    spec, _ = load_spec({"name": "eq", "data": {"test": "m.csv", "target": "y", "prediction": "p", "sensitive": ["sex"]},
                         "settings": {"n_resamples": n_resamples, "seed": seed, "intersectional": False}, "checks": ["fairness"]})
    ds = EvaluatedDataset(Dataset("test", "internal", "m.csv", "", frame, y.astype(np.int8)), p)
    ctx = AuditContext(spec, Path("."), {"test": ds}, ResamplingEngine(seed, n_resamples, 0.95, "bca"))
    return fairness.run(ctx)


def test_a_large_equal_cohort_is_within_margin_and_passes():
    section = _fairness(40_000, 1, (0.8, 0.8))
    row = section.data["datasets"]["test"]["partitions"][0]["gaps"]["sensitivity"]["comparisons"][0]
    assert row["classification"] == "within margin"


def test_a_real_gap_is_a_material_gap_and_fails_the_partition():
    section = _fairness(6000, 2, (0.6, 0.9))
    row = section.data["datasets"]["test"]["partitions"][0]["gaps"]["sensitivity"]["comparisons"][0]
    assert row["classification"] == "material gap" and section.status == "fail"
    assert any(f.severity == "warning" and "material gap" in f.message for f in section.findings)


def test_a_few_hundred_patients_without_a_gap_are_inconclusive_not_a_pass():
    section = _fairness(400, 3, (0.8, 0.8))
    assert section.status == "inconclusive"
    assert section.data["criteria"][0]["verdict"] == "inconclusive"


# ---------------------------------------------------------------------------------------------
# Site meta-analysis
# ---------------------------------------------------------------------------------------------


def _hospitals(k, n=400, seed=5):
    """``k`` hospitals whose AUROCs differ (the score's separation varies by hospital)."""
    rng = np.random.default_rng(seed)
    frames = []
    for h in range(k):
        y = (rng.random(n) < 0.3).astype(int)
        score = (0.6 + 0.35 * h) * y + rng.normal(0, 1, n)
        frames.append(pd.DataFrame({"y": y, "p": 1 / (1 + np.exp(-(score - 1))), "hospital": f"H{h}"}))
    return pd.concat(frames, ignore_index=True)


def test_five_hospitals_in_data_site_are_pooled_with_the_modified_hksj_interval_equal_to_a_hand_computation(tmp_path):
    from scipy import stats
    from scipy.special import expit, logit

    from audit.stats.delong import placements

    frame = _hospitals(5)
    frame.to_csv(tmp_path / "t.csv", index=False)
    result = audit.run({"name": "sites", "data": {"test": str(tmp_path / "t.csv"), "target": "y", "prediction": "p", "site": "hospital"},
                        "settings": {"n_resamples": 100}, "checks": ["external"], "checklists": ["tripod-ai"]})
    section = result.sections["external"]
    pooled = section["meta_analysis"]["pooled"]["auroc"]
    assert pooled["k"] == 5 and pooled["prediction_interval"] is not None and pooled["tau2"] is not None
    # by hand: logit AUROCs, DeLong variances on the logit scale, Paule–Mandel tau² by root finding, modified HKSJ
    eff, var = [], []
    for _, g in frame.groupby("hospital"):
        pl = placements(g["y"], g["p"])
        eff.append(logit(pl.auroc))
        var.append(pl.variance / (pl.auroc * (1 - pl.auroc)) ** 2)
    eff, var = np.array(eff), np.array(var)

    def q(t2):
        w = 1 / (var + t2)
        return np.sum(w * (eff - np.sum(w * eff) / np.sum(w)) ** 2) - (len(eff) - 1)

    from scipy.optimize import brentq

    tau2 = brentq(q, 0, 10) if q(0) > 0 else 0.0
    w = 1 / (var + tau2)
    theta = np.sum(w * eff) / np.sum(w)
    se = np.sqrt(max(1.0, np.sum(w * (eff - theta) ** 2) / 4) / np.sum(w))
    half = stats.t.ppf(0.975, 4) * se
    assert pooled["estimate"]["value"] == pytest.approx(expit(theta), abs=1e-6)
    assert pooled["estimate"]["ci"] == pytest.approx([expit(theta - half), expit(theta + half)], abs=1e-6)
    pi_half = stats.t.ppf(0.975, 3) * np.sqrt(tau2 + se**2)
    assert pooled["prediction_interval"] == pytest.approx([expit(theta - pi_half), expit(theta + pi_half)], abs=1e-6)
    assert "external.sites" in section["evidence"]
    assert result.results["checklists"]["tripod-ai"]["items"]["TRIPOD-12d"]["status"] == "evidenced"


def test_two_clusters_are_not_pooled_and_tripod_12d_is_not_evidenced(tmp_path):
    frame = _hospitals(2)
    test, external = frame[frame["hospital"] == "H0"], frame[frame["hospital"] == "H1"]
    test.to_csv(tmp_path / "a.csv", index=False)
    external.to_csv(tmp_path / "b.csv", index=False)
    result = audit.run({"name": "two", "data": {"test": str(tmp_path / "a.csv"), "external": {"b": str(tmp_path / "b.csv")},
                                                "target": "y", "prediction": "p"},
                        "settings": {"n_resamples": 100, "pool_internal": True}, "checks": ["external"], "checklists": ["tripod-ai"]})
    pooled = result.sections["external"]["meta_analysis"]["pooled"]["auroc"]
    assert pooled["estimate"]["value"] is None and "at least 3" in pooled["estimate"]["reason"]
    assert pooled["i2"] is None and pooled["tau2"] is None and pooled["prediction_interval"] is None
    assert "external.sites" not in result.sections["external"]["evidence"]
    assert result.results["checklists"]["tripod-ai"]["items"]["TRIPOD-12d"]["status"] != "evidenced"


# ---------------------------------------------------------------------------------------------
# Subgroup calibration
# ---------------------------------------------------------------------------------------------


def _calibration_context(frame, p):
    spec, _ = load_spec({"name": "cal", "data": {"test": "m.csv", "target": "y", "prediction": "p", "sensitive": ["g"]},
                         "settings": {"n_resamples": 100, "intersectional": False}, "checks": ["calibration"]})
    ds = EvaluatedDataset(Dataset("test", "internal", "m.csv", "", frame, frame["y"].to_numpy().astype(np.int8)), np.asarray(p))
    return AuditContext(spec, Path("."), {"test": ds}, ResamplingEngine(0, 100))


def test_a_calibrated_model_with_12_subgroups_gets_no_subgroup_warning_in_90_percent_of_studies_and_a_miscalibrated_group_is_found():
    from audit.checks import calibration

    rng = np.random.default_rng(6)
    warned, studies = 0, 100
    for _ in range(studies):
        g = np.repeat([f"G{k:02d}" for k in range(12)], 80)
        p = rng.beta(2, 4, g.size)
        frame = pd.DataFrame({"y": (rng.random(g.size) < p).astype(int), "g": g})
        ctx = _calibration_context(frame, p)
        groups = calibration.subgroup_calibration(ctx.internal, ctx)
        warned += bool(calibration.subgroup_findings("test", groups, 0.95))
    assert warned / studies <= 0.10
    # one group's risks are twice too high on the odds scale... and a lot more patients: found
    g = np.repeat([f"G{k:02d}" for k in range(12)], 300)
    true = rng.beta(2, 4, g.size)
    p = np.where(g == "G03", 1 / (1 + (1 - true) / (3 * true)), true)
    frame = pd.DataFrame({"y": (rng.random(g.size) < true).astype(int), "g": g})
    ctx = _calibration_context(frame, p)
    found = calibration.subgroup_findings("test", calibration.subgroup_calibration(ctx.internal, ctx), 0.95)
    assert any("g=G03" in f.message and "too high" in f.message and "Holm-adjusted" in f.message for f in found)
    assert not any("G03" not in f.message for f in found)


def test_identical_subgroups_are_listed_once():
    from audit.checks import calibration

    rng = np.random.default_rng(7)
    n = 600
    band = rng.choice(["<70", ">=70"], n)
    meno = np.where(band == ">=70", "1", rng.choice(["0", "1"], n))
    p = rng.beta(2, 4, n)
    frame = pd.DataFrame({"y": (rng.random(n) < p).astype(int), "band": band, "meno": meno})
    spec, _ = load_spec({"name": "cal", "data": {"test": "m.csv", "target": "y", "prediction": "p", "sensitive": ["band", "meno"]},
                         "settings": {"n_resamples": 100}, "checks": ["calibration"]})
    ctx = AuditContext(spec, Path("."), {"test": EvaluatedDataset(Dataset("test", "internal", "m.csv", "", frame, frame["y"].to_numpy()), p)},
                       ResamplingEngine(0, 100))
    groups = calibration.subgroup_calibration(ctx.internal, ctx)
    twin = next(g for g in groups if g["group"] == "band=>=70 & meno=1")
    assert twin["same_as"] == "band=>=70" and not twin["metrics"] and "tests" not in twin


# ---------------------------------------------------------------------------------------------
# Conformal coverage by class
# ---------------------------------------------------------------------------------------------


def test_rare_outcome_gets_the_label_conditional_coverage_warning_and_does_not_pass(tmp_path):
    rng = np.random.default_rng(8)
    n = 3000
    y = (rng.random(n) < 0.02).astype(int)
    p = np.clip(0.02 + 0.05 * y + rng.normal(0, 0.01, n), 0.001, 0.999)  # weak signal: events look like non-events
    pd.DataFrame({"y": y, "p": p}).to_csv(tmp_path / "t.csv", index=False)
    result = audit.run({"name": "rare", "data": {"test": str(tmp_path / "t.csv"), "target": "y", "prediction": "p"},
                        "settings": {"n_resamples": 100, "coverage": 0.9}, "checks": ["uncertainty"]})
    section = result.sections["uncertainty"]
    level = section["datasets"]["test"]["levels"][0]["overall"]
    assert level["coverage"]["value"] >= 0.85  # the marginal coverage looks fine
    with_outcome = level["by_outcome"]["with_outcome"]["coverage"]
    assert with_outcome["ci"][1] < 0.9
    assert any("among patients with the outcome" in f["message"] and f["severity"] == "warning" for f in result.results["findings"])
    assert section["status"] == "fail"
    bound = section["calibration"]["training_conditional"]["0.9"]
    from scipy.stats import beta
    n_cal = section["calibration"]["n"]
    l = int(np.floor((n_cal + 1) * 0.1))
    assert bound == pytest.approx(beta.ppf(0.05, n_cal + 1 - l, l)) and bound < 0.9


# ---------------------------------------------------------------------------------------------
# Precision (Riley et al., Stat Med 2021)
# ---------------------------------------------------------------------------------------------


def test_riley_closed_forms_equal_hand_computation():
    import math

    from scipy.optimize import brentq

    from audit.stats import precision as prec

    z = 1.959963984540054
    # O:E: the SE whose interval exp(+-z SE) around O/E = 1 is 0.2 wide, then n = (1 - phi) / (phi SE^2)
    se = brentq(lambda s: math.exp(z * s) - math.exp(-z * s) - 0.2, 1e-6, 1)
    assert prec.oe_sample_size(0.1, 0.2) == math.ceil(0.9 / (0.1 * se**2)) == 3469
    # C-statistic: Newcombe's variance at C = 0.8, prevalence 0.1; the n found gives a 0.1-wide interval
    n = prec.c_statistic_sample_size(0.8, 0.1, 0.1)

    def width(m):
        h = m / 2 - 1
        return 2 * z * math.sqrt(0.8 * 0.2 * (1 + h * 0.2 / 1.2 + h * 0.8 / 1.8) / (m**2 * 0.1 * 0.9))

    assert width(n) <= 0.1 < width(n - 1)
    # standardised net benefit at sensitivity 0.8, specificity 0.7, prevalence 0.2, threshold 0.1
    w = 0.8 / 0.2 * 0.1 / 0.9
    var = 0.8 * 0.2 / 0.2 + w**2 * 0.7 * 0.3 / 0.8 + w**2 * 0.3**2 / (0.2 * 0.8)
    assert prec.snb_sample_size(0.8, 0.7, 0.2, 0.1, 0.2) == math.ceil(var / (0.2 / (2 * z)) ** 2)
    # scaling the observed standard error as 1/sqrt(n)
    assert prec.n_by_scaling(0.5, 0.2, 447) == math.ceil(447 * 6.25)


def test_a_small_validation_set_gets_a_precision_finding_with_the_patients_needed():
    y, p = model(300, 9, 2.0)
    section = performance.run(context(y, p, threshold=0.3))
    rows = {r["metric"]: r for r in section.data["datasets"]["test"]["precision"]}
    assert rows["calibration_slope"]["met"] is False and rows["calibration_slope"]["n_needed"] > 300
    assert any("Riley et al." in f.message and "1/√n" in f.message for f in section.findings)


def test_a_prespecified_threshold_range_is_judged_with_simultaneous_bands():
    y, p = model(1500, 10, 3.0)
    section = utility.run(context(y, p, threshold=0.3, dca_range=[0.2, 0.4]))
    band = section.data["datasets"]["test"]["simultaneous"]
    assert band["thresholds"][0] == pytest.approx(0.2) and band["thresholds"][-1] == pytest.approx(0.4)
    curve = section.data["datasets"]["test"]
    j = curve["thresholds"].index(band["thresholds"][0])
    pointwise, joint = curve["model_minus_treat_all"][j]["ci"], band["model_minus_treat_all"][0]
    assert joint[0] < pointwise[0] and pointwise[1] < joint[1]  # simultaneous bands are wider
    assert section.data["criteria"][0]["verdict"] == "pass" and "throughout" in section.data["criteria"][0]["rule"]
    y, p = model(800, 11, 0.0)
    assert utility.run(context(y, p, threshold=0.3, dca_range=[0.2, 0.4])).status != "pass"


def test_targets_are_judged_per_group_when_asked():
    from audit.checks import fairness

    rng = np.random.default_rng(12)
    n = 3000
    sex = rng.choice(["F", "M"], n)
    y = (rng.random(n) < 0.4).astype(int)
    sens = np.where(sex == "F", 0.55, 0.9)
    hit = rng.random(n) < np.where(y == 1, sens, 0.2)
    p = np.where(hit, rng.uniform(0.5, 0.99, n), rng.uniform(0.01, 0.49, n))
    frame = pd.DataFrame({"y": y, "p": p, "sex": sex})
    spec, _ = load_spec({"name": "g", "data": {"test": "m.csv", "target": "y", "prediction": "p", "sensitive": ["sex"]},
                         "settings": {"n_resamples": 200, "intersectional": False, "targets": {"sensitivity": 0.8}, "targets_by_group": True},
                         "checks": ["fairness"]})
    ctx = AuditContext(spec, Path("."), {"test": EvaluatedDataset(Dataset("test", "internal", "m.csv", "", frame, y.astype(np.int8)), p)},
                       ResamplingEngine(0, 200))
    crit = {c["criterion"]: c["verdict"] for c in fairness.run(ctx).data["criteria"]}
    assert crit["Sensitivity at least 0.8, sex=F"] == "fail" and crit["Sensitivity at least 0.8, sex=M"] == "pass"


def test_a_calibration_slope_target_range_is_judged_by_the_calibration_check():
    from audit.checks import calibration

    rng = np.random.default_rng(13)
    risk = rng.beta(2, 5, 4000)
    y = (rng.random(4000) < risk).astype(int)
    logit = np.log(risk / (1 - risk))
    for stretch, expected in ((1.0, "pass"), (2.0, "fail")):
        p = 1 / (1 + np.exp(-stretch * logit))  # stretch 2: predictions too extreme, slope about 0.5
        ctx = context(y, p, targets={"calibration_slope": [0.8, 1.2]})
        section = calibration.run(ctx)
        crit = next(c for c in section.data["criteria"] if c["metric"] == "calibration_slope")
        assert crit["verdict"] == expected and section.status == expected
