"""The multiclass (and ordinal) task end to end (issue 18, Part 2): numbers against scikit-learn on the audited
data, every bad input as one plain message, scikit-learn and torch models, binary views equal to a binary audit
of the same dichotomy, absent classes and an infinite log loss as findings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

import audit
from audit.cli import main
from audit.errors import AuditInputError

CLASSES = [1, 2, 3, 4]
COLUMNS = ["1", "2", "3", "4"]


def graded(n: int, seed: int, k: int = 4, strength: float = 1.2) -> pd.DataFrame:
    """Grades 1..k with ordered signal, a feature table and the true-model probabilities as columns '1'..'k'."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    latent = strength * (x[:, 0] + 0.5 * x[:, 1]) + rng.logistic(size=n)
    cuts = np.quantile(latent, np.linspace(0, 1, k + 1)[1:-1])
    y = np.searchsorted(cuts, latent) + 1
    scores = np.column_stack([-(strength * (x[:, 0] + 0.5 * x[:, 1]) - c) ** 2 / 2 for c in np.r_[cuts[0] - 1, (cuts[:-1] + cuts[1:]) / 2, cuts[-1] + 1]])
    P = np.exp(scores - scores.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(P, columns=[str(c) for c in range(1, k + 1)])
    frame["grade"] = y
    frame["x1"], frame["x2"] = x[:, 0], x[:, 1]
    frame["sex"] = rng.choice(["f", "m"], n)
    return frame


def spec(tmp_path, frame: pd.DataFrame, external: pd.DataFrame | None = None, **extra) -> dict:
    frame.to_csv(tmp_path / "test.csv", index=False)
    data = {"test": str(tmp_path / "test.csv"), "target": "grade", "classes": CLASSES, "prediction": COLUMNS, "sensitive": ["sex"]}
    if external is not None:
        external.to_csv(tmp_path / "ext.csv", index=False)
        data["external"] = {"ext": str(tmp_path / "ext.csv")}
    out = {"name": "grades", "task": "multiclass", "data": data, "settings": {"n_resamples": 200, "seed": 3},
           "checks": ["performance"]}
    for key, value in extra.items():
        section, _, name = key.partition("__")
        out.setdefault(section, {})
        if name:
            out[section][name] = value
        else:
            out[section] = value
    return out


@pytest.fixture(scope="module")
def ordinal_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ordinal")
    frame = graded(400, 1)
    s = spec(tmp, frame, graded(300, 2), data__ordinal=True, settings__binary_views={"advanced": [3, 4]},
             checks=["profile", "performance", "fairness", "calibration", "utility", "external"])
    s["data"]["ordinal"] = True
    return frame, audit.run(s)


def test_whole_sample_and_per_class_metrics_equal_scikit_learn(ordinal_run):
    frame, result = ordinal_run
    y = frame["grade"].to_numpy() - 1
    P = frame[COLUMNS].to_numpy()
    decided = P.argmax(axis=1)
    d = result.sections["performance"]["datasets"]["test"]
    metric = {m: e["value"] for m, e in d["metrics"].items()}
    assert metric["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, decided), abs=1e-12)
    assert metric["macro_f1"] == pytest.approx(f1_score(y, decided, average="macro"), abs=1e-12)
    assert metric["auroc_hand_till"] == pytest.approx(roc_auc_score(y, P, multi_class="ovo"), abs=1e-12)
    assert metric["auroc_ovr_weighted"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr", average="weighted"), abs=1e-12)
    assert metric["kappa_quadratic"] == pytest.approx(cohen_kappa_score(y, decided, weights="quadratic"), abs=1e-12)
    assert d["metrics"]["accuracy"]["method"] == "wilson"
    assert d["metrics"]["kappa_quadratic"]["method"].startswith("bootstrap")
    for k, label in enumerate(COLUMNS):
        cell = d["per_class"][label]
        assert cell["n"] == int((y == k).sum())
        assert cell["sensitivity"]["value"] == pytest.approx(recall_score(y == k, decided == k), abs=1e-12)
        assert cell["ppv"]["value"] == pytest.approx(precision_score(y == k, decided == k), abs=1e-12)
        assert cell["specificity"]["value"] == pytest.approx(recall_score(y != k, decided != k), abs=1e-12)
        assert cell["auroc"]["value"] == pytest.approx(roc_auc_score(y == k, P[:, k]), abs=1e-12)
        assert cell["sensitivity"]["ci"][0] < cell["sensitivity"]["value"] < cell["sensitivity"]["ci"][1]
    for k in range(1, 4):
        split = d["cumulative"][f">= {k + 1}"]
        assert split["value"] == pytest.approx(roc_auc_score(y >= k, P[:, k:].sum(axis=1)), abs=1e-12)
    counts = np.zeros((4, 4), int)
    np.add.at(counts, (y, decided), 1)
    assert d["confusion"]["counts"] == counts.tolist()
    assert result.sections["performance"]["criteria"][0]["metric"] == "auroc_hand_till"
    assert result.results["datasets"]["test"]["classes"][0]["n"] == int((y == 0).sum())


def test_binary_view_is_the_binary_audit_of_the_dichotomy(ordinal_run, tmp_path):
    frame, result = ordinal_run
    sections = result.sections
    assert sections["utility"]["status"] == "not run" and "binary view (advanced)" in sections["utility"]["reason"]
    for check in ("performance", "fairness", "calibration", "utility", "external"):
        assert sections[f"{check}:advanced"]["check"] == check
        assert sections[f"{check}:advanced"]["binary_view"]["classes"] == ["3", "4"]
    # the same dichotomy audited as a binary outcome gives the same numbers (same datasets, same resample streams)
    binary = frame.assign(advanced=frame["grade"].isin([3, 4]).astype(int), p=frame["3"] + frame["4"])
    binary.to_csv(tmp_path / "test.csv", index=False)
    ext = graded(300, 2)
    ext.assign(advanced=ext["grade"].isin([3, 4]).astype(int), p=ext["3"] + ext["4"]).to_csv(tmp_path / "ext.csv", index=False)
    direct = audit.run({"name": "b", "data": {"test": str(tmp_path / "test.csv"), "external": {"ext": str(tmp_path / "ext.csv")},
                                             "target": "advanced", "prediction": "p", "sensitive": ["sex"]},
                        "settings": {"n_resamples": 200, "seed": 3}, "checks": ["performance", "calibration"]})
    for check in ("performance", "calibration"):
        view = {k: v for k, v in sections[f"{check}:advanced"].items() if k not in ("check", "binary_view", "title")}
        plain = {k: v for k, v in direct.sections[check].items() if k != "title"}
        assert json.dumps(view["datasets"], sort_keys=True) == json.dumps(plain["datasets"], sort_keys=True)


def test_the_report_shows_per_class_tables_and_view_sections(ordinal_run):
    html = ordinal_run[1].to_html()
    assert "each class against the rest" in html and "cumulative split" in html
    assert "binary view advanced" in html and "Confusion matrix" in html


def test_profile_summarises_classes(ordinal_run):
    profile = ordinal_run[1].sections["profile"]
    assert profile["status"] != "not run"
    assert [c["class"] for c in profile["datasets"]["test"]["classes"]] == COLUMNS


def test_an_absent_class_has_no_per_class_metrics_and_macro_averages_run_over_the_rest(tmp_path):
    frame = graded(300, 4)
    frame = frame[frame["grade"] != 1].reset_index(drop=True)
    result = audit.run(spec(tmp_path, frame))
    d = result.sections["performance"]["datasets"]["test"]
    assert d["per_class"]["1"]["auroc"]["value"] is None
    assert "absent" in d["per_class"]["1"]["sensitivity"]["reason"]
    assert d["classes_present"] == ["2", "3", "4"]
    y, decided = frame["grade"].to_numpy() - 1, frame[COLUMNS].to_numpy().argmax(axis=1)
    present = [1, 2, 3]
    expected = np.mean([recall_score(y == k, decided == k) for k in present])
    assert d["metrics"]["balanced_accuracy"]["value"] == pytest.approx(expected, abs=1e-12)
    assert any("no patient of class 1" in f["message"] for f in result.findings)


def test_an_infinite_log_loss_is_null_with_the_count_beside_a_clipped_value(tmp_path):
    frame = graded(200, 5)
    row = frame.index[frame["grade"] == 1][0]
    frame.loc[row, COLUMNS] = [0.0, 1.0, 0.0, 0.0]
    result = audit.run(spec(tmp_path, frame))
    metrics = result.sections["performance"]["datasets"]["test"]["metrics"]
    assert metrics["log_loss"]["value"] is None and "1 patient got probability 0" in metrics["log_loss"]["reason"]
    assert np.isfinite(metrics["log_loss_clipped"]["value"])


@pytest.mark.parametrize("change, message", [
    (lambda f: f.assign(grade=f["grade"].replace(4, 5)), r"holds 1 class with no probability column: '5'"),
    (lambda f: f.assign(**{"1": f["1"] + 0.01}), r"do not sum to 1 in 200 rows .* the first is row 1"),
    (lambda f: f.assign(**{"1": -f["1"]}), r"outside \[0, 1\]"),
    (lambda f: f.assign(**{"2": np.where(np.arange(len(f)) == 3, np.nan, f["2"])}), r"'2' is empty in 1 of 200 rows"),
    (lambda f: f.assign(grade=2), r"holds only one class \(2\)"),
])
def test_bad_data_gives_one_plain_message(tmp_path, change, message):
    with pytest.raises(AuditInputError, match=message):
        audit.run(spec(tmp_path, change(graded(200, 6))))


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["data"].update(prediction=["1", "2", "3"]), r"no probability column for class '4'"),
    (lambda s: s["data"].update(prediction=COLUMNS + ["x1"]), r"names 'x1', which is not a class"),
    (lambda s: s["settings"].update(threshold=0.3), r"settings.threshold does not apply to a multiclass audit"),
    (lambda s: s["data"].update(prediction="1"), r"one probability column per class"),
    (lambda s: s["data"].update(positive_label=2), r"data.positive_label is not used by a multiclass audit"),
    (lambda s: s["settings"].update(binary_views={"bad": [4, 7]}), r"binary_views.bad names class '7'"),
    (lambda s: s["settings"].update(binary_views={"all": CLASSES}), r"some classes but not all"),
    (lambda s: s.update(task="binary"), r"data.classes is only used by a multiclass audit"),
    (lambda s: s["settings"].update(targets={"auroc": 0.7}), r"'auroc', which a multiclass audit does not compute"),
    (lambda s: s["settings"].update(targets={"kappa_quadratic": 0.6}), r"ordinal metrics need data.ordinal: true"),
])
def test_bad_spec_gives_one_plain_message(tmp_path, edit, message):
    s = spec(tmp_path, graded(100, 7))
    edit(s)
    with pytest.raises(AuditInputError, match=message):
        audit.run(s)


