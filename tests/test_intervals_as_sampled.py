"""Intervals that keep their promise (issue 14): every case that was measured wrong, now right.

Independent references: statsmodels' ``proportion_confint`` (Wilson, Clopper–Pearson "beta"),
scipy's Fisher exact test, scikit-learn's metrics on explicitly resampled rows, and Bayes' theorem
by hand. Simulations are sized to prove the property with a band wider than their Monte-Carlo
error (100 studies: SE of a 95% coverage is 2.2%, so the 90% floor is more than two SEs below);
the 1,000-study figures are in ``benchmarks/coverage.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import proportion_confint

from audit import groups
from audit.checks import calibration, fairness, performance
from audit.context import AuditContext, EvaluatedDataset
from audit.data import Dataset
from audit.estimates import dataset_estimates
from audit.spec import load_spec
from audit.stats import BinaryMetrics, ResamplingEngine
from audit.stats.intervals import IntervalRules, cell_estimates
from audit.stats.net_benefit import decision_curve
from audit.stats.resample import SamplingDesign, resample_counts


def context(frame: pd.DataFrame, p, sensitive=(), n_resamples=300, seed=3, data=None, **settings) -> AuditContext:
    spec, _ = load_spec({
        "name": "intervals", "data": {"test": "mem.csv", "target": "y", "prediction": "p", "sensitive": list(sensitive), **(data or {})},
        "settings": {"n_resamples": n_resamples, "seed": seed, **settings}, "checks": ["performance", "fairness"],
    })
    y = frame["y"].to_numpy().astype(np.int8)
    ds = EvaluatedDataset(Dataset("test", "internal", "mem.csv", "", frame, y), np.asarray(p, float))
    s = spec.settings
    return AuditContext(spec, Path("."), {"test": ds}, ResamplingEngine(s.seed, s.n_resamples, s.confidence, s.ci_method))


def calibrated_cohort(rng, n, a=1.2, b=10.8):
    """A calibrated model: risk ~ Beta(a, b) (prevalence a / (a + b)), outcome ~ Bernoulli(risk), prediction = risk."""
    risk = rng.beta(a, b, n)
    return (rng.random(n) < risk).astype(int), risk


# ---------------------------------------------------------------------------------------------
# 1. Resample as the data were sampled
# ---------------------------------------------------------------------------------------------


def test_cohort_resampling_lets_the_number_of_events_vary_and_case_control_keeps_it():
    y = np.r_[np.ones(30, int), np.zeros(270, int)]
    cohort = np.vstack(list(resample_counts(SamplingDesign(), 200, 1, "s", n=y.size)))
    case_control = np.vstack(list(resample_counts(SamplingDesign(strata=y), 200, 1, "s")))
    assert np.unique(cohort @ y).size > 10 and np.all(cohort.sum(axis=1) == y.size)
    assert np.all(case_control @ y == 30)


def test_clusters_are_resampled_whole_and_within_their_site():
    patient = np.repeat(np.arange(40), 5)
    site = np.where(patient < 25, "A", "B")
    counts = np.vstack(list(resample_counts(SamplingDesign(strata=site, clusters=patient), 100, 2, "c")))
    by_patient = counts.reshape(100, 40, 5)
    assert np.all(by_patient == by_patient[:, :, :1])  # the 5 rows of a patient are drawn together
    assert np.all(counts[:, site == "A"].sum(axis=1) == 125) and np.all(counts[:, site == "B"].sum(axis=1) == 75)


def test_one_dataset_stream_gives_every_statistic_the_same_resampled_patients():
    """Counts are drawn in row order, then laid out: two kernels with different layouts see the same patients."""
    rng = np.random.default_rng(4)
    y, p = calibrated_cohort(rng, 400, 3, 7)
    engine = ResamplingEngine(seed=1, n_resamples=50, method="percentile")
    a = engine.bootstrap(BinaryMetrics(y, p, 0.3, ("brier",)), None, "dataset/test")
    group = rng.integers(0, 3, y.size)
    from audit.stats.metrics import GroupedBinaryMetrics

    b = engine.bootstrap(GroupedBinaryMetrics(y, p, group, 0.3, ("brier",)), None, "dataset/test")
    np.testing.assert_allclose(a.replicates[:, 0], b.replicates[:, 0], rtol=0, atol=1e-12)  # column 0 of b: overall


def _covers(est, truth) -> bool:
    return est.ci is not None and est.ci[0] <= truth <= est.ci[1]


def test_ppv_npv_brier_and_net_benefit_cover_the_truth_in_90_percent_of_cohorts_at_prevalence_10_percent():
    """Calibrated model, risk ~ Beta(1.2, 10.8), n = 500, threshold 0.1; truths from 2,000,000 patients.

    Outcome-stratified resampling covered Brier in 46%, PPV 82%, net benefit 75% of such studies.
    """
    big_y, big_p = calibrated_cohort(np.random.default_rng(0), 2_000_000)
    t = 0.1
    flag = big_p >= t
    truth = {
        "ppv": big_y[flag].mean(), "npv": 1 - big_y[~flag].mean(), "brier": np.mean((big_p - big_y) ** 2),
        "net_benefit": np.mean(flag & (big_y == 1)) - np.mean(flag & (big_y == 0)) * t / (1 - t),
    }
    rng = np.random.default_rng(1)
    engine = ResamplingEngine(seed=2, n_resamples=300, method="bca")
    rules = IntervalRules()
    hits = dict.fromkeys(truth, 0)
    studies = 100
    for k in range(studies):
        y, p = calibrated_cohort(rng, 500)
        boot = engine.bootstrap(BinaryMetrics(y, p, t, ("brier",)), None, f"study/{k}")
        est = cell_estimates(y, p, t, ("ppv", "npv", "brier"), lambda m: boot.estimate_at(0, y.size), rules)
        curve = decision_curve(y, p, [t], engine, f"dca/{k}")
        nb = curve["model"][0]
        for m in ("ppv", "npv", "brier"):
            hits[m] += _covers(est[m], truth[m])
        hits["net_benefit"] += nb["ci"][0] <= truth["net_benefit"] <= nb["ci"][1]
    rates = {m: h / studies for m, h in hits.items()}
    assert all(r >= 0.90 for r in rates.values()), rates


def test_case_control_sampling_makes_ppv_not_estimable_without_a_prevalence_and_bayes_with_it():
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(100, int), np.zeros(100, int)]
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0.01, 0.99)
    frame = pd.DataFrame({"y": y, "p": p})
    ctx = context(frame, p, sampling="case-control")
    est = dataset_estimates(ctx, ctx.internal)
    for m in ("ppv", "npv", "accuracy", "brier"):
        assert est[m].ci is None and "case-control" in est[m].reason
    assert est["sensitivity"].ci is not None and est["auroc"].ci is not None
    # resampling keeps the events fixed under case-control sampling
    assert np.all(ctx.design(ctx.internal).strata == y)

    ctx = context(frame, p, sampling="case-control", prevalence=0.05)
    est = dataset_estimates(ctx, ctx.internal)
    sens, spec = np.mean(p[y == 1] >= 0.5), np.mean(p[y == 0] < 0.5)
    ppv = sens * 0.05 / (sens * 0.05 + (1 - spec) * 0.95)
    npv = spec * 0.95 / (spec * 0.95 + (1 - sens) * 0.05)
    assert est["ppv"].value == pytest.approx(ppv, abs=1e-12) and est["npv"].value == pytest.approx(npv, abs=1e-12)
    assert est["ppv"].method == "bayes-logit" and est["ppv"].ci[0] < ppv < est["ppv"].ci[1]


def test_cluster_bootstrap_interval_is_wider_than_the_row_bootstrap_for_correlated_images():
    """5 images per patient sharing the patient's outcome and most of the score: rows are not independent."""
    rng = np.random.default_rng(6)
    patients = 120
    pid = np.repeat(np.arange(patients), 5)
    y_patient = (rng.random(patients) < 0.3).astype(int)
    y = y_patient[pid]
    score = 1.0 * y_patient[pid] + rng.normal(0, 1, patients)[pid] + rng.normal(0, 0.3, pid.size)
    p = 1 / (1 + np.exp(-score + 0.5))
    frame = pd.DataFrame({"y": y, "p": p, "pid": pid.astype(str)})
    ctx = context(frame, p, data={"cluster": "pid"})
    clustered = dataset_estimates(ctx, ctx.internal)
    plain = context(frame, p)
    rows = dataset_estimates(plain, plain.internal)
    for m in ("auroc", "sensitivity", "brier"):
        width_c = np.diff(clustered[m].ci)[0]
        width_r = np.diff(rows[m].ci)[0]
        assert width_c > 1.3 * width_r, (m, width_c, width_r)
        assert clustered[m].method.startswith("cluster-")


