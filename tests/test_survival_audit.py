"""Survival audits end to end on simulated cohorts: the spec's keys, bad inputs, horizons the follow-up cannot
support, a risk score alone, a fitted lifelines model, and determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.errors import AuditInputError
from audit.runner import run
from audit.stats.survival import LinearisedConcordance, concordance


def cohort(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-0.8 * x - shift) * 6)
    t_cens = rng.uniform(1, 12, n)
    return pd.DataFrame({
        "x": x, "time": np.minimum(t_event, t_cens).round(3), "event": (t_event <= t_cens).astype(int),
        "risk2": 1 - np.exp(-2 / 6 * np.exp(0.8 * x)), "risk5": 1 - np.exp(-5 / 6 * np.exp(0.8 * x)), "lp": 0.8 * x,
        "sex": rng.choice(["F", "M"], n),
    })


def spec(tmp_path, test: pd.DataFrame, external: pd.DataFrame | None = None, checks=("performance",), **overrides) -> dict:
    test.to_csv(tmp_path / "test.csv", index=False)
    data = {"test": str(tmp_path / "test.csv"), "time": "time", "event": "event", "prediction": {2: "risk2", 5.0: "risk5"},
            "sensitive": ["sex"]}
    if external is not None:
        external.to_csv(tmp_path / "ext.csv", index=False)
        data["external"] = {"site_b": str(tmp_path / "ext.csv")}
    out = {"name": "simulated survival", "task": "survival", "data": data,
           "settings": {"horizon": [2, 5], "n_resamples": 100, "seed": 3, "threshold": 0.3, "time_unit": "years"},
           "checks": list(checks)}
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if value is None:
            out[section].pop(field, None)
        else:
            out[section][field] = value
    return out


def test_a_survival_audit_runs_every_check_it_defines(tmp_path):
    result = run(spec(tmp_path, cohort(400, 1), cohort(300, 2, 0.3),
                      checks=("profile", "performance", "calibration", "utility", "fairness", "external", "uncertainty")))
    s = result.sections
    perf = s["performance"]["datasets"]["test"]
    assert 0.6 < perf["metrics"]["harrell_c"]["value"] < 0.8 and perf["metrics"]["harrell_c"]["method"] == "infinitesimal-jackknife"
    assert set(perf["horizons"]) == {"2", "5"}  # 5.0 is written as "5"
    assert perf["horizons"]["5"]["oe_ratio"]["method"] == "poisson-log"
    cal = s["calibration"]["datasets"]["test"]["horizons"]["5"]
    assert 0.7 < cal["metrics"]["calibration_slope"]["value"] < 1.3 and cal["summaries"]["ici"] < 0.1
    assert s["utility"]["datasets"]["test at 5"]["thresholds"]
    assert s["fairness"]["metrics"][:3] == ["harrell_c", "auc_t", "brier"]
    assert "harrell_c" in s["external"]["datasets"]["site_b"]["gaps"]
    assert s["uncertainty"]["status"] == "not run"
    assert s["performance"]["evidence"]["performance.censoring"] == "shown"
    assert result.results["datasets"]["test"]["horizons"]["5"]["at_risk"] > 10
    assert s["profile"]["datasets"]["test"]["horizons"]["2"]["events"] > 0  # the profile shows follow-up by horizon
    result.to_html()


def test_the_same_spec_and_seed_give_byte_identical_results(tmp_path):
    a = run(spec(tmp_path, cohort(300, 4), checks=("performance", "fairness", "utility"))).results
    b = run(spec(tmp_path, cohort(300, 4), checks=("performance", "fairness", "utility"))).results
    a.pop("provenance"), b.pop("provenance")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_a_horizon_beyond_follow_up_is_not_estimable_and_the_audit_goes_on(tmp_path):
    d = spec(tmp_path, cohort(300, 5), settings__horizon=[2, 50], data__prediction={2: "risk2", 50: "risk5"})
    s = run(d).sections["performance"]
    entry = s["datasets"]["test"]["horizons"]["50"]["auc_t"]
    assert entry["value"] is None and "beyond the longest follow-up" in entry["reason"]
    assert s["datasets"]["test"]["horizons"]["2"]["auc_t"]["value"] is not None


def test_a_risk_score_alone_gives_discrimination_only(tmp_path):
    d = spec(tmp_path, cohort(300, 6), checks=("performance", "calibration"), data__prediction=None, data__risk_score="lp")
    s = run(d).sections
    horizon = s["performance"]["datasets"]["test"]["horizons"]["5"]
    assert horizon["auc_t"]["value"] is not None and horizon["brier"]["value"] is None
    assert s["calibration"]["status"] == "not run"


@pytest.mark.parametrize("column, values, message", [
    ("time", lambda t: np.where(np.arange(t.size) == 3, -1.0, t), "zero or negative"),
    ("time", lambda t: np.where(np.arange(t.size) == 3, np.nan, t), "empty"),
    ("event", lambda e: np.where(np.arange(e.size) == 3, 2, e), "Competing risks"),
    ("event", lambda e: np.zeros_like(e), "no events"),
    ("risk5", lambda r: np.where(np.arange(r.size) == 3, 1.5, r), "[0, 1]"),
])
def test_bad_inputs_are_one_plain_error(tmp_path, column, values, message):
    frame = cohort(100, 7)
    frame[column] = values(frame[column].to_numpy())
    with pytest.raises(AuditInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run(spec(tmp_path, frame))


@pytest.mark.parametrize("overrides, message", [
    ({"data__prediction": "risk5"}, "names one column"),
    ({"data__prediction": {2: "risk2", 4: "risk5"}}, "horizon 5 has none"),
    ({"settings__horizon": None}, "settings.horizon"),
    ({"data__target": "event"}, "not data.target"),
])
def test_spec_errors_name_the_key_and_the_fix(tmp_path, overrides, message):
    with pytest.raises(AuditInputError, match=message):
        run(spec(tmp_path, cohort(50, 8), **overrides))


def test_5_and_5_0_are_one_horizon(tmp_path):
    cohort(50, 8).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "audit.yaml").write_text(
        "name: x\ntask: survival\ndata: {test: test.csv, time: time, event: event, prediction: {5: risk5, 5.0: risk2}}\n"
        "settings: {horizon: 5}\n")
    with pytest.raises(AuditInputError, match="same horizon|twice|duplicate"):
        run(tmp_path / "audit.yaml")


def test_survival_keys_in_a_binary_spec_are_refused(tmp_path):
    d = spec(tmp_path, cohort(50, 8))
    d.pop("task")
    with pytest.raises(AuditInputError, match="only used by a survival audit"):
        run(d)


class FrameModel:
    """A fitted Cox model with lifelines' interface: predict_survival_function(X, times) -> times x patients frame."""

    def __init__(self, beta: float, lam: float):
        self.beta, self.lam = beta, lam

    def predict_survival_function(self, X, times):
        H = self.lam * np.outer(np.asarray(times, dtype=float), np.exp(self.beta * X["x"].to_numpy()))
        return pd.DataFrame(np.exp(-H), index=list(times))