def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    import yaml

    s = spec(tmp_path, graded(100, 8).assign(grade=lambda f: f["grade"].replace(4, 9)))
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(s))
    assert main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert not (tmp_path / "out").exists()
    assert "no probability column" in capsys.readouterr().err


def test_a_scikit_learn_model_is_matched_to_data_classes_by_label(tmp_path):
    frame = graded(300, 9)
    model = LogisticRegression(max_iter=500).fit(frame[["x1", "x2"]], frame["grade"].astype(str))  # classes_ '1'..'4'
    P = model.predict_proba(frame[["x1", "x2"]])
    order = [4, 2, 3, 1]  # data.classes in another order than classes_
    table = frame[["grade", "x1", "x2", "sex"]]
    table.to_csv(tmp_path / "test.csv", index=False)
    s = {"name": "m", "task": "multiclass", "data": {"test": str(tmp_path / "test.csv"), "target": "grade", "classes": order,
                                                     "features": ["x1", "x2"]},
         "settings": {"n_resamples": 100}, "checks": ["performance"]}
    with_model = audit.run(s, model=model)
    columns = {str(c): P[:, j] for j, c in enumerate(model.classes_)}
    table.assign(**columns).to_csv(tmp_path / "test.csv", index=False)
    s["data"] = {**s["data"], "prediction": ["4", "2", "3", "1"]}
    from_columns = audit.run(s)
    a, b = (r.sections["performance"]["datasets"]["test"] for r in (with_model, from_columns))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["metrics"]["auroc_hand_till"]["value"] == pytest.approx(roc_auc_score(frame["grade"].astype(str), P, multi_class="ovo"))
    wrong = {**s, "data": {**s["data"], "classes": [1, 2, 3, 4, 5]}}
    del wrong["data"]["prediction"]
    with pytest.raises(AuditInputError, match=r"model has no class '5'"):
        audit.run(wrong, model=model)