def test_a_cluster_spanning_two_sites_is_a_plain_input_error():
    from audit.errors import AuditInputError

    frame = pd.DataFrame({"y": [0, 1] * 20, "p": np.linspace(0.1, 0.9, 40), "pid": ["a"] * 2 + [str(i) for i in range(38)],
                          "site": ["A", "B"] + ["A"] * 38})
    ctx = context(frame, frame["p"], data={"cluster": "pid", "site": "site"})
    with pytest.raises(AuditInputError, match="'a' has rows in several sites"):
        ctx.design(ctx.internal)


# ---------------------------------------------------------------------------------------------
# 2. Proportions at the boundary, 3. AUROC
# ---------------------------------------------------------------------------------------------


def _one(y, p, threshold=0.5, names=("sensitivity", "specificity", "ppv", "npv")):
    y, p = np.asarray(y), np.asarray(p, float)
    engine = ResamplingEngine(seed=0, n_resamples=200)
    boot = engine.bootstrap(BinaryMetrics(y, p, threshold, names), None, "one")
    col = {m: j for j, m in enumerate(names)}
    return cell_estimates(y, p, threshold, names, lambda m: boot.estimate_at(col[m], y.size), IntervalRules())


def test_specificity_200_of_200_gets_the_clopper_pearson_interval_not_a_point():
    y = np.r_[np.zeros(200, int), np.ones(50, int)]
    p = np.r_[np.full(200, 0.1), np.linspace(0.2, 0.9, 50)]
    est = _one(y, p)["specificity"]
    lo, hi = proportion_confint(200, 200, method="beta")
    assert est.method == "clopper-pearson" and est.ci == pytest.approx((lo, 1.0), abs=1e-9)
    assert est.ci[0] == pytest.approx(0.9817, abs=1e-4)


