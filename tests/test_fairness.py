"""The fairness check: per-group metrics equal fairlearn, gaps are paired and adjusted, small groups flagged."""

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn import metrics as skm

from audit import groups
from audit.groups import MISSING
from audit.checks import fairness
from audit.context import AuditContext, EvaluatedDataset
from audit.data import Dataset
from audit.spec import load_spec
from audit.stats import ResamplingEngine


def context(frame: pd.DataFrame, p, sensitive, n_resamples=300, **settings):
    spec, _ = load_spec(
        {"name": "fairness test", "data": {"test": "mem.csv", "target": "y", "prediction": "p", "sensitive": sensitive},
         "settings": {"n_resamples": n_resamples, "seed": 3, **settings}, "checks": ["fairness"]}
    )
    y = frame["y"].to_numpy().astype(np.int8)
    ds = EvaluatedDataset(Dataset("test", "internal", "mem.csv", "", frame, y), np.asarray(p, float))
    s = spec.settings
    engine = ResamplingEngine(s.seed, s.n_resamples, s.confidence, s.ci_method)
    return AuditContext(spec, Path("."), {"test": ds}, engine)


def analyse(ctx):
    ds = ctx.datasets["test"]
    parts = groups.build_partitions(ds, list(ctx.spec.data.sensitive), None, ctx.spec.settings.intersectional)
    return fairness.analyse(ds, parts, ctx)