def test_a_torch_model_returns_k_probabilities_in_data_classes_order(tmp_path):
    torch = pytest.importorskip("torch")
    frame = graded(120, 10)
    frame[["grade", "x1", "x2"]].to_csv(tmp_path / "test.csv", index=False)
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 4).double()
    s = {"name": "t", "task": "multiclass", "data": {"test": str(tmp_path / "test.csv"), "target": "grade", "classes": CLASSES,
                                                     "features": ["x1", "x2"]},
         "settings": {"n_resamples": 100}, "checks": ["performance"]}
    result = audit.run(s, model=net.float())
    with torch.no_grad():
        P = torch.softmax(net(torch.tensor(frame[["x1", "x2"]].to_numpy(), dtype=torch.float32)), dim=1).double().numpy()
    ht = result.sections["performance"]["datasets"]["test"]["metrics"]["auroc_hand_till"]["value"]
    assert ht == pytest.approx(roc_auc_score(frame["grade"] - 1, P, multi_class="ovo"), abs=1e-9)
    with pytest.raises(AuditInputError, match="data.classes lists 5 classes"):  # the model returns 4 scores per row
        audit.run({**s, "data": {**s["data"], "classes": [1, 2, 3, 4, 5]}}, model=net.float())


def test_external_gaps_use_the_task_metrics_and_label_shift_is_a_chi_square_test(ordinal_run):
    from scipy.stats import chi2_contingency

    result = ordinal_run[1]
    section = result.sections["external"]
    entry = section["datasets"]["ext"]
    own = {name: result.sections["performance"]["datasets"][name]["metrics"] for name in ("test", "ext")}
    for metric in ("auroc_hand_till", "balanced_accuracy", "brier", "kappa_quadratic"):
        gap = entry["gaps"][metric]
        assert gap["internal"] == own["test"][metric] and gap["external"] == own["ext"][metric]
        assert gap["difference"]["value"] == pytest.approx(own["ext"][metric]["value"] - own["test"][metric]["value"], abs=1e-12)
        lo, hi = gap["difference"]["ci"]
        assert lo < gap["difference"]["value"] < hi
    counts = [[c["internal"]["value"] * 400, c["external"]["value"] * 300] for c in entry["label_shift"]["classes"]]
    expected = chi2_contingency(np.round(np.array(counts).T), correction=False)
    assert entry["label_shift"]["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert [c["class"] for c in entry["prediction_shift"]["classes"]] == COLUMNS


def test_calibration_reports_the_multinomial_framework_and_top_label_and_classwise_errors(ordinal_run):
    from audit.stats.multiclass_calibration import classwise_calibration, multinomial_calibration, top_label_calibration

    frame, result = ordinal_run
    y, P = frame["grade"].to_numpy() - 1, frame[COLUMNS].to_numpy()
    d = result.sections["calibration"]["datasets"]["test"]
    direct = multinomial_calibration(y, P, reference=0)
    assert d["multinomial"]["reference"] == "1"
    for code, label in ((1, "2"), (2, "3"), (3, "4")):
        assert d["multinomial"]["slopes"][label]["value"] == pytest.approx(direct.slopes[code].value, abs=1e-12)
        assert d["multinomial"]["intercepts"][label]["ci"] == pytest.approx(list(direct.intercepts[code].ci), abs=1e-12)
    assert d["top_label"]["ici"] == pytest.approx(top_label_calibration(y, P).ici, abs=1e-12)
    assert d["classwise"]["mean_ece"] == pytest.approx(classwise_calibration(y, P).mean_ece, abs=1e-12)
    assert "Calibration per class on test" in result.to_html()


def test_fairness_groups_equal_scikit_learn_per_group(ordinal_run):
    frame, result = ordinal_run
    section = result.sections["fairness"]
    assert section["primary"] == ["balanced_accuracy"] + [f"sensitivity[{c}]" for c in COLUMNS]
    part = section["datasets"]["test"]["partitions"][0]
    y, decided = frame["grade"].to_numpy() - 1, frame[COLUMNS].to_numpy().argmax(axis=1)
    for g in part["groups"]:
        rows = (frame["sex"] == g["label"]).to_numpy()
        assert g["metrics"]["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y[rows], decided[rows]), abs=1e-12)
        for k, label in enumerate(COLUMNS):
            cell = g["metrics"][f"sensitivity[{label}]"]
            assert cell["value"] == pytest.approx(recall_score(y[rows] == k, decided[rows] == k), abs=1e-12)
            assert cell["method"] in ("wilson", "clopper-pearson")
        assert sum(g["classes"].values()) == g["n"]


def test_a_group_whose_severe_cases_are_called_mild_fails_fairness(tmp_path):
    frame = graded(1200, 11, strength=2.5)
    hit = (frame["sex"] == "f") & (frame["grade"] == 4)
    frame.loc[hit, COLUMNS] = frame.loc[hit, COLUMNS[::-1]].to_numpy()  # grade 4 in women predicted as grade 1
    result = audit.run(spec(tmp_path, frame, checks=["fairness"]))
    section = result.sections["fairness"]
    assert section["status"] == "fail"
    gap = section["datasets"]["test"]["partitions"][0]["gaps"]["sensitivity[4]"]["comparisons"][0]
    assert gap["classification"] == "material gap"
    assert any("Sensitivity, class 4" in f["message"] and f["severity"] == "warning" for f in result.findings)


def test_a_k_class_torch_model_is_attacked_as_a_k_class_model(tmp_path):
    torch = pytest.importorskip("torch")
    torchattacks = pytest.importorskip("torchattacks")
    frame = graded(200, 12)
    for c in ("x1", "x2"):
        frame[c] = (frame[c] - frame[c].min()) / (frame[c].max() - frame[c].min())
    frame[["grade", "x1", "x2", "sex"]].to_csv(tmp_path / "test.csv", index=False)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    X = torch.tensor(frame[["x1", "x2"]].to_numpy(), dtype=torch.float32)
    Y = torch.tensor(frame["grade"].to_numpy() - 1)
    opt = torch.optim.Adam(net.parameters(), 0.05)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), Y).backward()
        opt.step()
    s = {"name": "t", "task": "multiclass",
         "data": {"test": str(tmp_path / "test.csv"), "target": "grade", "classes": CLASSES, "features": ["x1", "x2"], "sensitive": ["sex"]},
         "settings": {"n_resamples": 100}, "checks": ["robustness"],
         "robustness": {"attacks": ["fgsm"], "epsilons": [0, 0.1], "perturbations": ["noise"], "severities": [0, 0.3]}}
    rob = audit.run(s, model=net).sections["robustness"]
    points = rob["adversarial"]["datasets"]["test"]["attacks"]["fgsm"]["points"]
    clean = (net(X).argmax(dim=1) == Y).double().mean().item()
    assert points[0]["accuracy"]["value"] == pytest.approx(clean)
    adv = torchattacks.FGSM(net.eval(), eps=0.1)(X, Y)  # the same attack on the K-class model itself
    assert points[1]["accuracy"]["value"] == pytest.approx((net(adv).argmax(dim=1) == Y).double().mean().item(), abs=1e-9)
    assert points[1]["accuracy"]["value"] < clean
    assert rob["subgroups"]["datasets"]["test"]