def test_ppv_with_one_flagged_patient_and_sensitivity_0_of_20_get_exact_intervals():
    y = np.r_[np.ones(20, int), np.zeros(980, int)]
    p = np.r_[np.full(20, 0.2), np.full(979, 0.1), [0.9]]  # no event flagged, one non-event flagged
    est = _one(y, p)
    assert est["sensitivity"].ci == pytest.approx(proportion_confint(0, 20, method="beta"), abs=1e-9)
    assert est["sensitivity"].ci[1] == pytest.approx(0.168, abs=1e-3)
    assert est["ppv"].value == 0.0 and est["ppv"].ci == pytest.approx(proportion_confint(0, 1, method="beta"), abs=1e-9)
    y2 = np.r_[1, np.ones(19, int), np.zeros(980, int)]
    p2 = np.r_[0.9, np.full(19, 0.2), np.full(980, 0.1)]  # one flagged patient, an event
    ppv = _one(y2, p2)["ppv"]
    assert ppv.value == 1.0 and ppv.ci == pytest.approx((0.025, 1.0), abs=1e-3) and ppv.method == "clopper-pearson"


def test_npv_200_of_299_gets_the_wilson_interval():
    y = np.r_[np.zeros(200, int), np.ones(99, int), np.ones(60, int)]
    p = np.r_[np.full(299, 0.2), np.full(60, 0.8)]
    est = _one(y, p)["npv"]
    assert est.method == "wilson"
    assert est.ci == pytest.approx(proportion_confint(200, 299, method="wilson"), abs=1e-9)
    assert est.ci == pytest.approx((0.614, 0.720), abs=1e-3)


def test_perfect_separation_gives_a_one_sided_auroc_bound_a_finding_and_no_calibration_slope():
    rng = np.random.default_rng(7)
    y = np.r_[np.ones(30, int), np.zeros(70, int)]
    p = np.r_[rng.uniform(0.6, 0.9, 30), rng.uniform(0.05, 0.4, 70)]
    frame = pd.DataFrame({"y": y, "p": p})
    ctx = context(frame, p)
    section = performance.run(ctx)
    auroc = section.data["datasets"]["test"]["metrics"]["auroc"]
    assert auroc["value"] == 1.0 and auroc["sides"] == "lower" and auroc["ci"][1] is None and 0.9 < auroc["ci"][0] < 1.0
    assert any("separate the classes perfectly" in f.message for f in section.findings)
    slope = calibration.dataset_metrics(ctx.internal, ctx)["calibration_slope"]
    assert slope.ci is None and "separate" in slope.reason


