"""Guideline checklists as data: schema, item counts and classes as the reference lists them, the
evidence vocabulary, the status rules of the join, and attestation validation."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from audit import checklist
from audit.checklist import Guideline, Item, item_status, join, validate_request
from audit.checks import CHECKS
from audit.errors import AuditInputError
from audit.evidence import PROVENANCE, VOCABULARY, provenance_evidence
from audit.resources import resource_dir
from audit.spec import KNOWN_CHECKS, load_spec

GUIDELINES = ("future-ai", "claim-2024", "tripod-ai")

#: From /work/shared/checklists-reference.md §1 and its tables: main items.
REFERENCE_COUNTS = {"future-ai": 30, "claim-2024": 44, "tripod-ai": 27}
#: The items the reference marks AUTO (or AUTO*), by the guideline's own numbering.
REFERENCE_AUTO_2025 = {
    "future-ai": {"Fairness-3", "Universality-3", "Robustness-3"},
    "claim-2024": {f"CLAIM-{n}" for n in (20, 23, 28, 29, 30, 32, 33, 36, 37, 38)},
    "tripod-ai": {f"TRIPOD-{n}" for n in ("12d", "12e", "12g", "20c", "21", "23a", "23b")},
}
#: Reference AUTO items the audit cannot fully supply (issue 16): each is partial now, with its reason.
NOT_AUTO = {
    "Fairness-3": "bias mitigation tried is the developer's to report",
    "Robustness-3": "optimisation against real-world variation is the developer's",
    "CLAIM-23": "training libraries are unknown to the audit; the model's runtime versions support it",
    "CLAIM-36": "the profile describes the evaluated sets, never the training or tuning partitions",
    "TRIPOD-20c": "shift is measured against the internal test set, which stands for the development data only by the user's word",
    "TRIPOD-21": "the profile counts the evaluated sets, not the development analyses",
}
REFERENCE_AUTO = {name: ids - set(NOT_AUTO) for name, ids in REFERENCE_AUTO_2025.items()}
#: Items per class over all rows (TRIPOD+AI: 52 sub-item rows), after issue 16's corrections: items resting on
#: keys every audit has became attest (e.g. CLAIM-7, -9, -42; TRIPOD-9b, -12c, -18f, -22; FUTURE-AI
#: Traceability-2, General-4), development-side items the audit never sees became attest (TRIPOD-6a, -12a;
#: FUTURE-AI Robustness-2; CLAIM-19), and NOT_AUTO became partial.
REFERENCE_CLASSES = {
    "future-ai": {"auto": 1, "partial": 8, "attest": 21},
    "claim-2024": {"auto": 8, "partial": 11, "attest": 25},
    "tripod-ai": {"auto": 5, "partial": 18, "attest": 29},
}
FUTURE_AI_PRINCIPLES = {"Fairness": 3, "Universality": 4, "Traceability": 6, "Usability": 5, "Robustness": 3,
                        "Explainability": 2, "General": 7}


def raw(name: str) -> dict:
    return yaml.safe_load((resource_dir("checklists") / f"{name}.yaml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ the files


def test_every_checklist_file_validates_against_the_schema_and_is_named_after_its_file():
    files = sorted(resource_dir("checklists").glob("*.yaml"))
    assert {p.stem for p in files} >= set(GUIDELINES)
    for path in files:
        guideline = Guideline.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert guideline.name == path.stem
        assert guideline.doi is None or re.fullmatch(r"10\.\d{4,}/\S+", guideline.doi), guideline.doi


@pytest.mark.parametrize("name", GUIDELINES)
def test_item_counts_match_the_reference(name):
    guideline = checklist.load(name)
    assert len(guideline.main_items) == REFERENCE_COUNTS[name]
    classes = {c: sum(i.class_ == c for i in guideline.items) for c in ("auto", "partial", "attest")}
    assert classes == REFERENCE_CLASSES[name]
    assert {i.id for i in guideline.items if i.class_ == "auto"} == REFERENCE_AUTO[name]


def test_tripod_has_52_sub_items_and_future_ai_the_reference_principles():
    assert len(checklist.load("tripod-ai").items) == 52
    future = checklist.load("future-ai")
    assert {s: sum(i.section == s for i in future.items) for s in future.sections} == FUTURE_AI_PRINCIPLES
    assert all(i.level is not None for i in future.items)
    # levels as the reference tables them: deployable "+" only for these four
    assert {i.id for i in future.items if i.level.deployable == "+"} == {"Fairness-2", "Universality-2", "Explainability-2", "General-7"}


@pytest.mark.parametrize("name", GUIDELINES)
def test_topics_are_short_paraphrases(name):
    for item in checklist.load(name).items:
        assert len(item.topic.split()) <= 15, item.id


def test_schema_rejects_a_key_outside_the_vocabulary_naming_the_closest():
    doc = raw("future-ai")
    doc["items"][2]["evidence"] = ["fairness.subgroup_metrics"]
    with pytest.raises(ValueError, match="fairness.subgroup_metrics.*closest: 'fairness.subgroups'"):
        Guideline.model_validate(doc)


@pytest.mark.parametrize("change, message", [
    (lambda item: item.update({"class": "attest"}), "attest item takes no evidence"),
    (lambda item: item.update({"evidence": []}), "needs at least one evidence key"),
    (lambda item: item.update({"topics": "x"}), "Extra inputs"),
    (lambda item: item.update({"class": "automatic"}), "class"),
])
def test_schema_rejects_malformed_items(change, message):
    doc = raw("future-ai")
    change(doc["items"][2])  # Fairness-3, an auto item
    with pytest.raises(ValueError, match=message):
        Guideline.model_validate(doc)


def test_schema_rejects_a_duplicate_id():
    doc = raw("claim-2024")
    doc["items"][1]["id"] = doc["items"][0]["id"]
    with pytest.raises(ValueError, match="appears twice"):
        Guideline.model_validate(doc)


# ------------------------------------------------------------------------------ the vocabulary


def test_every_key_a_checklist_names_is_produced_by_a_known_check_or_provenance():
    for name in GUIDELINES:
        for item in checklist.load(name).items:
            for key in item.evidence + item.supporting:
                assert VOCABULARY[key].producer in set(KNOWN_CHECKS) | {PROVENANCE}, (name, item.id, key)


def test_every_check_key_in_the_vocabulary_is_written_in_its_check_module():
    """A static cross-check: the producing check's source spells the key (the audit test checks it runs)."""
    for key, entry in VOCABULARY.items():
        if entry.producer == PROVENANCE or entry.producer not in CHECKS:
            continue
        main = Path(sys.modules[CHECKS[entry.producer].__module__].__file__)
        # the check's module and its per-task modules (performance_survival.py, ...), which it dispatches to
        source = "".join(p.read_text(encoding="utf-8") for p in (main, *main.parent.glob(f"{main.stem}_*.py")))
        assert f'"{key}"' in source, f"{key} is not produced by audit/checks for {entry.producer}"


