"""The multilabel task end to end (issue 18, Part 3): each label's numbers equal a binary audit of that label alone,
the averages equal scikit-learn's, the underdiagnosis rate equals a hand count, and bad input is one plain message."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

import audit
from audit.cli import main
from audit.errors import AuditInputError

LABELS = ["ascites", "hepato", "spiders", "none"]
PREDICTIONS = [f"p_{label}" for label in LABELS]


def findings_table(n: int, seed: int, underdiagnose_women: float = 0.25) -> pd.DataFrame:
    """Three findings and a 'none' label (no finding); P(none) raised for women, so the model underdiagnoses them."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], n)
    x = rng.normal(size=(n, 3))
    Y = (rng.random((n, 3)) < 1 / (1 + np.exp(-(x - 1)))).astype(int)
    P = 1 / (1 + np.exp(-(1.5 * x - 1.5 + rng.normal(0, 0.5, (n, 3)))))
    none = np.prod(1 - P, axis=1)
    none = np.where(sex == "f", np.clip(none + underdiagnose_women, 0, 1), none)
    frame = pd.DataFrame(np.column_stack([Y, (Y.sum(axis=1) == 0).astype(int)]), columns=LABELS)
    frame[PREDICTIONS] = np.column_stack([P, none])
    frame["sex"] = sex
    frame["x1"], frame["x2"], frame["x3"] = x.T
    return frame