def test_pre_specified_targets_of_the_task_metrics_are_judged_by_one_sided_bounds(tmp_path):
    s = spec(tmp_path, graded(300, 13), settings={"n_resamples": 200, "targets": {"balanced_accuracy": 0.3, "auroc_hand_till": 0.99}})
    section = audit.run(s).sections["performance"]
    verdicts = {c["metric"]: c["verdict"] for c in section["criteria"] if c["criterion"] != "discrimination better than chance"}
    assert verdicts == {"balanced_accuracy": "pass", "auroc_hand_till": "fail"}
    assert section["status"] == "fail" and section["evidence"]["performance.targets_met"] == "contradicted"


def test_conformal_lac_sets_equal_a_direct_implementation_and_aps_is_deterministic():
    from audit.stats.conformal import conformal_sets

    rng = np.random.default_rng(14)
    for k in (3, 5):
        y = rng.integers(0, k, 400)
        logits = rng.normal(size=(400, k)) + 1.5 * np.eye(k)[y]
        P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        cal, ev = np.arange(200), np.arange(200, 400)
        sets = conformal_sets(P[cal], y[cal], P[ev], [0.8, 0.9], "lac")
        scores = np.sort(1 - P[cal, y[cal]])
        for j, level in enumerate((0.8, 0.9)):
            q = scores[int(np.ceil(201 * level)) - 1]  # the ceil((n + 1) level)-th smallest calibration score
            assert np.array_equal(sets[:, :, j], 1 - P[ev] <= q)
        aps = conformal_sets(P[cal], y[cal], P[ev], [0.9], "aps")
        assert np.array_equal(aps, conformal_sets(P[cal], y[cal], P[ev], [0.9], "aps"))
        assert aps[:, :, 0].sum(axis=1).min() >= 1  # include_last_label: never empty