def simulated(n, seed, sens_by_group=None):
    """Two attributes; sensitivity at 0.5 set per sex when ``sens_by_group`` is given."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    band = rng.choice(["<50", "50-69", ">=70"], n, p=[0.3, 0.5, 0.2])
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(rng.normal(0.3 + 0.35 * y, 0.18), 0.001, 0.999)
    if sens_by_group:
        for group, sens in sens_by_group.items():
            rows = (sex == group) & (y == 1)
            hit = rng.random(rows.sum()) < sens
            p[rows] = np.where(hit, rng.uniform(0.5, 0.99, rows.sum()), rng.uniform(0.01, 0.49, rows.sum()))
    return pd.DataFrame({"y": y, "p": p, "sex": sex, "band": band}), p


NAN = {"zero_division": np.nan}
SKLEARN = {
    "sensitivity": functools.partial(skm.recall_score, **NAN),
    "specificity": functools.partial(skm.recall_score, pos_label=0, **NAN),
    "ppv": functools.partial(skm.precision_score, **NAN),
    "npv": functools.partial(skm.precision_score, pos_label=0, **NAN),
    "fnr": false_negative_rate,
    "fpr": false_positive_rate,
    "selection_rate": selection_rate,
}


def test_group_estimates_equal_fairlearn_metricframe_and_disparities_equal_fairlearn():
    frame, p = simulated(3000, 1)
    data, _ = analyse(context(frame, p, ["sex", "band"]))
    pred = (p >= 0.5).astype(int)
    for part in data["partitions"]:
        labels = groups.build_partitions(
            EvaluatedDataset(Dataset("test", "internal", "m", "", frame, frame["y"].to_numpy()), p), ["sex", "band"], None, True
        )
        sf = next(x for x in labels if x.name == part["name"]).labels
        by_label = MetricFrame(metrics=SKLEARN, y_true=frame["y"], y_pred=pred, sensitive_features=sf).by_group
        ranked = MetricFrame(
            metrics={"auroc": skm.roc_auc_score, "brier": skm.brier_score_loss}, y_true=frame["y"], y_pred=p, sensitive_features=sf
        ).by_group
        for g in part["groups"]:
            for m in fairness.METRICS:
                ref = ranked.loc[g["label"], m] if m in ("auroc", "brier") else by_label.loc[g["label"], m]
                assert g["metrics"][m]["value"] == pytest.approx(ref, abs=1e-12), (part["name"], g["label"], m)
        d = part["disparities"]
        assert d["demographic_parity_difference"]["value"] == pytest.approx(demographic_parity_difference(frame["y"], pred, sensitive_features=sf), abs=1e-12)
        assert d["equalized_odds_difference"]["value"] == pytest.approx(equalized_odds_difference(frame["y"], pred, sensitive_features=sf), abs=1e-12)
        assert d["equal_opportunity_difference"]["value"] == pytest.approx(equal_opportunity_difference(frame["y"], pred, sensitive_features=sf), abs=1e-12)


def test_gap_interval_is_paired_from_the_same_resamples():
    frame, p = simulated(2000, 2)
    ctx = context(frame, p, ["sex"], intersectional=False, ci_method="percentile")
    data, _ = analyse(ctx)
    part = data["partitions"][0]
    comp = part["gaps"]["sensitivity"]["comparisons"][0]
    ref = next(g for g in part["groups"] if g["label"] == part["reference"])
    other = next(g for g in part["groups"] if g["label"] == comp["group"])
    assert comp["difference"]["value"] == pytest.approx(other["metrics"]["sensitivity"]["value"] - ref["metrics"]["sensitivity"]["value"], abs=1e-12)
    # paired: positively correlated errors cancel, so the gap's CI is no wider than the two group CIs combined
    width = np.diff(comp["difference"]["ci"])[0]
    assert width < np.diff(ref["metrics"]["sensitivity"]["ci"])[0] + np.diff(other["metrics"]["sensitivity"]["ci"])[0]


def test_model_biased_by_construction_is_flagged_with_a_ci_that_excludes_zero():
    frame, p = simulated(6000, 3, sens_by_group={"F": 0.6, "M": 0.9})
    data, findings = analyse(context(frame, p, ["sex"], intersectional=False))
    comp = data["partitions"][0]["gaps"]["sensitivity"]["comparisons"][0]
    lo, hi = comp["difference"]["ci"]
    assert comp["significant"] and (hi < 0 or lo > 0)
    assert abs(comp["difference"]["value"]) == pytest.approx(0.3, abs=0.06)
    warned = [f.message for f in findings if f.severity == "warning" and f.message.startswith("Sensitivity")]
    assert warned and "sex=F" in warned[0] and "sex=M" in warned[0] and "simultaneous CI" in warned[0]


def test_unbiased_model_is_not_flagged_in_at_least_90_percent_of_simulations():
    flagged = 0
    runs = 60
    for seed in range(runs):
        frame, p = simulated(800, 100 + seed)
        _, findings = analyse(context(frame, p, ["sex"], n_resamples=200, intersectional=False))
        flagged += any(f.severity == "warning" for f in findings)
    assert flagged / runs <= 0.10


def test_tiny_group_one_class_group_and_missing_attribute_do_not_crash_and_are_marked():
    frame, p = simulated(600, 4)
    frame = frame.astype({"band": object})
    frame.loc[:2, "band"] = "tiny"  # a group of 3 patients
    frame.loc[3:40, "band"] = "oneclass"
    frame.loc[3:40, "y"] = 0  # a group without any patient with the outcome
    frame.loc[41:60, "band"] = np.nan  # missing attribute values
    data, findings = analyse(context(frame, p, ["band"], intersectional=False))
    groups = {g["label"]: g for g in data["partitions"][0]["groups"]}
    assert groups["tiny"]["status"] == "insufficient evidence" and "n = 3" in groups["tiny"]["reason"]
    assert groups["oneclass"]["status"] == "insufficient evidence" and groups["oneclass"]["metrics"]["auroc"]["value"] is None
    assert groups["oneclass"]["metrics"]["sensitivity"]["value"] is None
    assert MISSING in groups and groups[MISSING]["n"] == 20
    assert groups["tiny"]["metrics"]["specificity"]["method"] == "clopper-pearson"
    assert data["partitions"][0]["reference"] not in ("tiny", "oneclass")
    assert any("tiny" in f.message for f in findings)


def test_reference_group_can_be_configured_and_unknown_reference_is_a_plain_error():
    from audit.errors import AuditInputError

    frame, p = simulated(1000, 5)
    data, _ = analyse(context(frame, p, ["sex"], intersectional=False, reference_groups={"sex": "F"}))
    assert data["partitions"][0]["reference"] == "F"
    with pytest.raises(AuditInputError, match="'X'.*choose one"):
        analyse(context(frame, p, ["sex"], intersectional=False, reference_groups={"sex": "X"}))


def test_intersection_partition_and_one_max_t_family_per_dataset():
    frame, p = simulated(2000, 6)
    data, _ = analyse(context(frame, p, ["sex", "band"]))
    kinds = [part["kind"] for part in data["partitions"]]
    assert kinds == ["attribute", "attribute", "intersection"]
    inter = data["partitions"][2]
    assert len(inter["groups"]) == 6 and all(" & " in g["label"] for g in inter["groups"])
    adjusted = [c["p_adjusted"] for part in data["partitions"] for c in part["gaps"]["auroc"]["comparisons"]]
    assert all(a is not None and 0 <= a <= 1 for a in adjusted)
    # one family: every comparison of every partition and metric (fnr/fpr mirror sensitivity/specificity)
    tested = [m for m in fairness.METRICS if m not in fairness.MIRRORS]
    rows = sum(len(part["gaps"][m]["comparisons"]) for part in data["partitions"] for m in tested)
    assert data["simultaneous"]["comparisons"] == rows
    for part in data["partitions"]:
        for m in fairness.METRICS:
            for c in part["gaps"][m]["comparisons"]:
                assert c["difference"]["simultaneous"] == data["simultaneous"]["description"]


def test_fairness_section_in_an_audit_without_sensitive_attributes_is_not_run(tmp_path):
    import audit

    frame, _ = simulated(200, 7)
    frame.to_csv(tmp_path / "t.csv", index=False)
    res = audit.run({"name": "x", "data": {"test": str(tmp_path / "t.csv"), "target": "y", "prediction": "p"},
                     "settings": {"n_resamples": 100}, "checks": ["fairness"]})
    assert res.sections["fairness"]["status"] == "not run"


def test_site_column_is_analysed_as_groups(tmp_path):
    import audit

    frame, _ = simulated(900, 8)
    frame["hospital"] = np.where(np.arange(900) % 3 == 0, "A", "B")
    frame.to_csv(tmp_path / "t.csv", index=False)
    res = audit.run({"name": "x", "data": {"test": str(tmp_path / "t.csv"), "target": "y", "prediction": "p", "site": "hospital"},
                     "settings": {"n_resamples": 100}, "checks": ["fairness"]})
    parts = res.sections["fairness"]["datasets"]["test"]["partitions"]
    assert [(x["name"], x["kind"]) for x in parts] == [("hospital", "site")]


def test_intersection_labels_spell_each_row_as_the_row_by_row_join():
    from audit.groups import intersection_labels

    rng = np.random.default_rng(4)
    a = rng.choice(["F", "M", "(missing)"], 500).astype(str)
    b = rng.choice(["<50", "50 & over", "x=y"], 500).astype(str)
    naive = np.array([f"sex={u} & band={v}" for u, v in zip(a, b)], dtype=object).astype(str)
    np.testing.assert_array_equal(intersection_labels(["sex", "band"], [a, b]), naive)


def test_partitions_code_groups_in_numpy_unique_order_and_are_built_once_per_dataset():
    """A partition's groups and codes are numpy.unique's sorted labels and inverse (by hashing, not sorting every row);
    its rows are the rows whose label is the group's; build_partitions returns the same objects on a second call."""
    from audit.groups import build_partitions, partitions_of, sorted_codes
    from audit.stats.metrics import _finest

    rng = np.random.default_rng(8)
    labels = rng.choice(["b", "B", "a", "(missing)", "Ä", "10", "9"], 400).astype(str)
    groups, codes = sorted_codes(labels)
    values, inverse = np.unique(labels, return_inverse=True)
    assert list(groups) == list(values) and np.array_equal(codes, inverse.ravel())
    frame = pd.DataFrame({"sex": rng.choice(["F", "M", None], 300), "band": rng.choice(["<50", "50+"], 300), "y": 0})
    for part in partitions_of(frame, ["sex", "band"], None, True):
        naive = part.labels
        assert list(part.groups) == list(np.unique(naive))
        for label, rows in part.members():
            assert np.array_equal(rows, naive == label) and np.array_equal(part.rows(label), rows)
    ds = EvaluatedDataset(Dataset("test", "internal", "m", "", frame, frame["y"].to_numpy()), np.zeros(300))
    first = build_partitions(ds, ["sex", "band"], None, True)
    assert build_partitions(ds, ["sex", "band"], None, True) is first
    assert build_partitions(ds, ["sex"], None, False) is not first
    # the finest cells of several partitions: numpy.unique over the rows of stacked codes, as mixed-radix integers
    a, b = rng.integers(0, 3, 300), rng.choice(["x", "y", "z", "w"], 300)
    stacked = np.column_stack([np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]])
    assert np.array_equal(_finest([a, b]), np.unique(stacked, axis=0, return_inverse=True)[1].ravel())