def spec(tmp_path, frame, external=None, **settings) -> dict:
    frame.to_csv(tmp_path / "test.csv", index=False)
    data = {"test": str(tmp_path / "test.csv"), "target": LABELS, "prediction": PREDICTIONS, "no_finding": "none", "sensitive": ["sex"]}
    if external is not None:
        external.to_csv(tmp_path / "ext.csv", index=False)
        data["external"] = {"ext": str(tmp_path / "ext.csv")}
    return {"name": "findings", "task": "multilabel", "data": data,
            "settings": {"n_resamples": 200, "seed": 5, "threshold": {"ascites": 0.3, "hepato": 0.3, "spiders": 0.3, "none": 0.5}, **settings},
            "checks": ["profile", "performance", "fairness", "calibration"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multilabel")
    frame = findings_table(500, 1)
    return frame, audit.run(spec(tmp, frame))


def test_each_label_equals_a_binary_audit_of_that_label_alone(run, tmp_path):
    frame, result = run
    for label, column, threshold in (("hepato", "p_hepato", 0.3), ("none", "p_none", 0.5)):
        frame.to_csv(tmp_path / "test.csv", index=False)
        alone = audit.run({"name": "b", "data": {"test": str(tmp_path / "test.csv"), "target": label, "prediction": column, "sensitive": ["sex"]},
                           "settings": {"n_resamples": 200, "seed": 5, "threshold": threshold}, "checks": ["performance", "fairness", "calibration"]})
        for check in ("performance", "fairness", "calibration"):
            mine = result.sections[f"{check}:{label}"]
            assert mine["check"] == check and mine["label"]["name"] == label
            assert json.dumps(mine["datasets"], sort_keys=True) == json.dumps(alone.sections[check]["datasets"], sort_keys=True)
        overview = result.sections["performance"]["datasets"]["test"]["labels"][label]
        assert overview["auroc"] == alone.sections["performance"]["datasets"]["test"]["metrics"]["auroc"]


def test_averages_equal_scikit_learn(run):
    frame, result = run
    Y, P = frame[LABELS].to_numpy(), frame[PREDICTIONS].to_numpy()
    metrics = result.sections["performance"]["datasets"]["test"]["metrics"]
    assert metrics["auroc_macro"]["value"] == pytest.approx(roc_auc_score(Y, P, average="macro"), abs=1e-12)
    assert metrics["auroc_micro"]["value"] == pytest.approx(roc_auc_score(Y, P, average="micro"), abs=1e-12)
    assert metrics["auprc_macro"]["value"] == pytest.approx(average_precision_score(Y, P, average="macro"), abs=1e-12)
    assert metrics["auprc_micro"]["value"] == pytest.approx(average_precision_score(Y, P, average="micro"), abs=1e-12)
    assert metrics["auroc_macro"]["n"] == 500 and metrics["auroc_macro"]["method"].startswith("bootstrap")
    lo, hi = metrics["auroc_micro"]["ci"]
    assert lo < metrics["auroc_micro"]["value"] < hi


def test_the_underdiagnosis_rate_equals_a_hand_count_and_its_gap_fails_fairness(run):
    frame, result = run
    section = result.sections["fairness"]
    assert section["metrics"] == ["underdiagnosis"] and section["no_finding"] == "none"
    part = section["datasets"]["test"]["partitions"][0]
    for g in part["groups"]:
        with_finding = (frame["sex"] == g["label"]) & (frame["none"] == 0)
        called_none = with_finding & (frame["p_none"] >= 0.5)
        assert g["n_events"] == int(with_finding.sum())
        assert g["metrics"]["underdiagnosis"]["value"] == pytest.approx(called_none.sum() / with_finding.sum(), abs=1e-12)
    gap = part["gaps"]["underdiagnosis"]["comparisons"][0]
    assert gap["classification"] == "material gap" and section["status"] == "fail"
    assert "underdiagnosis" in result.to_html().lower()


def test_a_model_without_the_underdiagnosis_has_no_material_gap(tmp_path):
    fair = audit.run(spec(tmp_path, findings_table(800, 2, underdiagnose_women=0.0)))
    part = fair.sections["fairness"]["datasets"]["test"]["partitions"][0]
    assert part["gaps"]["underdiagnosis"]["comparisons"][0]["classification"] != "material gap"


def test_profile_and_datasets_list_every_label(run):
    result = run[1]
    assert [c["label"] for c in result.results["datasets"]["test"]["labels"]] == LABELS
    assert result.sections["profile"]["status"] != "not run"
    assert "calibration:none" in result.sections and result.sections["calibration"]["status"] == "not run"


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["data"].update(prediction=PREDICTIONS[:3]), r"one probability column per label"),
    (lambda s: s["data"].update(no_finding="effusion"), r"'effusion', which is not one of the labels"),
    (lambda s: s["settings"].update(threshold={"ascites": 0.3}), r"'hepato' has none"),
    (lambda s: s["settings"].update(threshold=1.5), r"less than or equal to 1"),
    (lambda s: (s.update(task="binary"), s["data"].pop("no_finding"), s["settings"].update(threshold=0.5)), r"data.target names several columns"),
    (lambda s: s["settings"].update(sampling="case-control"), r"case-control is not defined for a multilabel audit"),
])
def test_bad_spec_gives_one_plain_message(tmp_path, edit, message):
    s = spec(tmp_path, findings_table(60, 3))
    edit(s)
    with pytest.raises(AuditInputError, match=message):
        audit.run(s)


def test_a_row_with_no_finding_and_a_finding_is_an_input_error_naming_the_rows(tmp_path, capsys):
    import yaml

    frame = findings_table(60, 4)
    frame.loc[[2, 7], "none"] = 1
    frame.loc[[2, 7], "ascites"] = 1
    s = spec(tmp_path, frame)
    with pytest.raises(AuditInputError, match=r"2 rows say both 'none' \(data.no_finding\) and a finding \(rows 3, 8\)"):
        audit.run(s)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(s))
    assert main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert not (tmp_path / "out").exists()


