"""Guideline checklists: load their definitions, and join the audit's evidence with the user's attestations.

Each file ``checklists/<name>.yaml`` describes one guideline (FUTURE-AI, CLAIM 2024, TRIPOD+AI,
PROBAST+AI, the EU AI Act's Art. 9-15): its citation and DOI (a regulation has none), and per
item an id, section, short paraphrased topic and a ``class``:

- ``auto``: the audit alone evidences the item; ``evidence`` lists the keys that must all be shown;
- ``partial``: the audit supplies the numbers (``evidence``) but the item also needs the user's context;
- ``attest``: only the user can state it (ethics, design intent, governance, the development data).

An ``auto`` or ``partial`` item says ``why`` the audit's output answers it (one line). ``supporting``
keys are linked from an item when present but do not decide its status; keys every audit has
(``EvidenceKey.always``: file hashes, the tool's own versions, the seed) may only support. Each
guideline says what ``evidenced`` means for it and what the tool cannot know. Keys come from the one
vocabulary in :mod:`audit.evidence`; each present key has the state its section gave it (shown,
thin, contradicted), and a section whose verdict is "insufficient evidence" gives its keys at most
"thin".

**The join** gives every item one status (see :func:`item_status`):

==================== ==================================================================================
``evidenced``         every evidence key shown (for a ``partial`` item: and the user attested its context)
``partly evidenced``  some evidence keys shown or thin, or all of a ``partial`` item's keys without the context
``contradicted``      an evidence key is contradicted: the audit's own evidence says the item is not met
``attested``          the user wrote text for it under ``attestations:`` and the evidence is not complete
``not applicable``    the user wrote ``na: reason``
``missing``           none of the above: the to-do list before submission
==================== ==================================================================================

``contradicted`` wins over an attestation and over ``na``: the user's words cannot undo what the
audit's own data show.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import AuditInputError
from .evidence import CONTRADICTED, PROVENANCE, PROVENANCE_ANCHOR, SHOWN, STATES, THIN, VOCABULARY, section_anchor
from .resources import resource_dir

ItemClass = Literal["auto", "partial", "attest"]
STATUSES = ("evidenced", "partly evidenced", "contradicted", "attested", "not applicable", "missing")
#: A section verdict that gives its evidence keys at most the state "thin".
THIN_VERDICT = "insufficient evidence"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    """FUTURE-AI's recommendation level for research tools and for tools meant for deployment."""

    research: Literal["+", "++"]
    deployable: Literal["+", "++"]


class Item(_Strict):
    """One checklist item."""

    id: str = Field(min_length=1)
    section: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    class_: ItemClass = Field(alias="class")
    evidence: tuple[str, ...] = ()
    supporting: tuple[str, ...] = ()
    why: str | None = None  # auto / partial: why the audit's output answers the item
    level: Level | None = None  # FUTURE-AI
    scope: tuple[Literal["D", "E"], ...] | None = None  # TRIPOD+AI: development / evaluation
    main: str | None = None  # TRIPOD+AI: the main item a sub-item belongs to
    former: str | None = None  # CLAIM 2024: the item's number in CLAIM 2020

    @field_validator("evidence", "supporting")
    @classmethod
    def _known_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if key not in VOCABULARY:
                close = difflib.get_close_matches(key, list(VOCABULARY), n=1, cutoff=0)
                raise ValueError(f"evidence key {key!r} is not in audit.evidence.VOCABULARY (closest: {close[0]!r})")
        if len(set(keys)) != len(keys):
            raise ValueError(f"an evidence key is listed twice in {list(keys)}")
        return keys

    @model_validator(mode="after")
    def _class_matches_evidence(self) -> Item:
        if self.class_ == "attest" and self.evidence:
            raise ValueError(f"item {self.id}: an attest item takes no evidence keys (use supporting)")
        if self.class_ != "attest" and not self.evidence:
            raise ValueError(f"item {self.id}: a {self.class_} item needs at least one evidence key")
        if set(self.evidence) & set(self.supporting):
            raise ValueError(f"item {self.id}: a key is both evidence and supporting")
        always = [key for key in self.evidence if VOCABULARY[key].always]
        if always:
            raise ValueError(f"item {self.id}: {', '.join(always)} is in every audit, so it may only be supporting, never evidence")
        if self.class_ != "attest" and not (self.why or "").strip():
            raise ValueError(f"item {self.id}: a {self.class_} item needs a `why` line: why the audit's output answers it")
        if self.class_ == "attest" and self.why:
            raise ValueError(f"item {self.id}: an attest item takes no `why` (the audit does not answer it)")
        return self


