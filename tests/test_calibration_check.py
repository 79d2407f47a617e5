"""The calibration check end to end: findings, subgroups, report."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from audit.checks import calibration
from test_fairness import context


def simulated_frame(n, seed, stretch=1.0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.5, 1.2, n)
    y = (rng.random(n) < expit(lp)).astype(int)
    sex = rng.choice(["F", "M"], n)
    return pd.DataFrame({"y": y, "p": expit(stretch * lp), "sex": sex})


def test_well_calibrated_model_passes_and_over_confident_model_is_flagged_with_its_slope():
    good = simulated_frame(8000, 1)
    section = calibration.run(context(good, good["p"], ["sex"], intersectional=False))
    assert section.status == "pass"
    m = section.data["datasets"]["test"]["metrics"]
    assert m["calibration_slope"]["ci"][0] <= 1 <= m["calibration_slope"]["ci"][1]

    bad = simulated_frame(8000, 2, stretch=2.0)
    section = calibration.run(context(bad, bad["p"], ["sex"], intersectional=False))
    slope = section.data["datasets"]["test"]["metrics"]["calibration_slope"]
    assert slope["value"] == pytest.approx(0.5, abs=0.05)
    messages = [f.message for f in section.findings if f.severity == "warning"]
    assert any(msg.startswith("Predicted risks are too extreme in test: calibration slope 0.5") for msg in messages)
    assert any("sex=F" in msg for msg in messages) and any("sex=M" in msg for msg in messages)
    assert set(section.evidence) == {"calibration.slope_intercept", "calibration.ece", "calibration.curve", "calibration.subgroups"}


def test_small_and_one_class_groups_are_marked_not_fitted():
    frame = simulated_frame(600, 3)
    frame.loc[:4, "sex"] = "X"  # 5 patients
    frame.loc[5:60, "sex"] = "Y"
    frame.loc[5:60, "y"] = 0  # one class only
    section = calibration.run(context(frame, frame["p"], ["sex"], intersectional=False))
    groups = {g["group"]: g for g in section.data["datasets"]["test"]["subgroups"]}
    assert groups["X"]["status"] == groups["Y"]["status"] == "insufficient evidence"
    assert groups["X"]["metrics"] == {} and groups["F"]["metrics"]["calibration_slope"]["value"] is not None


def test_example_audit_reports_gbsg_calibration_in_the_large(example_dir, tmp_path):
    from audit.cli import main

    assert main(["run", str(example_dir / "audit.yaml"), "--out", str(tmp_path), "-q", "--n-resamples", "200"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    cal = results["sections"]["calibration"]["datasets"]
    assert cal["gbsg"]["metrics"]["calibration_intercept"]["ci"][0] > 0  # GBSG's risks are underestimated
    assert cal["gbsg"]["metrics"]["oe_ratio"]["value"] > 1
    assert set(cal["test"]["summaries"]) >= {"ici", "e50", "e90", "emax", "spiegelhalter_z", "hosmer_lemeshow", "brier_decomposition"}
    html = (tmp_path / "report.html").read_text()
    assert "Reliability diagram" in html and "Calibration slope" in html


def test_utility_check_decision_curve_matches_the_net_benefit_formula():
    from audit.checks import utility

    frame = simulated_frame(3000, 4)
    ctx = context(frame, frame["p"], ["sex"], dca_thresholds=[0.1, 0.2, 0.5])
    section = utility.run(ctx)
    curve = section.data["datasets"]["test"]
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    for t, est in zip(curve["thresholds"], curve["model"]):
        treated = p >= t
        by_hand = (treated & (y == 1)).sum() / y.size - (treated & (y == 0)).sum() / y.size * t / (1 - t)
        assert est["value"] == pytest.approx(by_hand, abs=1e-12) and est["ci"][0] <= est["value"] <= est["ci"][1]
    assert section.evidence == {"utility.net_benefit": "shown"} and "decision_curve" in section.figures


def test_bad_dca_thresholds_are_a_plain_error():
    from audit.checks import utility
    from audit.errors import AuditInputError

    frame = simulated_frame(300, 5)
    with pytest.raises(AuditInputError, match="dca_thresholds"):
        utility.run(context(frame, frame["p"], ["sex"], dca_thresholds=[0.0, 0.5]))


def test_decision_curves_per_subgroup_when_asked():
    from audit.checks import utility

    frame = simulated_frame(2000, 6)
    frame.loc[:9, "sex"] = "tiny"
    section = utility.run(context(frame, frame["p"], ["sex"], dca_thresholds=[0.1, 0.3], dca_subgroups=True))
    groups = {g["group"]: g for g in section.data["datasets"]["test"]["subgroups"]}
    assert groups["tiny"]["status"] == "insufficient evidence" and "model" not in groups["tiny"]
    rows = (frame["sex"] == "F").to_numpy()
    y, p = frame["y"].to_numpy()[rows], frame["p"].to_numpy()[rows]
    t = 0.3
    by_hand = ((p >= t) & (y == 1)).sum() / y.size - ((p >= t) & (y == 0)).sum() / y.size * t / (1 - t)
    assert groups["F"]["model"][1]["value"] == pytest.approx(by_hand, abs=1e-12)
    assert any("sex=F" in f.message for f in section.findings)


def test_profile_likelihood_intervals_on_request():
    frame = simulated_frame(1500, 7)
    section = calibration.run(context(frame, frame["p"], ["sex"], intersectional=False, calibration_ci="profile"))
    m = section.data["datasets"]["test"]["metrics"]
    assert m["calibration_slope"]["method"] == m["calibration_intercept"]["method"] == "profile-likelihood"