def test_a_scikit_learn_multi_output_model_gives_each_labels_probability(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    frame = findings_table(200, 6)
    features = ["x1", "x2", "x3"]
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame[features], frame[LABELS])
    frame.drop(columns=PREDICTIONS).to_csv(tmp_path / "test.csv", index=False)
    s = {"name": "m", "task": "multilabel", "data": {"test": str(tmp_path / "test.csv"), "target": LABELS, "features": features},
         "settings": {"n_resamples": 100}, "checks": ["performance"]}
    result = audit.run(s, model=model)
    P = np.column_stack([p[:, 1] for p in model.predict_proba(frame[features])])
    assert result.sections["performance"]["datasets"]["test"]["metrics"]["auroc_macro"]["value"] == pytest.approx(
        roc_auc_score(frame[LABELS].to_numpy(), P, average="macro"), abs=1e-12)


def test_a_label_nobody_has_is_a_finding_not_a_crash(tmp_path):
    frame = findings_table(200, 7)
    frame["ascites"] = 0
    frame["none"] = (frame[["hepato", "spiders"]].sum(axis=1) == 0).astype(int)
    result = audit.run(spec(tmp_path, frame))
    assert any("no patient has the label ascites" in f["message"] for f in result.findings)
    assert result.sections["performance:ascites"]["status"] in ("insufficient evidence", "inconclusive")


@pytest.mark.parametrize("task, k", [("multiclass", 4), ("multilabel", 3)])
def test_an_onnx_model_gives_k_probabilities_for_multiclass_and_multilabel(tmp_path, task, k):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import warnings

    rng = np.random.default_rng(8)
    x = rng.normal(size=(120, 2)).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Linear(2, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(x[:2]),), str(tmp_path / "model.onnx"), dynamo=False,
                          input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "n"}})
    with torch.no_grad():
        z = net(torch.from_numpy(x)).double()
    P = (torch.softmax(z, dim=1) if task == "multiclass" else torch.sigmoid(z)).numpy()
    frame = pd.DataFrame(x, columns=["x1", "x2"])
    if task == "multiclass":
        frame["y"] = rng.integers(0, k, 120)
        data = {"target": "y", "classes": list(range(k))}
    else:
        targets = [f"l{j}" for j in range(k)]
        frame[targets] = (rng.random((120, k)) < 0.4).astype(int)
        data = {"target": targets}
    frame.to_csv(tmp_path / "test.csv", index=False)
    s = {"name": "o", "task": task, "model": {"path": "model.onnx", "output": "logits"},
         "data": {"test": "test.csv", "features": ["x1", "x2"], **data}, "settings": {"n_resamples": 50}, "checks": ["performance"]}
    from audit.runner import run_loaded
    from audit.spec import load_spec

    result = run_loaded(load_spec(s)[0], tmp_path)
    metrics = result.sections["performance"]["datasets"]["test"]["metrics"]
    if task == "multiclass":
        assert metrics["auroc_hand_till"]["value"] == pytest.approx(roc_auc_score(frame["y"], P, multi_class="ovo"), abs=1e-6)
    else:
        assert metrics["auroc_macro"]["value"] == pytest.approx(roc_auc_score(frame[targets], P, average="macro"), abs=1e-6)


def test_a_torch_model_returns_one_sigmoid_probability_per_label(tmp_path):
    torch = pytest.importorskip("torch")
    frame = findings_table(150, 9)
    frame.drop(columns=PREDICTIONS).to_csv(tmp_path / "test.csv", index=False)
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 4)
    s = {"name": "t", "task": "multilabel", "data": {"test": str(tmp_path / "test.csv"), "target": LABELS, "features": ["x1", "x2", "x3"]},
         "settings": {"n_resamples": 50}, "checks": ["performance"]}
    result = audit.run(s, model=net)
    with torch.no_grad():
        P = torch.sigmoid(net(torch.tensor(frame[["x1", "x2", "x3"]].to_numpy(), dtype=torch.float32))).double().numpy()
    assert result.sections["performance"]["datasets"]["test"]["metrics"]["auroc_micro"]["value"] == pytest.approx(
        roc_auc_score(frame[LABELS].to_numpy(), P, average="micro"), abs=1e-6)