class Guideline(_Strict):
    """One guideline: what to cite and its items in the guideline's order."""

    name: str
    title: str
    citation: str
    doi: str | None = None  # None when the guideline has none (a regulation): cite it by ``citation``
    note: str | None = None
    evidenced_means: str = Field(min_length=1)  # what "evidenced" means for this guideline's items
    cannot_know: str = Field(min_length=1)  # what the tool cannot know, so only the user can state it
    items: tuple[Item, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Guideline:
        seen: set[str] = set()
        for item in self.items:
            if item.id.casefold() in seen:
                raise ValueError(f"item id {item.id!r} appears twice")
            seen.add(item.id.casefold())
        return self

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    @property
    def main_items(self) -> list[str]:
        """The guideline's numbered items (a TRIPOD+AI item with sub-items a, b, c counts once)."""
        return list(dict.fromkeys(item.main or item.id for item in self.items))

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(item.section for item in self.items))

    def item(self, item_id: str) -> Item:
        return next(item for item in self.items if item.id == item_id)


# ------------------------------------------------------------------------------ loading


def available() -> list[str]:
    """Names of the guidelines shipped with trustaudit (the YAML file names), sorted."""
    return sorted(path.stem for path in resource_dir("checklists").glob("*.yaml"))


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option closest to ``word``: same text ignoring case, the same id without its prefix, else by similarity."""
    options = list(options)
    if not options:
        return None
    folded = str(word).casefold()
    for option in options:
        if option.casefold() == folded or option.casefold().endswith("-" + folded):
            return option
    match = difflib.get_close_matches(folded, [o.casefold() for o in options], n=1, cutoff=0)
    return next(o for o in options if o.casefold() == match[0]) if match else options[0]


def load(name: str) -> Guideline:
    """The guideline ``name`` (e.g. ``"future-ai"``); an unknown name is an ``AuditInputError`` naming the closest."""
    names = available()
    if name not in names:
        raise AuditInputError(
            f"there is no guideline checklist named {name!r}; did you mean {closest(name, names)!r}? "
            f"Available: {', '.join(names)}."
        )
    return _load_file(name)


@functools.cache
def _load_file(name: str) -> Guideline:
    path = resource_dir("checklists") / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        guideline = Guideline.model_validate(raw)
    except ValidationError as exc:  # a shipped file is broken: a bug of ours, not the user's input
        raise RuntimeError(f"checklists/{path.name} does not match the checklist schema: {exc}") from None
    if guideline.name != name:
        raise RuntimeError(f"checklists/{path.name} says name: {guideline.name!r}; it must match the file name")
    return guideline


# ------------------------------------------------------------------------------ attestations


def validate_request(checklists: Iterable[str], attestations: Mapping[str, Mapping[str, Any]]) -> None:
    """Fail fast on a guideline name or attestation id that does not exist, naming the closest one."""
    requested = list(checklists)
    for name in requested:
        load(name)
    names = available()
    for name, items in attestations.items():
        if name not in names:
            raise AuditInputError(
                f"attestations names the guideline {name!r}, which trustaudit does not know; "
                f"did you mean {closest(name, names)!r}? Available: {', '.join(names)}."
            )
        if name not in requested:
            raise AuditInputError(
                f"attestations give items for {name!r}, but checklists does not ask for it; "
                f"add {name} to checklists, or remove its attestations."
            )
        guideline = load(name)
        for item_id in items:
            if item_id not in guideline.ids:
                raise AuditInputError(
                    f"attestations.{name} names the item {item_id!r}, which {guideline.title} does not have; "
                    f"did you mean {closest(item_id, guideline.ids)!r}? (`trustaudit checklist {name}` lists the items.)"
                )


def _attestation_dict(value: Any) -> dict | None:
    """An attestation as plain data: ``{"text", "source"}`` or ``{"na"}`` (``None`` fields dropped)."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return {k: v for k, v in dict(value).items() if v is not None}