def test_provenance_keys_follow_the_provenance_block():
    full = {"files": {"data:test": {"path": "t.csv", "sha256": "ab" * 32}}, "packages": {"numpy": "2.0"}, "seed": 0}
    assert provenance_evidence(full) == ["provenance.hashes", "provenance.versions", "provenance.seed"]
    assert provenance_evidence({"files": {}, "packages": {}, "seed": None}) == []
    ran = full | {"model": {"description": "sklearn LogisticRegression", "libraries": {"scikit-learn": "1.8"}}}
    assert provenance_evidence(ran)[0] == "provenance.model_run"


# ------------------------------------------------------------------------------ status rules


def item(cls, evidence=(), supporting=()):
    return Item.model_validate({"id": "X-1", "section": "S", "topic": "t", "class": cls,
                                "evidence": list(evidence), "supporting": list(supporting)}
                               | ({} if cls == "attest" else {"why": "because"}))


AUTO = item("auto", ["performance.ci", "fairness.gaps"], ["calibration.curve"])
PARTIAL = item("partial", ["data.profile"])
ATTEST = item("attest", supporting=["data.profile"])
BOTH = {"performance.ci": "shown", "fairness.gaps": "shown"}


@pytest.mark.parametrize("it, states, attestation, expected", [
    (AUTO, BOTH, None, "evidenced"),
    (AUTO, {"performance.ci": "shown"}, None, "partly evidenced"),
    (AUTO, {"calibration.curve": "shown"}, None, "missing"),  # supporting keys alone decide nothing
    (AUTO, {}, None, "missing"),
    (AUTO, {}, {"text": "done elsewhere"}, "attested"),
    (AUTO, BOTH, {"text": "and more"}, "evidenced"),
    (AUTO, BOTH | {"fairness.gaps": "thin"}, None, "partly evidenced"),  # too little data: at most partly
    (AUTO, BOTH | {"fairness.gaps": "thin"}, {"text": "context"}, "attested"),
    (AUTO, BOTH | {"fairness.gaps": "contradicted"}, None, "contradicted"),
    (AUTO, {"fairness.gaps": "contradicted"}, {"text": "we say it is fine"}, "contradicted"),  # words cannot undo data
    (AUTO, BOTH | {"performance.ci": "contradicted"}, {"na": "out of scope"}, "contradicted"),
    (PARTIAL, {"data.profile": "shown"}, None, "partly evidenced"),  # the numbers need the user's context
    (PARTIAL, {"data.profile": "shown"}, {"text": "context"}, "evidenced"),
    (PARTIAL, {"data.profile": "thin"}, {"text": "context"}, "attested"),
    (PARTIAL, {}, {"text": "context"}, "attested"),
    (PARTIAL, {}, None, "missing"),
    (ATTEST, {"data.profile": "shown"}, None, "missing"),
    (ATTEST, {}, {"text": "IRB 2024-17", "source": "protocol"}, "attested"),
    (ATTEST, {}, {"na": "no images"}, "not applicable"),
    (AUTO, BOTH, {"na": "out of scope"}, "not applicable"),
])
def test_item_status_rules(it, states, attestation, expected):
    assert item_status(it, states, attestation) == expected


