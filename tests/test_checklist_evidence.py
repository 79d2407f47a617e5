"""Checklist evidence a reviewer would accept (issue 16): an item is evidenced only by what the audit showed.

Real audits, each as small as the property needs: disjointness needs the training table; a predictions
column proves nothing about how predictions were made; a site is not a sensitive attribute; groups too
small to compare evidence nothing fully; a provider's declared accuracy needs the provider's word, and a
missed target contradicts it. The status rules themselves are unit-tested in test_checklist.py.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_checklist_audit import render, run, spec, study, visible  # noqa: F401 - study is a fixture

from audit import checklist
from audit.views.checklists import build_checklists

EVERY = ["future-ai", "claim-2024", "tripod-ai", "probast-ai", "eu-ai-act"]


def audit_of(directory, model, checks, data=None, settings=None, drop=(), **extra):
    s = spec(directory, checks, **extra)
    s["checklists"] = list(EVERY)
    s["data"]["external"] = {}
    for key in drop:
        s["data"].pop(key, None)
    s["data"].update(data or {})
    s["settings"].update(settings or {})
    return run(s, model)


def status(result, guideline: str, item: str) -> str:
    return result.results["checklists"][guideline]["items"][item]["status"]


# ------------------------------------------------------------------------------ disjointness


def test_identifiers_without_the_training_table_evidence_no_disjointness(study):
    directory, model = study
    result = audit_of(directory, model, ["profile"], drop=("train",))
    assert "data.leakage" not in result.sections["profile"]["evidence"]
    for guideline, item in (("claim-2024", "CLAIM-20"), ("probast-ai", "PROBAST-E4.5"), ("probast-ai", "PROBAST-E4.1")):
        assert status(result, guideline, item) == "missing", item


def test_identifiers_shared_with_the_training_table_contradict_disjointness(study, tmp_path):
    directory, model = study
    train = pd.read_csv(directory / "train.csv")
    test = pd.read_csv(directory / "test.csv")
    train.loc[:4, "pid"] = test["pid"].iloc[:5].to_numpy()  # five test patients were trained on
    train.to_csv(tmp_path / "train_leaky.csv", index=False)
    result = audit_of(directory, model, ["profile"], data={"train": str(tmp_path / "train_leaky.csv")},
                      attestations={"claim-2024": {"CLAIM-20": "patient level"}})
    assert result.sections["profile"]["status"] == "fail"
    assert result.sections["profile"]["evidence"]["data.leakage"] == "contradicted"
    assert status(result, "claim-2024", "CLAIM-20") == "contradicted"  # the attestation cannot undo it
    assert status(result, "probast-ai", "PROBAST-E4.5") == "contradicted"
    block = result.results["checklists"]["claim-2024"]
    assert "CLAIM-20" in block["contradicted"] and block["items"]["CLAIM-20"]["evidence_contradicted"] == ["data.leakage"]
    # shown in red, and first, in the report's to-do list
    html = str(render("section", build_checklists(result.results["checklists"])))
    todo = visible(html)[visible(html).index("To do before submission"):]
    assert re.search(r"CLAIM-20 ✗? ?contradicted .*own data say the item is not met", todo)
    assert '<li class="todo-contradicted"><strong>CLAIM-20</strong> <span class="badge status-fail' in html


def test_identifiers_disjoint_from_the_training_table_evidence_disjointness(study):
    directory, model = study
    result = audit_of(directory, model, ["profile", "performance"])
    assert result.sections["profile"]["evidence"]["data.leakage"] == "shown"
    assert status(result, "claim-2024", "CLAIM-20") == "evidenced"
    assert status(result, "probast-ai", "PROBAST-E4.5") == "evidenced"
    assert status(result, "probast-ai", "PROBAST-E4.1") == "evidenced"  # not apparent performance
    assert status(result, "claim-2024", "CLAIM-32") == "evidenced"  # held-out: performance plus disjointness


def test_two_evaluated_sets_sharing_patients_contradict_their_overlap_key_only(study, tmp_path):
    directory, model = study
    ext = pd.read_csv(directory / "ext.csv")
    ext.loc[:2, "pid"] = pd.read_csv(directory / "test.csv")["pid"].iloc[:3].to_numpy()
    ext.to_csv(tmp_path / "ext_overlap.csv", index=False)
    s = spec(directory, ["profile"])
    s["data"]["external"] = {"ext": str(tmp_path / "ext_overlap.csv")}
    s["checklists"] = ["probast-ai"]
    result = run(s, model)
    assert result.sections["profile"]["evidence"] == {"data.leakage": "shown", "data.overlap": "contradicted",
                                                      "data.profile": "shown", "labels.agreement": "shown"}
    assert status(result, "probast-ai", "PROBAST-E4.5") == "evidenced"  # data.overlap only supports it


# ------------------------------------------------------------------------------ how predictions were made


def test_a_predictions_column_evidences_nothing_about_how_predictions_were_made(study, tmp_path):
    directory, model = study
    test = pd.read_csv(directory / "test.csv")
    test.assign(p=model.predict_proba(test[["x1", "x2"]])[:, 1]).to_csv(tmp_path / "scored.csv", index=False)
    result = audit_of(directory, None, ["profile", "performance"], data={"test": str(tmp_path / "scored.csv"), "prediction": "p"},
                      drop=("train", "features"))
    assert "model" not in result.results["provenance"]
    assert status(result, "tripod-ai", "TRIPOD-12g") == "missing"
    assert status(result, "claim-2024", "CLAIM-23") == "missing"
    assert status(result, "probast-ai", "PROBAST-E4.1") == "missing"


def test_running_the_model_records_its_runtime_which_supports_but_does_not_settle_claim_23(study):
    directory, model = study
    result = audit_of(directory, model, ["performance"], drop=("train",))
    recorded = result.results["provenance"]["model"]
    assert recorded["description"].startswith("sklearn LogisticRegression")
    assert set(recorded["libraries"]) == {"scikit-learn"}
    assert status(result, "tripod-ai", "TRIPOD-12g") == "evidenced"
    assert status(result, "claim-2024", "CLAIM-23") == "partly evidenced"  # training libraries: the user's word
    assert status(result, "probast-ai", "PROBAST-E4.1") == "missing"  # no training table compared


# ------------------------------------------------------------------------------ fairness


def fairness_items(guideline: str) -> list[str]:
    return [i.id for i in checklist.load(guideline).items if any(k.startswith("fairness.") for k in i.evidence)]


def test_a_site_alone_evidences_site_comparison_not_fairness(study):
    directory, model = study
    result = audit_of(directory, model, ["fairness"], data={"sensitive": []}, drop=("train",),
                      attestations={"future-ai": {"Fairness-3": "no mitigation was tried"}})
    assert set(result.sections["fairness"]["evidence"]) == {"sites.comparison"}
    assert status(result, "future-ai", "Fairness-3") == "attested"  # the user's words, no audit evidence
    for guideline in EVERY:
        for item in fairness_items(guideline):
            assert status(result, guideline, item) not in ("evidenced", "partly evidenced"), (guideline, item)


def test_groups_all_below_the_small_group_rule_evidence_no_fairness_item_fully(study):
    directory, model = study
    attest_all = {g: {i: "our context" for i in fairness_items(g)} for g in EVERY}
    attest_all = {g: v for g, v in attest_all.items() if v}
    result = audit_of(directory, model, ["performance", "calibration", "fairness"], drop=("train", "site"),
                      settings={"min_group_size": 1000}, attestations=attest_all)
    evidence = result.sections["fairness"]["evidence"]
    assert evidence["fairness.subgroups"] == evidence["fairness.gaps"] == "thin"
    for guideline in EVERY:
        for item in fairness_items(guideline):
            assert status(result, guideline, item) != "evidenced", (guideline, item)
    entry = result.results["checklists"]["tripod-ai"]["items"]["TRIPOD-23a"]
    assert entry["status"] == "attested" and entry["evidence_thin"] == ["fairness.subgroups"]  # words, not evidence
    # with groups large enough, the same items are evidenced: the rule can pass
    enough = audit_of(directory, model, ["performance", "calibration", "fairness"], drop=("train", "site"),
                      attestations=attest_all)
    assert status(enough, "tripod-ai", "TRIPOD-23a") == "evidenced"
    assert status(enough, "future-ai", "Fairness-3") == "evidenced"


# ------------------------------------------------------------------------------ the provider's declared accuracy


def test_ai_act_declared_accuracy_needs_the_providers_word_and_a_missed_target_contradicts_it(study):
    directory, model = study
    item = "AIA-15(1),(3)"
    met = audit_of(directory, model, ["performance"], drop=("train",), settings={"targets": {"auroc": 0.6}})
    assert met.sections["performance"]["evidence"]["performance.targets_met"] == "shown"
    assert status(met, "eu-ai-act", item) == "partly evidenced"
    attestation = {"eu-ai-act": {item: {"text": "AUROC >= 0.6 declared in the IFU", "source": "IFU §4"}}}
    declared = audit_of(directory, model, ["performance"], drop=("train",), settings={"targets": {"auroc": 0.6}},
                        attestations=attestation)
    assert status(declared, "eu-ai-act", item) == "evidenced"
    missed = audit_of(directory, model, ["performance"], drop=("train",), settings={"targets": {"auroc": 0.95}},
                      attestations=attestation)
    assert missed.sections["performance"]["evidence"]["performance.targets_met"] == "contradicted"
    assert missed.sections["performance"]["evidence"]["performance.targets"] == "shown"  # the test itself was run
    assert status(missed, "eu-ai-act", item) == "contradicted"
    assert status(missed, "eu-ai-act", "AIA-9(6)-(8)") == "partly evidenced"  # tested beforehand-fixed targets: not contradicted
    none = audit_of(directory, model, ["performance"], drop=("train",), settings={"targets": {}}, attestations=attestation)
    assert status(none, "eu-ai-act", item) == "attested"  # no declared targets: the audit cannot judge the level