# ------------------------------------------------------------------------------ the join


def item_status(item: Item, states: Mapping[str, str], attestation: Mapping | None) -> str:
    """The status of ``item`` given the state of each evidence key present (``{key: "shown" | "thin" |
    "contradicted"}``) and the user's attestation (or ``None``); see the module's table."""
    found = {key: states[key] for key in item.evidence if key in states}
    if CONTRADICTED in found.values():
        return "contradicted"
    if attestation and attestation.get("na"):
        return "not applicable"
    text = bool(attestation and attestation.get("text"))
    complete = bool(item.evidence) and len(found) == len(item.evidence) and set(found.values()) == {SHOWN}
    if complete and (item.class_ == "auto" or text):
        return "evidenced"
    if text:
        return "attested"
    if found:
        return "partly evidenced"
    return "missing"


def evidence_locations(results: Mapping) -> dict[str, dict]:
    """Each evidence key present in ``results`` → ``{"section", "title", "anchor", "state"}``: the report part
    holding it and what it showed there. A section that was not run gives none; a section whose verdict is
    "insufficient evidence" gives its keys at most "thin". A key two sections give keeps the worse state."""
    from .evidence import provenance_evidence

    found: dict[str, dict] = {}
    for name, section in (results.get("sections") or {}).items():
        if not isinstance(section, Mapping) or section.get("status") == "not run":
            continue
        where = {"section": str(name), "title": str(section.get("title") or name), "anchor": section_anchor(name)}
        for key, state in section_states(section).items():
            if key not in found or STATES.index(state) > STATES.index(found[key]["state"]):
                found[key] = {**where, "state": state}
    for key in provenance_evidence(results.get("provenance")):
        found.setdefault(key, {"section": PROVENANCE, "title": "Provenance", "anchor": PROVENANCE_ANCHOR, "state": SHOWN})
    return found


def section_states(section: Mapping) -> dict[str, str]:
    """A section's ``{key: state}``; a state outside ``STATES`` counts as thin, and so does every key of a
    section whose verdict is "insufficient evidence"."""
    evidence = section.get("evidence") or {}
    if not isinstance(evidence, Mapping):  # a results.json written before keys had states: all were shown
        evidence = dict.fromkeys(evidence, SHOWN)
    states = {str(key): (state if state in STATES else THIN) for key, state in evidence.items()}
    if section.get("status") == THIN_VERDICT:
        states = {key: (THIN if state == SHOWN else state) for key, state in states.items()}
    return states


