"""Conformal uncertainty: MAPIE's split conformal guarantee, marginal and per group (Mondrian)."""

import numpy as np
import pandas as pd
from scipy.special import expit

from audit.checks import uncertainty
from test_fairness import context


def population(n, rng):
    """A model that is much better for group A than for group B, so marginal sets under-cover B."""
    group = rng.choice(["A", "B"], n, p=[0.7, 0.3])
    lp = rng.normal(-0.3, 1.5, n)
    y = (rng.random(n) < expit(lp)).astype(int)
    noise = np.where(group == "A", 0.3, 2.5)
    p = expit(lp + rng.normal(0, noise))
    return y, p, group


def test_marginal_coverage_is_at_least_the_target_over_repeated_random_splits():
    rng = np.random.default_rng(0)
    alpha = 0.1
    coverages = []
    for _ in range(200):
        y, p, _ = population(600, rng)
        sets = uncertainty.conformal_sets(p[:300], y[:300], p[300:], [1 - alpha])[:, :, 0]
        coverages.append(sets[np.arange(300), y[300:]].mean())
    assert np.mean(coverages) >= 1 - alpha - 0.01


def test_mondrian_coverage_is_at_least_the_target_in_each_group_where_marginal_fails():
    rng = np.random.default_rng(1)
    alpha = 0.1
    marginal = {"A": [], "B": []}
    mondrian = {"A": [], "B": []}
    for _ in range(150):
        y, p, g = population(1200, rng)
        cal, ev = slice(0, 600), slice(600, None)
        sets = uncertainty.conformal_sets(p[cal], y[cal], p[ev], [1 - alpha])[:, :, 0]
        for label in ("A", "B"):
            rows = g[ev] == label
            marginal[label].append(sets[rows][np.arange(rows.sum()), y[ev][rows]].mean())
            own = uncertainty.conformal_sets(p[cal][g[cal] == label], y[cal][g[cal] == label], p[ev][rows], [1 - alpha])[:, :, 0]
            mondrian[label].append(own[np.arange(rows.sum()), y[ev][rows]].mean())
    assert np.mean(marginal["B"]) < 1 - alpha - 0.02  # the hard group is under-covered marginally
    for label in ("A", "B"):
        assert np.mean(mondrian[label]) >= 1 - alpha - 0.015


def test_uncertainty_check_flags_an_under_covered_group_and_reports_mondrian_side_by_side():
    rng = np.random.default_rng(2)
    y, p, g = population(4000, rng)
    frame = pd.DataFrame({"y": y, "p": p, "grp": g})
    section = uncertainty.run(context(frame, p, ["grp"], coverage=[0.8, 0.9]))
    test = section.data["datasets"]["test"]
    assert [lvl["target"] for lvl in test["levels"]] == [0.8, 0.9]
    groups = {x["group"]: x for x in test["levels"][1]["groups"]}
    assert groups["B"]["marginal"]["coverage"]["value"] < 0.9 <= groups["B"]["mondrian"]["coverage"]["value"] + 0.02
    assert any(f.severity == "warning" and "grp=B" in f.message and "Mondrian" in f.message for f in section.findings)
    overall = test["levels"][1]["overall"]
    assert overall["coverage"]["ci"][0] <= overall["coverage"]["value"] <= overall["coverage"]["ci"][1]
    assert set(section.evidence) == {"uncertainty.conformal", "uncertainty.subgroups"}


def test_a_separate_calibration_dataset_is_used_whole_and_hashed(tmp_path):
    import audit

    rng = np.random.default_rng(3)
    for name, n in (("cal", 500), ("test", 700)):
        y, p, g = population(n, rng)
        pd.DataFrame({"y": y, "p": p, "grp": g}).to_csv(tmp_path / f"{name}.csv", index=False)
    res = audit.run({"name": "conformal", "data": {"test": str(tmp_path / "test.csv"), "calibration": str(tmp_path / "cal.csv"),
                                                 "target": "y", "prediction": "p", "sensitive": ["grp"]},
                     "settings": {"n_resamples": 100}, "checks": ["uncertainty"]})
    section = res.sections["uncertainty"]
    assert {k: section["calibration"][k] for k in ("dataset", "share", "n")} == {"dataset": "calibration", "share": None, "n": 500}
    assert section["datasets"]["test"]["n_evaluated"] == 700
    assert "data:calibration" in res.results["provenance"]["files"]
