"""`trustaudit checklist [NAME] [--template]`: listing, items, a template that loads, and bad names."""

from __future__ import annotations

import re

import yaml
from test_checklist import GUIDELINES, REFERENCE_COUNTS

from audit import checklist
from audit.cli import main
from audit.spec import load_spec


def test_without_a_name_it_lists_every_guideline_with_its_item_count_and_doi(capsys):
    assert main(["checklist"]) == 0
    out = capsys.readouterr().out
    for name in GUIDELINES:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert f"({REFERENCE_COUNTS[name]} items" in line and f"doi:{checklist.load(name).doi}" in line
    assert "27 items, 52 with sub-items" in out


def test_with_a_name_it_prints_every_item_with_its_topic_and_evidence_or_attest(capsys):
    assert main(["checklist", "future-ai"]) == 0
    out = capsys.readouterr().out
    guideline = checklist.load("future-ai")
    for item in guideline.items:
        assert re.search(rf"^  {re.escape(item.id)} +{re.escape(item.topic)}$", out, re.MULTILINE), item.id
    lines = out.splitlines()
    evidence_of = {lines[i].split()[0]: lines[i + 1].split("evidence:", 1)[1].strip()
                   for i in range(len(lines) - 1) if lines[i + 1].strip().startswith("evidence:")}
    assert evidence_of["Fairness-3"] == "fairness.subgroups, fairness.gaps + attest"
    assert evidence_of["Universality-3"] == "external.validation, external.shift"
    assert evidence_of["Fairness-1"] == "attest"
    assert evidence_of["Fairness-2"] == "data.profile + attest"
    assert len(evidence_of) == 30
    why_of = {lines[i].split()[0]: lines[i + 2].split("why:", 1)[1].strip()
              for i in range(len(lines) - 2) if lines[i + 2].strip().startswith("why:")}
    assert set(why_of) == {i.id for i in guideline.items if i.class_ != "attest"}
    assert why_of["Universality-3"] == guideline.item("Universality-3").why
    assert "Evidenced means: " in out and "What the tool cannot know: " in out


def test_template_loads_as_an_attestations_block_and_filled_in_lines_attest_items(capsys):
    assert main(["checklist", "claim-2024", "--template"]) == 0
    text = capsys.readouterr().out
    block = yaml.safe_load(text)
    assert set(block) == {"attestations"}
    base = {"name": "t", "data": {"test": "t.csv", "target": "y", "prediction": "p"}, "checklists": ["claim-2024"]}
    spec, _ = load_spec({**base, **block})  # as printed: valid, nothing attested yet
    assert spec.attestations == {"claim-2024": {}}
    ids = re.findall(r"^    # (CLAIM-\d+): \{text", text, re.MULTILINE)
    assert ids == checklist.load("claim-2024").ids  # one fill-in line per item, in order
    filled = text.replace('    # CLAIM-7: {text: "", source: ""}', '    CLAIM-7: {text: "Rotterdam tumour bank", source: "protocol §2"}')
    filled = filled.replace('    # CLAIM-13: {text: "", source: ""}', '    CLAIM-13: {na: "tabular data"}')
    spec, _ = load_spec({**base, **yaml.safe_load(filled)})
    block = checklist.join(checklist.load("claim-2024"), {}, spec.attestations["claim-2024"])
    assert block["items"]["CLAIM-7"]["status"] == "attested"
    assert block["items"]["CLAIM-7"]["attestation"] == {"text": "Rotterdam tumour bank", "source": "protocol §2"}
    assert block["items"]["CLAIM-13"]["status"] == "not applicable"


def test_every_guideline_template_loads(capsys):
    for name in GUIDELINES:
        assert main(["checklist", name, "--template"]) == 0
        block = yaml.safe_load(capsys.readouterr().out)
        spec, _ = load_spec({"name": "t", "data": {"test": "t.csv", "target": "y", "prediction": "p"},
                             "checklists": [name], **block})
        assert spec.attestations == {name: {}}


def test_an_unknown_name_exits_2_with_the_closest_name(capsys):
    assert main(["checklist", "tripod"]) == 2
    err = capsys.readouterr().err
    assert "no guideline checklist named 'tripod'; did you mean 'tripod-ai'?" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_template_without_a_name_exits_2(capsys):
    assert main(["checklist", "--template"]) == 2
    assert "--template needs a guideline name" in capsys.readouterr().err