def test_auroc_with_fewer_than_five_events_is_not_estimable_with_the_reason():
    y = np.r_[np.ones(3, int), np.zeros(97, int)]
    p = np.linspace(0.01, 0.99, 100)[::-1]
    est = _one(y, p, names=("auroc",))["auroc"]
    assert est.ci is None and "3 events" in est.reason


# ---------------------------------------------------------------------------------------------
# 4. Fairness inference that cannot manufacture a gap
# ---------------------------------------------------------------------------------------------


def test_a_small_group_with_all_five_events_flagged_is_not_a_significant_gap_fisher_agrees():
    """Group of 30 with 5 events, all flagged; reference 400 with 60 events, 55% flagged. Fisher's p is about 0.07."""
    rng = np.random.default_rng(8)
    n_ref, e_ref = 400, 60
    y = np.r_[np.ones(5, int), np.zeros(25, int), np.ones(e_ref, int), np.zeros(n_ref - e_ref, int)]
    group = np.r_[np.full(30, "small"), np.full(n_ref, "large")]
    flag_ref_events = np.r_[np.ones(33, bool), np.zeros(27, bool)]
    p = np.r_[np.full(5, 0.8), rng.uniform(0.05, 0.45, 25), np.where(flag_ref_events, 0.7, 0.3), rng.uniform(0.05, 0.45, n_ref - e_ref)]
    fisher_p = fisher_exact([[5, 0], [33, 27]]).pvalue
    assert 0.04 < fisher_p < 0.1
    frame = pd.DataFrame({"y": y, "p": p, "g": group})
    ctx = context(frame, p, ["g"])
    data, findings = fairness.analyse(ctx.internal, groups.build_partitions(ctx.internal, ["g"], None, False), ctx)
    row = data["partitions"][0]["gaps"]["sensitivity"]["comparisons"][0]
    assert row["group"] == "small" and row["difference"]["value"] == pytest.approx(1 - 33 / 60)
    assert not row["significant"] and row["p_adjusted"] > 0.05
    assert row["difference"]["ci"][0] < 0 < row["difference"]["ci"][1]
    assert row["classification"] == "inconclusive"
    assert not any(f.severity == "warning" and "Sensitivity" in f.message for f in findings)


def test_simultaneous_interval_excludes_zero_exactly_when_the_adjusted_p_is_below_alpha():
    frames = [pd.DataFrame({"y": (r.random(900) < 0.3).astype(int), "s": r.choice(list("ABC"), 900), "t": r.choice(list("XY"), 900)})
              for r in (np.random.default_rng(k) for k in range(3))]
    for k, frame in enumerate(frames):
        rng = np.random.default_rng(50 + k)
        boost = np.where(frame["s"] == "C", 0.25, 0.0)
        p = np.clip(0.25 + 0.35 * frame["y"] - boost * frame["y"] + rng.normal(0, 0.15, len(frame)), 0.01, 0.99)
        frame["p"] = p
        ctx = context(frame, p, ["s", "t"])
        data, _ = fairness.analyse(ctx.internal, groups.build_partitions(ctx.internal, ["s", "t"], None, True), ctx)
        for part in data["partitions"]:
            for m in fairness.METRICS:
                for c in part["gaps"][m]["comparisons"]:
                    if c["difference"]["ci"] is None:
                        continue
                    lo, hi = c["difference"]["ci"]
                    assert (lo > 0 or hi < 0) == (c["p_adjusted"] <= 0.05), (m, c)


def test_random_sex_label_gives_no_fairness_warning_in_90_percent_of_studies():
    """Prevalence 0.10 (where NPV was reported 0.10 lower with Holm p = 1.6e-118), sex drawn at random."""
    rng = np.random.default_rng(9)
    warned = 0
    studies = 100
    for k in range(studies):
        y, p = calibrated_cohort(rng, 500)
        frame = pd.DataFrame({"y": y, "p": p, "sex": rng.choice(["F", "M"], y.size)})
        ctx = context(frame, p, ["sex"], n_resamples=200, seed=k, threshold=0.1)
        _, findings = fairness.analyse(ctx.internal, groups.build_partitions(ctx.internal, ["sex"], None, False), ctx)
        warned += any(f.severity == "warning" for f in findings)
    assert warned / studies <= 0.10


