"""``trustaudit checklist [NAME]``: list the guideline checklists, or one guideline's items, or an attestation template."""

from __future__ import annotations

import argparse

NAME = "checklist"
ORDER = 20
HELP = "list the guideline checklists, the items of one, or a template of attestations to fill in"
DESCRIPTION = (
    "Without NAME, list the guideline checklists trustaudit maps its evidence onto. With NAME, print "
    "each item's id, topic, the evidence keys that satisfy it ('attest' when only you can state it) and why "
    "they answer it, "
    "so you can write the attestations: block of the audit spec. With --template, print that block as "
    "YAML to fill in."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", nargs="?", help="a guideline, e.g. future-ai, claim-2024, tripod-ai")
    parser.add_argument("--template", action="store_true",
                        help="print a YAML skeleton of attestations for NAME (every item commented out, ready to fill in)")


def main(args: argparse.Namespace) -> int:
    from ..checklist import available, load, template
    from ..errors import AuditInputError

    if args.name is None:
        if args.template:
            raise AuditInputError("--template needs a guideline name, e.g. `trustaudit checklist claim-2024 --template`.")
        print(listing([load(name) for name in available()]))
        return 0
    guideline = load(args.name)
    print(template(guideline) if args.template else items_table(guideline), end="")
    return 0


def listing(guidelines: list) -> str:
    width = max(len(g.name) for g in guidelines)
    lines = ["Guideline checklists (trustaudit checklist NAME lists the items):"]
    for g in guidelines:
        counted = f"{len(g.main_items)} items" + (f", {len(g.items)} with sub-items" if len(g.main_items) != len(g.items) else "")
        doi = f"; doi:{g.doi}" if g.doi else ""
        lines.append(f"  {g.name:<{width}}  {g.title} ({counted}{doi})")
    return "\n".join(lines)


def evidence_text(item) -> str:
    if item.class_ == "attest":
        return "attest"
    keys = ", ".join(item.evidence)
    return keys if item.class_ == "auto" else f"{keys} + attest"


def items_table(guideline) -> str:
    lines = [guideline.title, " ".join(guideline.citation.split())] + ([f"doi:{guideline.doi}"] if guideline.doi else []) + [""]
    width = max(len(item.id) for item in guideline.items)
    section = None
    for item in guideline.items:
        if item.section != section:
            lines += ([""] if section is not None else []) + [item.section]
            section = item.section
        lines.append(f"  {item.id:<{width}}  {item.topic}")
        lines.append(f"  {'':<{width}}  evidence: {evidence_text(item)}")
        if item.why:
            lines.append(f"  {'':<{width}}  why: {item.why}")
    lines += ["", "Evidenced means: " + " ".join(guideline.evidenced_means.split()),
              "What the tool cannot know: " + " ".join(guideline.cannot_know.split())]
    lines += ["", "Write attestations in the spec as attestations: {" + guideline.name + ": {ID: \"text\"}};",
              f"`trustaudit checklist {guideline.name} --template` prints a skeleton to fill in."]
    return "\n".join(lines) + "\n"
