"""Issue 17: every input ends in a valid report or one plain message. One regression test per cause the
fuzzing measured, each with the smallest input that triggered it: data a user meets (a lone positive,
small groups, hard 0/1 or constant predictions, infinite values, an external site without an estimable
AUROC difference), settings without limits, hostile structure, too many groups, and leakage checked
whatever the checks list."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

import audit
from audit.errors import AuditInputError
from audit.spec import MAX_DEPTH, load_spec


def table(n: int, seed: int = 0, positives: int | None = None, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int) if positives is None else np.r_[np.ones(positives, int), np.zeros(n - positives, int)]
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    return pd.DataFrame({"pid": np.arange(n), "y": y, "p": p, "sex": rng.choice(["F", "M"], n), "x": rng.normal(size=n), **columns})


def audited(tmp_path, frames: dict[str, pd.DataFrame], checks, settings=None, data=None):
    """Run an audit of the tables (the first is the test set), and prove its results.json is strict JSON."""
    paths = {}
    for name, frame in frames.items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    names = list(paths)
    spec = {"name": "edge", "data": {"test": str(paths[names[0]]), "external": {n: str(paths[n]) for n in names[1:]},
                                     "target": "y", "prediction": "p", "sensitive": ["sex"], **(data or {})},
            "settings": {"n_resamples": 50, **(settings or {})}, "checks": list(checks)}
    result = audit.run(spec)
    json.loads(json.dumps(result.results, allow_nan=False))  # no NaN or infinity reaches results.json
    assert "<html" in result.to_html()[:200].lower()
    return result


# ------------------------------------------------------------------------------ data a user meets


def test_one_positive_in_the_test_set_gives_conformal_sets_from_an_unstratified_split(tmp_path):
    result = audited(tmp_path, {"test": table(100, positives=1)}, ["uncertainty"])
    assert result.sections["uncertainty"]["calibration"]["n"] == 50


def test_a_calibration_set_too_small_for_the_coverage_is_a_finding_not_a_crash(tmp_path):
    result = audited(tmp_path, {"test": table(16)}, ["uncertainty"])  # 8 calibration patients; 90% needs 11
    section = result.sections["uncertainty"]
    assert section["status"] == "insufficient evidence" and section["evidence"] == {"uncertainty.conformal": "thin", "uncertainty.subgroups": "thin"}
    assert any("8 calibration patients, at least 11 needed for 90% coverage" in f["message"] for f in result.results["findings"])


def test_a_small_group_is_not_calibrated_on_its_own_and_says_why(tmp_path):
    sex = ["F"] * 10 + ["M"] * 50  # about 5 women calibrate
    result = audited(tmp_path, {"test": table(60, sex=sex)}, ["uncertainty"])
    groups = result.sections["uncertainty"]["datasets"]["test"]["levels"][0]["groups"]
    women = next(g for g in groups if g["group"] == "F")
    assert women["mondrian"] is None and "needed for 90% coverage" in women["mondrian_reason"]


@pytest.mark.parametrize("kind", ["hard 0/1", "constant"])
def test_hard_or_constant_predictions_give_null_summaries_with_a_reason(tmp_path, kind):
    frame = table(200)
    frame["p"] = frame["y"].astype(float) if kind == "hard 0/1" else 0.3
    result = audited(tmp_path, {"test": frame}, ["calibration", "performance", "utility"])
    summaries = result.sections["calibration"]["datasets"]["test"]["summaries"]
    if kind == "hard 0/1":
        assert summaries["spiegelhalter_z"] is None and summaries["spiegelhalter_reason"].startswith("undefined")


@pytest.mark.parametrize("column", [[np.inf] + [1.0] * 199, [1e308, 1e308] + [1.0] * 198], ids=["inf", "1e308"])
def test_infinite_or_huge_values_in_an_unused_column_are_summarised(tmp_path, column):
    result = audited(tmp_path, {"test": table(200, z=column)}, ["profile"])
    z = result.sections["profile"]["datasets"]["test"]["numeric"]["z"]
    assert np.isfinite(z["mean"]) and np.isfinite(z["sd"])
    if np.isinf(column[0]):
        assert z["n_infinite"] == 1 and z["n"] == 199
        assert any("infinite values" in f["message"] for f in result.results["findings"])
    else:
        assert z["max"] == 1e308 and z["mean"] == pytest.approx(1e306)  # (2 x 1e308 + 198) / 200, without overflow


def test_an_external_site_without_an_estimable_auroc_difference_or_recalibration(tmp_path):
    frames = {"test": table(200), "a": table(60, seed=1, positives=1), "b": table(60, seed=2, positives=59)}
    result = audited(tmp_path, frames, ["external", "performance", "calibration"])
    a = result.sections["external"]["datasets"]["a"]
    assert a["gaps"]["auroc"]["difference"]["ci"] is None
    assert any("AUROC difference between a and the internal test set is not estimable" in f["message"] for f in result.results["findings"])


def test_an_external_site_with_constant_predictions(tmp_path):
    frame = table(200, seed=3)
    frame["p"] = 0.3
    result = audited(tmp_path, {"test": table(200), "a": frame}, ["external"])
    recal = result.sections["external"]["datasets"]["a"]["recalibration"]
    assert recal["logistic_recalibrated"] is None and "not estimable" in recal["reason"]


# ------------------------------------------------------------------------------ settings with limits


BASE = {"name": "x", "data": {"test": "t.csv", "target": "y", "prediction": "p"}}


@pytest.mark.parametrize("settings, message", [
    ({"seed": -1}, "'settings.seed' in the spec is -1, but it should be greater than or equal to 0"),
    ({"seed": 2**32}, "should be less than 4294967296"),
    ({"coverage": 1.0}, "each target must lie strictly between 0 and 1"),
    ({"coverage": 1.5}, "each target must lie strictly between 0 and 1"),
    ({"coverage": []}, "settings.coverage is an empty list"),
    ({"coverage": float("nan")}, "'settings.coverage' in the spec is nan, but it should be a finite number"),
    ({"gap_warning": float("inf")}, "'settings.gap_warning' in the spec is inf, but it should be a finite number"),
    ({"dca_thresholds": [0.1, float("inf")]}, "'settings.dca_thresholds[1]' in the spec is inf"),
    ({"conformal_calibration_share": 0.001}, "greater than or equal to 0.1"),
    ({"conformal_calibration_share": 0.9999999999999999}, "less than or equal to 0.9"),
    ({"n_resamples": 2**63}, "less than or equal to 100000"),
    ({"n_resamples": 10**7}, "less than or equal to 100000"),
    ({"scheduler": "garbage"}, "settings.scheduler is 'garbage', which is not a Dask scheduler address"),
    ({"scheduler": "inproc://x"}, "which is not a Dask scheduler address"),
])
def test_settings_out_of_bounds_are_one_plain_message(settings, message):
    with pytest.raises(AuditInputError) as caught:
        load_spec({**BASE, "settings": settings})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_infinite_robustness_budget_is_refused():
    with pytest.raises(AuditInputError, match=r"'robustness.l2_epsilons\[1\]' in the spec is inf, but it should be a finite number"):
        load_spec({**BASE, "robustness": {"l2_epsilons": [0, float("inf")]}})


def test_a_dask_address_and_numpy_values_from_python_are_accepted():
    spec, _ = load_spec({**BASE, "settings": {"scheduler": "tcp://10.0.0.5:8786", "seed": np.int64(3), "coverage": np.float64(0.8)}})
    assert (spec.settings.scheduler, spec.settings.seed, spec.settings.coverage) == ("tcp://10.0.0.5:8786", 3, 0.8)
    assert type(spec.settings.seed) is int


# ------------------------------------------------------------------------------ hostile structure


def test_a_dict_spec_nested_1500_deep_is_refused_quickly():
    deep = leaf = {}
    for _ in range(1500):
        leaf["a"] = {}
        leaf = leaf["a"]
    with pytest.raises(AuditInputError, match=f"nested more than {MAX_DEPTH} levels deep"):
        load_spec({**BASE, "description": deep})


def test_a_yaml_spec_with_1000_brackets_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\ndescription: " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    with pytest.raises(AuditInputError, match=f"deep.yaml is nested more than {MAX_DEPTH} levels deep at line 2"):
        load_spec(path)


def test_yaml_aliases_that_expand_a_billion_times_are_refused_in_milliseconds(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nname: x\ndata: {test: t.csv, target: y, prediction: p}\ndescription: *a9\n", encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(AuditInputError, match="expands to more than 100,000 values"):
        load_spec(path)
    assert time.perf_counter() - start < 2.0  # 9 levels took more than 10 s and 562 MB before


def test_a_400000_character_group_label_is_shortened_in_figures_only(tmp_path):
    label = "A" * 400_000
    result = audited(tmp_path, {"test": table(200, sex=[label] * 100 + ["B"] * 100)}, ["fairness"])
    groups = result.sections["fairness"]["datasets"]["test"]["partitions"][0]["groups"]
    assert label in {g["label"] for g in groups}  # results.json keeps the full text
    assert all(label not in figure.svg for figure in result.figures["fairness"].values())


# ------------------------------------------------------------------------------ how many groups


def test_an_attribute_with_more_groups_than_the_limit_is_a_plain_error(tmp_path):
    frame = table(300, band=[f"g{i}" for i in range(300)])
    with pytest.raises(AuditInputError, match=r"data.sensitive column 'band' has 300 groups in dataset 'test', more than settings.max_groups \(50\)"):
        audited(tmp_path, {"test": frame}, ["fairness"], data={"sensitive": ["sex", "band"]})
    result = audited(tmp_path, {"test": frame}, ["profile"], data={"sensitive": ["sex", "band"]}, settings={"max_groups": 300})
    assert result.sections["profile"]["status"] in ("pass", "warning")


def test_an_intersection_with_more_groups_than_the_limit_is_left_out_with_a_finding(tmp_path):
    rng = np.random.default_rng(5)
    frame = table(400, band=rng.choice([f"b{i}" for i in range(8)], 400), region=rng.choice([f"r{i}" for i in range(8)], 400))
    result = audited(tmp_path, {"test": frame}, ["fairness"], data={"sensitive": ["band", "region"]}, settings={"max_groups": 20})
    kinds = [p["kind"] for p in result.sections["fairness"]["datasets"]["test"]["partitions"]]
    assert kinds == ["attribute", "attribute"]
    assert any("has 64 groups, more than settings.max_groups (20); it was not analysed" in f["message"] for f in result.results["findings"])


def test_more_external_sites_than_the_limit_is_a_plain_error():
    with pytest.raises(AuditInputError, match="data.external names 3 sites, more than settings.max_groups"):
        load_spec({**BASE, "data": {**BASE["data"], "external": {"a": "a.csv", "b": "b.csv", "c": "c.csv"}},
                   "settings": {"max_groups": 2}})


# ------------------------------------------------------------------------------ no silent gaps


def test_shared_patients_are_found_whatever_the_checks_list(tmp_path):
    a, b = table(200), table(200, seed=1)
    b["pid"] += 150  # 50 patients in both
    result = audited(tmp_path, {"test": a, "b": b}, ["performance"], data={"id": "pid"})
    profile = result.sections["profile"]
    assert profile["light"] is True and profile["status"] == "fail" and profile["datasets"] == {}
    assert profile["evidence"] == {"data.overlap": "contradicted"}
    assert any("50 patient identifiers (column pid) appear in both test and b" in f["message"] for f in result.results["findings"])


def test_identifiers_unique_only_within_a_file_claim_no_cross_file_leakage(tmp_path):
    a, b = table(200), table(200, seed=1)
    b.loc[:1, "pid"] = 7  # one identifier repeated within b; the files share 0..199, which means nothing here
    result = audited(tmp_path, {"test": a, "b": b}, ["performance"], data={"id": "pid", "id_scope": "dataset"})
    profile = result.sections["profile"]
    assert profile["status"] == "warning" and profile["evidence"] == {} and profile["leakage"]["overlaps"] == []
    assert profile["leakage"]["duplicates"]["b"]["count"] == 1
    with pytest.raises(AuditInputError, match="data.id_scope: dataset says identifiers are only unique within a file"):
        load_spec({**BASE, "data": {**BASE["data"], "id": "pid", "id_scope": "dataset", "train": "train.csv"}})


# ------------------------------------------------------------------------------ messages and the safety net


def test_a_message_is_cut_to_a_few_hundred_characters_and_a_spec_lists_at_most_three_problems():
    from audit.errors import MAX_MESSAGE

    assert len(str(AuditInputError("x" * 5000))) == MAX_MESSAGE
    many = {f"setting_{i}": 1 for i in range(12)}
    with pytest.raises(AuditInputError) as caught:
        load_spec({**BASE, "settings": many})
    message = str(caught.value)
    assert "has 12 problems" in message and message.endswith("; and 9 more.") and "(3) unknown key" in message
    assert "(4)" not in message and "\n" not in message
    assert len(message) < MAX_MESSAGE


def test_a_non_finite_value_a_check_let_through_becomes_null_with_a_warning():
    from audit.runner import null_non_finite

    results = {"sections": {"x": {"value": float("nan"), "ci": [0.1, float("inf")], "ok": 0.5}}, "findings": []}
    null_non_finite(results)
    assert results["sections"]["x"] == {"value": None, "ci": [0.1, None], "ok": 0.5}
    assert "2 values could not be computed" in results["findings"][0]["message"]
    assert "sections.x.value, sections.x.ci[1]" in results["findings"][0]["message"]
    json.dumps(results, allow_nan=False)