def test_uncertainty_reports_class_conditional_coverage_and_warns_for_an_undercovered_class(tmp_path):
    frame = graded(800, 15)
    rows = frame.index[frame["grade"] == 4]
    frame.loc[rows[::3], COLUMNS] = [0.7, 0.2, 0.05, 0.05]  # a third of grade 4 confidently called grade 1
    result = audit.run(spec(tmp_path, frame, checks=["uncertainty"], settings={"n_resamples": 100, "coverage": 0.9}))
    entry = result.sections["uncertainty"]["datasets"]["test"]
    lac = entry["levels"][0]["overall"]
    assert set(lac["by_class"]) == set(COLUMNS) and [lv["score"] for lv in entry["aps"]] == ["aps"]
    assert sum(c["n"] for c in lac["by_class"].values()) == entry["n_evaluated"]
    warned = {f["message"].split("cover patients of class ")[1].split(" ")[0] for f in result.findings
              if f["severity"] == "warning" and f["message"].startswith("LAC")}
    below = {label for label, c in lac["by_class"].items() if c["coverage"]["ci"][1] < 0.9}
    assert below and warned == below  # every class wholly below the target is named, and only those


def test_a_multiclass_audit_reproduces_from_its_recorded_spec(tmp_path):
    import yaml

    s = spec(tmp_path, graded(150, 16), settings={"n_resamples": 60, "binary_views": {"advanced": [3, 4]}}, checks=["performance"])
    s["data"]["test"] = "test.csv"  # relative to the spec: reproduce reads files inside its base directory only
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(s))
    assert main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "--quiet", "--n-resamples", "50"]) == 0
    recorded = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "threshold" not in recorded["spec"]["settings"]  # the decision is the most probable class
    assert main(["reproduce", str(tmp_path / "out" / "results.json"), "--base-dir", str(tmp_path), "--quiet"]) == 0