@pytest.mark.parametrize("key", [k for k, v in VOCABULARY.items() if v.always])
def test_a_key_every_audit_has_may_support_an_item_but_never_evidence_it(key):
    assert item("attest", supporting=[key]).supporting == (key,)
    with pytest.raises(ValueError, match=f"{re.escape(key)} is in every audit"):
        item("partial", [key, "performance.ci"])


def test_no_shipped_item_rests_on_a_key_every_audit_has():
    always = {k for k, v in VOCABULARY.items() if v.always}
    assert always == {"provenance.hashes", "provenance.versions", "provenance.seed"}
    for name in checklist.available():
        for it in checklist.load(name).items:
            assert not set(it.evidence) & always, (name, it.id)


@pytest.mark.parametrize("name", sorted(resource_dir("checklists").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_auto_or_partial_item_says_why_the_audit_answers_it(name):
    doc = yaml.safe_load(name.read_text(encoding="utf-8"))
    assert doc["evidenced_means"].strip() and doc["cannot_know"].strip()
    for raw_item in doc["items"]:
        if raw_item["class"] != "attest":
            assert len(str(raw_item.get("why") or "").split()) >= 8, raw_item["id"]  # a sentence, not a word
    auto = next(i for i in doc["items"] if i["class"] != "attest")
    del auto["why"]
    with pytest.raises(ValueError, match="needs a `why` line"):
        Guideline.model_validate(doc)


def test_an_attest_item_takes_no_why_and_a_guideline_must_say_what_it_cannot_know():
    with pytest.raises(ValueError, match="takes no `why`"):
        Item.model_validate({"id": "X-1", "section": "S", "topic": "t", "class": "attest", "why": "x"})
    doc = raw("future-ai")
    del doc["cannot_know"]
    with pytest.raises(ValueError, match="cannot_know"):
        Guideline.model_validate(doc)


def test_development_side_probast_questions_are_never_answered_by_the_audit():
    """The audit never sees the development study: every PROBAST-D question is for the user to attest."""
    probast = checklist.load("probast-ai")
    assert {i.class_ for i in probast.items if i.id.startswith("PROBAST-D")} == {"attest"}


def test_join_links_each_present_key_to_the_report_section_holding_it_and_counts_statuses():
    fairness = {"section": "fairness", "title": "Subgroup fairness", "anchor": "section-fairness", "state": "shown"}
    locations = {
        "fairness.subgroups": fairness,
        "fairness.gaps": fairness,
        "calibration.subgroups": {"section": "calibration", "title": "Calibration", "anchor": "section-calibration", "state": "thin"},
        "data.profile": {"section": "profile", "title": "Data profile", "anchor": "section-profile", "state": "shown"},
    }
    block = join(checklist.load("future-ai"), locations, {"General-7": {"na": "research prototype"},
                                                         "Fairness-3": "no mitigation was tried"})
    f3 = block["items"]["Fairness-3"]
    assert f3["status"] == "evidenced" and f3["why"].startswith("The fairness section compares")
    assert f3["links"] == [
        {"anchor": "section-fairness", "section": "fairness", "title": "Subgroup fairness", "keys": ["fairness.subgroups", "fairness.gaps"]},
        {"anchor": "section-calibration", "section": "calibration", "title": "Calibration", "keys": ["calibration.subgroups"],
         "states": {"calibration.subgroups": "thin"}},  # only a key not shown says its state
    ]
    assert block["items"]["Fairness-2"]["status"] == "partly evidenced"
    assert block["items"]["General-7"]["status"] == "not applicable"
    assert block["items"]["General-7"]["attestation"] == {"na": "research prototype"}
    statuses = [e["status"] for e in block["items"].values()]
    assert block["coverage"] == {s: statuses.count(s) for s in checklist.STATUSES} | {"total": 30}
    assert block["coverage"]["evidenced"] == 1 and block["coverage"]["not applicable"] == 1
    assert block["sections"]["Fairness"] == {"evidenced": 1, "partly evidenced": 1, "contradicted": 0, "attested": 0,
                                             "not applicable": 0, "missing": 1, "total": 3}
    assert block["evidenced_means"] and block["cannot_know"] and block["contradicted"] == []
    assert block["missing"] == [i for i, e in block["items"].items() if e["status"] == "missing"]
    assert "Fairness-1" in block["missing"] and "Fairness-2" in block["needs_context"]
    assert block["doi"] == "10.1136/bmj-2024-081554" and "BMJ 2025" in block["citation"]


# ------------------------------------------------------------------------------ attestations


def spec_with(attestations, checklists=("claim-2024",)):
    return {"name": "x", "data": {"test": "t.csv", "target": "y", "prediction": "p"},
            "checklists": list(checklists), "attestations": attestations}


def test_spec_accepts_plain_text_text_with_source_and_na():
    spec, _ = load_spec(spec_with({"claim-2024": {
        "CLAIM-7": "Rotterdam tumour bank, 1978-1993",
        "CLAIM-5": {"text": "retrospective", "source": "protocol v2 §3"},
        "CLAIM-13": {"na": "tabular data, no images"},
    }}))
    att = spec.attestations["claim-2024"]
    assert att["CLAIM-7"].text == "Rotterdam tumour bank, 1978-1993" and att["CLAIM-7"].source is None
    assert (att["CLAIM-5"].text, att["CLAIM-5"].source) == ("retrospective", "protocol v2 §3")
    assert att["CLAIM-13"].na == "tabular data, no images" and att["CLAIM-13"].text is None
    again, _ = load_spec(spec.model_dump(mode="json"))  # results.json's spec reloads (reproduce)
    assert again.attestations == spec.attestations


@pytest.mark.parametrize("value, message", [
    ("", "CLAIM-7.text is empty"),
    ("   ", "CLAIM-7.text is empty"),
    ({"na": ""}, "CLAIM-7.na is empty"),
    ({"text": "x", "source": ""}, "CLAIM-7.source is empty"),
    (None, "attestations.claim-2024.CLAIM-7 is empty"),
    ({"text": "x", "na": "y"}, "gives both na and text"),
])
def test_spec_rejects_empty_or_contradictory_attestations(value, message):
    with pytest.raises(AuditInputError, match=re.escape(message)):
        load_spec(spec_with({"claim-2024": {"CLAIM-7": value}}))


@pytest.mark.parametrize("checklists, attestations, message", [
    (["claim-2024"], {"claim-2024": {"CLAIM-77": "x"}}, "'CLAIM-77', which CLAIM 2024 does not have; did you mean 'CLAIM-7'?"),
    (["claim-2024"], {"claim-2024": {"7": "x"}}, "did you mean 'CLAIM-7'?"),
    (["future-ai"], {"future-ai": {"Fairnes-1": "x"}}, "did you mean 'Fairness-1'?"),
    (["tripod-ai"], {"tripod-ai": {"TRIPOD-12h": "x"}}, "did you mean 'TRIPOD-12"),
    (["claim-2024"], {"claim2024": {"CLAIM-7": "x"}}, "guideline 'claim2024'.*did you mean 'claim-2024'"),
    (["claim-2024"], {"tripod-ai": {"TRIPOD-17": "x"}}, "checklists does not ask for it; add tripod-ai"),
    (["futureai"], {}, "no guideline checklist named 'futureai'; did you mean 'future-ai'"),
])
def test_unknown_guideline_or_item_is_an_error_naming_the_closest(checklists, attestations, message):
    with pytest.raises(AuditInputError, match=message if ".*" in message else re.escape(message)):
        validate_request(checklists, attestations)