def join(guideline: Guideline, locations: Mapping[str, Mapping], attestations: Mapping[str, Any] | None = None) -> dict:
    """One guideline's block of results.json: per item its status, evidence, links and attestation; coverage."""
    attestations = attestations or {}
    items = {}
    for item in guideline.items:
        attestation = _attestation_dict(attestations.get(item.id))
        status = item_status(item, {key: where["state"] for key, where in locations.items()}, attestation)
        links: dict[str, dict] = {}
        for key in item.evidence + item.supporting:
            if key in locations:
                where = locations[key]
                link = links.setdefault(where["anchor"], {"anchor": where["anchor"], "section": where["section"],
                                                          "title": where["title"], "keys": []})
                link["keys"].append(key)
                if where["state"] != SHOWN:
                    link.setdefault("states", {})[key] = where["state"]
        entry = {
            "section": item.section,
            "topic": item.topic,
            "class": item.class_,
            "status": status,
            "evidence_found": [k for k in item.evidence if k in locations],
            "evidence_thin": [k for k in item.evidence if k in locations and locations[k]["state"] == THIN],
            "evidence_contradicted": [k for k in item.evidence if k in locations and locations[k]["state"] == CONTRADICTED],
            "evidence_missing": [k for k in item.evidence if k not in locations],
            "supporting_found": [k for k in item.supporting if k in locations],
            "links": list(links.values()),
            "attestation": attestation,
        }
        for extra in ("why", "level", "scope", "main", "former"):
            value = getattr(item, extra)
            if value is not None:
                entry[extra] = value.model_dump() if isinstance(value, BaseModel) else (list(value) if isinstance(value, tuple) else value)
        items[item.id] = entry
    by_section: dict[str, dict[str, int]] = {}
    for entry in items.values():
        counts = by_section.setdefault(entry["section"], {**dict.fromkeys(STATUSES, 0), "total": 0})
        counts[entry["status"]] += 1
        counts["total"] += 1
    coverage = {status: sum(e["status"] == status for e in items.values()) for status in STATUSES}
    coverage["total"] = len(items)
    return {
        "title": guideline.title,
        "citation": guideline.citation,
        "evidenced_means": guideline.evidenced_means,
        "cannot_know": guideline.cannot_know,
        "doi": guideline.doi,
        "url": f"https://doi.org/{guideline.doi}" if guideline.doi else None,
        "coverage": coverage,
        "sections": by_section,
        "contradicted": [i for i, e in items.items() if e["status"] == "contradicted"],
        "missing": [i for i, e in items.items() if e["status"] == "missing"],
        "needs_context": [i for i, e in items.items() if e["status"] == "partly evidenced"],
        "items": items,
    }


def checklist_results(names: Iterable[str], results: Mapping, attestations: Mapping[str, Mapping] | None = None) -> dict:
    """results.json's ``checklists``: the join for every requested guideline, in the order asked."""
    attestations = attestations or {}
    locations = evidence_locations(results)
    return {name: join(load(name), locations, attestations.get(name)) for name in names}


# ------------------------------------------------------------------------------ the template


def _class_label(item: Item) -> str:
    if item.class_ == "attest":
        return "attest"
    keys = ", ".join(item.evidence)
    return f"audit evidence: {keys}" if item.class_ == "auto" else f"audit evidence + your context: {keys}"


def template(guideline: Guideline) -> str:
    """A YAML skeleton of attestations for ``guideline``; it loads as a valid ``attestations:`` block as is.

    Every item is a commented-out line: remove the ``# `` in front of ``<id>:``, write the text and
    where it is documented, or ``{na: "why it does not apply"}``.
    """
    lines = [
        f"# Attestations for {guideline.title}" + (f" (doi:{guideline.doi})." if guideline.doi else "."),
        f"# Add {guideline.name} to the spec's checklists: and put this block at the top level of the spec.",
        '# For each item you can state, remove the "# " in front of its id and write what you did and where',
        '# it is documented; an item that does not apply takes {na: "reason"}. Items marked "audit evidence"',
        "# are evidenced by the audit itself; an attestation adds your context to them.",
        "attestations:",
        f"  {guideline.name}:",
    ]
    section = None
    for item in guideline.items:
        if item.section != section:
            section = item.section
            lines.append(f"    # --- {section} ---")
        lines.append(f"    # {item.id} ({_class_label(item)}): {item.topic}")
        lines.append(f'    # {item.id}: {{text: "", source: ""}}')
    return "\n".join(lines) + "\n"