def test_conformal_with_two_classes_present_keeps_lac_and_says_why_aps_is_missing(tmp_path):
    frame = graded(300, 17)
    frame = frame[frame["grade"].isin([1, 2])].reset_index(drop=True)
    result = audit.run(spec(tmp_path, frame, checks=["uncertainty"], settings={"n_resamples": 60}))
    section = result.sections["uncertainty"]
    assert list(section["scores"]) == ["lac"] and "three classes" in section["aps_reason"]
    assert any("no patient of class 3, 4" in f["message"] for f in result.findings)


def test_calibration_by_subgroup_fits_each_group_and_flags_an_overconfident_one(tmp_path):
    from audit.stats.multiclass_calibration import multinomial_calibration

    frame = graded(1200, 18, strength=1.5)
    women = (frame["sex"] == "f").to_numpy()
    P = frame[COLUMNS].to_numpy()
    sharp = P[women] ** 3
    frame.loc[women, COLUMNS] = sharp / sharp.sum(axis=1, keepdims=True)  # over-confident for women only
    result = audit.run(spec(tmp_path, frame, checks=["calibration"], settings={"n_resamples": 60}))
    groups = {g["group"]: g for g in result.sections["calibration"]["datasets"]["test"]["subgroups"]}
    y = frame["grade"].to_numpy() - 1
    direct = multinomial_calibration(y[women], frame.loc[women, COLUMNS].to_numpy(), reference=0)
    assert groups["f"]["multinomial"]["slopes"]["4"]["value"] == pytest.approx(direct.slopes[3].value, abs=1e-12)
    slope = {g: groups[g]["multinomial"]["slopes"]["4"]["value"] for g in ("f", "m")}
    assert slope["f"] == pytest.approx(slope["m"] / 3, rel=0.25)  # probabilities cubed: log-ratios tripled
    assert groups["f"]["tests"]["slope[4]"]["p_adjusted"] < 0.05
    assert any(f["message"].startswith("For sex=f") and "slope" in f["message"] for f in result.findings)
    assert "Calibration by subgroup on test" in result.to_html()