class StepModel:
    """scikit-survival's interface: predict_survival_function(X) -> one callable step function per patient."""

    def __init__(self, beta: float, lam: float):
        self.beta, self.lam = beta, lam

    def predict_survival_function(self, X):
        return np.array([lambda t, h=self.lam * np.exp(self.beta * x): float(np.exp(-h * t)) for x in X["x"].to_numpy()], dtype=object)


@pytest.mark.parametrize("model", [FrameModel(0.8, 1 / 6), StepModel(0.8, 1 / 6)])
def test_a_fitted_survival_model_is_used_through_its_methods(tmp_path, model):
    test = cohort(300, 10)
    d = spec(tmp_path, test, data__prediction=None)
    d["data"]["features"] = ["x"]
    s = run(d, model=model).sections["performance"]["datasets"]["test"]
    assert s["horizons"]["5"]["expected_risk"]["value"] == pytest.approx(test["risk5"].mean(), rel=1e-9)
    assert s["horizons"]["2"]["expected_risk"]["value"] == pytest.approx(test["risk2"].mean(), rel=1e-9)


def test_a_model_without_survival_methods_is_one_plain_error(tmp_path):
    d = spec(tmp_path, cohort(50, 10), data__prediction=None)
    with pytest.raises(AuditInputError, match="predict_survival_function"):
        run(d, model=object())


def test_group_c_index_replicates_are_its_first_order_expansion():
    """C + w'U: exact at w = 1, matches the exact C of a slightly reweighted sample to first order, and its spread
    over multinomial resamples is the infinitesimal-jackknife standard error."""
    frame = cohort(150, 11)
    time, event, lp = frame["time"].to_numpy(), frame["event"].to_numpy(), frame["lp"].round(1).to_numpy()
    kernel = LinearisedConcordance(time, event, lp, 5.0)
    exact = concordance(time, event, lp, 5.0)
    assert kernel(np.ones((1, 150)))[0] == pytest.approx(exact.value, abs=1e-12)
    rows = np.r_[np.arange(150), [3]]  # row 3 counted twice
    w = np.ones(150)
    w[3] = 2
    first_order = kernel(w[None])[0]
    assert first_order == pytest.approx(concordance(time[rows], event[rows], lp[rows], 5.0).value, abs=5e-4)
    W = np.random.default_rng(0).multinomial(150, np.full(150, 1 / 150), size=4000)
    assert np.std(kernel(W)) == pytest.approx(exact.se, rel=0.05)


def test_command_line_overrides_keep_the_horizons_numbers(tmp_path):
    """`trustaudit run SPEC --n-resamples B` re-validates the spec with the override: the prediction's horizon keys
    must stay numbers (they became the strings "2" and "5.0" through a JSON dump, and the spec was refused)."""
    import yaml

    from audit.cli import main

    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(spec(tmp_path, cohort(300, 4)), sort_keys=False))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q", "--n-resamples", "60", "--seed", "5"]) == 0
    recorded = json.loads((tmp_path / "out" / "results.json").read_text())
    assert recorded["provenance"]["n_resamples"] == 60 and recorded["provenance"]["seed"] == 5