def test_max_min_gap_and_disparities_are_point_estimates_with_one_sided_upper_bounds():
    rng = np.random.default_rng(10)
    n = 1500
    frame = pd.DataFrame({"y": (rng.random(n) < 0.3).astype(int), "band": rng.choice(["a", "b", "c"], n)})
    p = np.clip(0.3 + 0.3 * frame["y"] + rng.normal(0, 0.15, n), 0.01, 0.99)
    frame["p"] = p
    ctx = context(frame, p, ["band"])
    data, _ = fairness.analyse(ctx.internal, groups.build_partitions(ctx.internal, ["band"], None, False), ctx)
    part = data["partitions"][0]
    for m in ("sensitivity", "selection_rate"):
        spread = part["gaps"][m]["max_min"]
        values = [g["metrics"][m]["value"] for g in part["groups"]]
        assert spread["value"] == pytest.approx(max(values) - min(values), abs=1e-12)
        assert spread["sides"] == "upper" and spread["ci"][0] is None and spread["ci"][1] > spread["value"]
    for name in fairness.DISPARITIES:
        d = part["disparities"][name]
        assert d["sides"] == "upper" and d["ci"][0] is None and d["ci"][1] >= d["value"]
    eo = part["disparities"]["equalized_odds_difference"]
    assert eo["value"] == pytest.approx(max(part["gaps"]["sensitivity"]["max_min"]["value"], part["gaps"]["fpr"]["max_min"]["value"]))


def test_max_min_upper_bound_covers_a_true_spread_of_zero_in_at_least_90_percent_of_studies():
    rng = np.random.default_rng(11)
    covered, studies = 0, 60
    for k in range(studies):
        n = 600
        y = (rng.random(n) < 0.3).astype(int)
        frame = pd.DataFrame({"y": y, "band": rng.choice(["a", "b", "c"], n)})
        p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.15, n), 0.01, 0.99)
        frame["p"] = p
        ctx = context(frame, p, ["band"], n_resamples=200, seed=k)
        data, _ = fairness.analyse(ctx.internal, groups.build_partitions(ctx.internal, ["band"], None, False), ctx)
        # the true spread is 0 for every metric, so the bound covers whenever it is >= 0: it must also not be trivially
        # large, so count coverage of the *estimate's* truth by requiring the bound below 0.5 as well
        bound = data["partitions"][0]["gaps"]["sensitivity"]["max_min"]["ci"][1]
        covered += 0 <= bound < 0.5
    assert covered / studies >= 0.9


# ---------------------------------------------------------------------------------------------
# 5. One estimate per quantity; the threshold chosen on the test data
# ---------------------------------------------------------------------------------------------


def test_a_metric_has_one_value_and_one_interval_in_performance_and_in_the_fairness_overall_row():
    rng = np.random.default_rng(12)
    y, p = calibrated_cohort(rng, 800, 3, 7)
    frame = pd.DataFrame({"y": y, "p": p, "sex": rng.choice(["F", "M"], y.size)})
    ctx = context(frame, p, ["sex"], threshold=0.3)
    perf = performance.run(ctx).data["datasets"]["test"]["metrics"]
    fair = fairness.run(ctx).data["datasets"]["test"]["overall"]
    for m in ("auroc", "sensitivity", "specificity", "ppv", "npv", "brier"):
        assert perf[m] == fair[m], m


def test_a_threshold_equal_to_the_youden_optimum_of_the_test_data_is_reported_as_optimistic():
    rng = np.random.default_rng(13)
    y, p = calibrated_cohort(rng, 600, 3, 7)
    t = performance.youden_threshold(y, p)
    frame = pd.DataFrame({"y": y, "p": p})
    found = performance.run(context(frame, p, threshold=t)).findings
    assert any("Youden" in f.message and "optimistic" in f.message for f in found)
    other = performance.run(context(frame, p, threshold=0.9)).findings
    assert not any("Youden" in f.message for f in other)
