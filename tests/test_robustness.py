"""Robustness without PyTorch: perturbations, their metrics and the check on sklearn models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.proportion import proportion_confint

import audit
from audit.robustness import corruptions, perturbations
from audit.robustness.evaluate import stress_point


def table(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.normal(60, 10, n), "bmi": rng.normal(27, 4, n),
                          "smoker": rng.choice(["yes", "no", "former"], n)})
    logit = 0.08 * (frame["age"] - 60) + 0.2 * (frame["bmi"] - 27) + (frame["smoker"] == "yes") * 1.0
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["sex"] = np.where(np.arange(n) % 3 == 0, "F", "M")
    frame["p"] = np.clip(1 / (1 + np.exp(-logit)), 0, 1)
    return frame


@pytest.fixture(scope="module")
def model():
    frame = table(seed=1)
    x = frame[["age", "bmi"]]
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, frame["y"])


def spec(path, **extra) -> dict:
    return {"name": "r", "data": {"test": str(path), "target": "y", "features": ["age", "bmi"], "sensitive": ["sex"]},
            "settings": {"seed": 3, "n_resamples": 50}, "checks": ["robustness"], **extra}


# ---- perturbations ----------------------------------------------------------------------------


def test_noise_adds_gaussian_noise_with_severity_times_the_column_sd():
    frame = table(5000)[["age", "bmi"]]
    noisy = perturbations.gaussian_noise(frame, 0.5, np.random.default_rng(0))
    added = noisy - frame
    sd = frame.std(ddof=1)
    assert np.allclose(added.std(ddof=1) / sd, 0.5, atol=0.02)
    assert np.allclose(added.mean() / sd, 0.0, atol=0.03)


def test_missing_drops_the_severity_share_of_values():
    frame = table(5000)[["age", "smoker"]]
    dropped = perturbations.missing_values(frame, 0.3, np.random.default_rng(0))
    share = dropped.isna().mean()
    assert np.allclose(share, 0.3, atol=0.02)
    kept = dropped["age"].notna()
    assert (dropped.loc[kept, "age"] == frame.loc[kept, "age"]).all()


def test_missing_as_mean_fills_with_the_column_mean_and_mode():
    frame = table(200)[["age", "smoker"]]
    filled = perturbations.missing_values(frame, 0.5, np.random.default_rng(0), missing_as="mean")
    changed = filled["age"] != frame["age"]
    assert np.allclose(filled.loc[changed, "age"], frame["age"].mean())
    assert set(filled.loc[filled["smoker"] != frame["smoker"], "smoker"]) == {frame["smoker"].mode()[0]}


def test_categorical_flip_always_changes_to_another_observed_level():
    frame = table(3000)[["age", "smoker"]]
    flipped = perturbations.categorical_flips(frame, 0.4, np.random.default_rng(0))
    changed = flipped["smoker"] != frame["smoker"]
    assert abs(changed.mean() - 0.4) < 0.03
    assert set(flipped["smoker"]) == set(frame["smoker"])
    assert (flipped["age"] == frame["age"]).all()  # continuous columns are untouched


@pytest.mark.parametrize("kind", ["noise", "missing", "categorical_flip"])
def test_severity_zero_leaves_a_table_unchanged(kind):
    frame = table(100)[["age", "bmi", "smoker"]]
    assert perturbations.perturb(frame, kind, 0.0, np.random.default_rng(0)).equals(frame)


@pytest.mark.parametrize("kind", corruptions.CORRUPTIONS)
def test_severity_zero_leaves_images_unchanged_and_others_stay_in_range(kind):
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(corruptions.corrupt(x, kind, 0.0, np.random.default_rng(0)), x)
    out = corruptions.corrupt(x, kind, 0.5, np.random.default_rng(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1 and not np.array_equal(out, x)


def test_downsample_averages_pixel_blocks():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) / 15
    out = corruptions.downsample(x, 1.0, np.random.default_rng(0))  # k = 1 + round(1 · (2 − 1)) = 2
    assert np.allclose(out[0, 0, :2, :2], x[0, 0, :2, :2].mean())


def test_stress_point_matches_sklearn_and_statsmodels():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    p0, p1 = rng.random(300), rng.random(300)
    point = stress_point(y, p0, p1, 0.5, 0.95)
    assert point["accuracy"]["value"] == pytest.approx(accuracy_score(y, p1 >= 0.5))
    k = int(((p1 >= 0.5) == y).sum())
    assert point["accuracy"]["ci"] == pytest.approx(list(proportion_confint(k, 300, 0.05, method="wilson")))
    assert point["flip_rate"]["value"] == pytest.approx(np.mean((p0 >= 0.5) != (p1 >= 0.5)))
    right0 = (p0 >= 0.5) == y
    assert point["success_rate"]["value"] == pytest.approx(np.mean((p1[right0] >= 0.5) != y[right0]))


# ---- the check --------------------------------------------------------------------------------


def test_prediction_only_audit_skips_the_check_with_the_reason(tmp_path):
    table().to_csv(tmp_path / "t.csv", index=False)
    raw = spec(tmp_path / "t.csv")
    raw["data"]["prediction"] = "p"
    del raw["data"]["features"]
    section = audit.run(raw).sections["robustness"]
    assert section["status"] == "not run"
    assert "there is no model" in section["reason"] and "data.prediction" in section["reason"]


def test_noise_severity_zero_gives_zero_flips_and_clean_metrics(tmp_path, model):
    table().to_csv(tmp_path / "t.csv", index=False)
    result = audit.run(spec(tmp_path / "t.csv", robustness={"perturbations": ["noise", "missing"], "severities": [0, 0.5]}), model=model)
    section = result.sections["robustness"]
    test = section["perturbation"]["datasets"]["test"]
    zero = test["kinds"]["noise"]["points"][0]
    assert zero["severity"] == 0 and zero["flip_rate"]["value"] == 0
    assert zero["auroc"] == test["clean"]["auroc"]
    assert test["kinds"]["noise"]["points"][1]["flip_rate"]["value"] > 0


def test_sklearn_model_gets_perturbations_but_no_attacks(tmp_path, model):
    table().to_csv(tmp_path / "t.csv", index=False)
    result = audit.run(spec(tmp_path / "t.csv", robustness={"severities": [0, 0.3]}), model=model)
    section = result.sections["robustness"]
    assert section["evidence"] == {"robustness.perturbation": "shown", "robustness.subgroups": "shown"}
    assert "gives no gradients" in section["adversarial"]["reason"]
    # a plain LogisticRegression cannot take NaN: reported, not crashed
    assert section["perturbation"]["datasets"]["test"]["kinds"]["missing"]["status"] == "failed"
    assert section["perturbation"]["datasets"]["test"]["kinds"]["categorical_flip"]["status"] == "not applicable"
    groups = section["subgroups"]["datasets"]["test"]["partitions"][0]["groups"]
    assert [g["label"] for g in groups] == ["F", "M"] and sum(g["n"] for g in groups) == 400
    # findings name what was done in words, not by the spec's keys
    messages = [f["message"] for f in result.results["findings"] if f["check"] == "robustness"]
    assert any(m.startswith("Missing values on test:") for m in messages), messages
    assert any(m.startswith("Miscoded categories was not applied to test:") for m in messages), messages
    assert not any("categorical_flip" in m or m.startswith("noise ") for m in messages), messages


def test_unknown_robustness_dataset_is_an_input_error(tmp_path, model):
    table().to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(audit.AuditInputError, match=r"robustness.datasets names 'gbsg'"):
        audit.run(spec(tmp_path / "t.csv", robustness={"datasets": ["gbsg"]}), model=model)


def test_robustness_spec_errors_are_plain(tmp_path):
    with pytest.raises(audit.AuditInputError, match=r"robustness.severities must lie between 0"):
        audit.run(spec(tmp_path / "t.csv", robustness={"severities": [2]}))
    with pytest.raises(audit.AuditInputError, match=r"unknown key 'robustness.epsilon' in the spec; did you mean 'epsilons'"):
        audit.run(spec(tmp_path / "t.csv", robustness={"epsilon": [0.1]}))
