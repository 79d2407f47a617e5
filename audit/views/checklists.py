"""The guideline-checklist part of the report: results.json ``checklists`` → what ``reports/_checklists.html.j2`` lays out.

Lookups and ordering only; every count was made by :func:`audit.checklist.join`. The report
includes the partial's ``badges(view)`` macro at the top (one badge per FUTURE-AI principle) and
its ``section(view)`` macro as the checklists section (per guideline: item table, coverage
summary, to-do list).

This module is not a per-check view (there is no check named ``checklists``): its entry point is
:func:`build_checklists`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from audit.checklist import STATUSES
from audit.evidence import VOCABULARY

TEMPLATE = "_checklists.html.j2"
#: Badge colours: the report's existing status classes. Only "contradicted" is red: the audit's own data
#: say the item is not met; "missing" is a to-do, not a failure.
STATUS_CLASSES = {
    "evidenced": "status-pass",
    "attested": "status-pass",
    "partly evidenced": "status-warning",
    "contradicted": "status-fail",
    "not applicable": "status-not-run",
    "missing": "status-insufficient-evidence",
}
CLASS_LABELS = {"auto": "audit", "partial": "audit + your context", "attest": "your attestation"}
#: The guideline whose sections get summary badges at the top of the report.
BADGE_GUIDELINE = "future-ai"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def _status_class(status: str) -> str:
    return STATUS_CLASSES.get(status, "status-unknown")


def _counts(counts: Mapping) -> list[dict]:
    return [{"status": s, "count": int(counts.get(s) or 0), "status_class": _status_class(s)} for s in STATUSES]


def _level(level: Mapping | None) -> str | None:
    if not isinstance(level, Mapping):
        return None
    return f"research {level.get('research', '?')} · deployable {level.get('deployable', '?')}"


def _todo(item_id: str, item: Mapping) -> dict:
    """What a team must do for a contradicted, missing or partly evidenced item."""
    missing = list(item.get("evidence_missing") or [])
    against = set(item.get("evidence_contradicted") or [])
    checks = list(dict.fromkeys(VOCABULARY[k].producer for k in missing if k in VOCABULARY))
    return {
        "id": item_id,
        "section": item.get("section"),
        "topic": item.get("topic"),
        "status": item.get("status"),
        "status_class": _status_class(str(item.get("status"))),
        "missing_keys": missing,
        "thin_keys": list(item.get("evidence_thin") or []),
        "contradicted": [{"key": key, "anchor": link.get("anchor"), "title": link.get("title")}
                         for link in item.get("links") or [] for key in link.get("keys") or [] if key in against],
        "checks": checks,
        "needs_attestation": item.get("class") != "auto",
    }


def _guideline(name: str, g: Mapping) -> dict:
    items_raw = g.get("items") if isinstance(g.get("items"), Mapping) else {}
    items = []
    for item_id, item in items_raw.items():
        attestation = item.get("attestation") if isinstance(item.get("attestation"), Mapping) else None
        if attestation is not None:
            attestation = {k: attestation.get(k) for k in ("text", "source", "na")}
        status = str(item.get("status") or "missing")
        items.append({
            "id": item_id,
            "section": item.get("section"),
            "topic": item.get("topic"),
            "class_label": CLASS_LABELS.get(item.get("class"), item.get("class")),
            "level": _level(item.get("level")),
            "scope": "/".join(item.get("scope") or []) or None,
            "status": status,
            "status_class": _status_class(status),
            "links": [{"anchor": link.get("anchor"), "title": link.get("title"),
                       "evidence_keys": [{"key": k, "state": (link.get("states") or {}).get(k)} for k in link.get("keys") or []]}
                      for link in item.get("links") or []],
            "why": item.get("why"),
            "evidence_missing": list(item.get("evidence_missing") or []),
            "attestation": attestation,
        })
    sections = [{"name": section, "anchor": f"checklist-{_slug(name)}-{_slug(section)}", "total": int(c.get("total") or 0),
                 "counts": _counts(c)} for section, c in (g.get("sections") or {}).items()]
    return {
        "name": name,
        "anchor": f"checklist-{_slug(name)}",
        "title": g.get("title") or name,
        "citation": g.get("citation"),
        "doi": g.get("doi"),
        "url": g.get("url"),
        "evidenced_means": g.get("evidenced_means"),
        "cannot_know": g.get("cannot_know"),
        "total": int((g.get("coverage") or {}).get("total") or len(items)),
        "coverage": _counts(g.get("coverage") or {}),
        "sections": sections,
        "entries": items,
        "contradicted": [_todo(i, items_raw[i]) for i in g.get("contradicted") or [] if i in items_raw],
        "missing": [_todo(i, items_raw[i]) for i in g.get("missing") or [] if i in items_raw],
        "needs_context": [_todo(i, items_raw[i]) for i in g.get("needs_context") or [] if i in items_raw],
    }


def _badges(g: Mapping | None) -> list[dict]:
    """One badge per FUTURE-AI principle: how many of its items are covered (evidenced, attested or n/a)."""
    if not isinstance(g, Mapping):
        return []
    badges = []
    for principle, c in (g.get("sections") or {}).items():
        covered = sum(int(c.get(s) or 0) for s in ("evidenced", "attested", "not applicable"))
        partly, missing, total = int(c.get("partly evidenced") or 0), int(c.get("missing") or 0), int(c.get("total") or 0)
        contradicted = int(c.get("contradicted") or 0)
        status_class = "status-fail" if contradicted else ("status-warning" if missing or partly else "status-pass")
        badges.append({"principle": principle, "covered": covered, "partly": partly, "missing": missing, "contradicted": contradicted,
                       "total": total, "status_class": status_class,
                       "anchor": f"checklist-{_slug(BADGE_GUIDELINE)}-{_slug(principle)}"})
    return badges


def build_checklists(checklists: Mapping) -> dict:
    """Arrange results.json's ``checklists`` for the partial: guidelines in the order run, badges for FUTURE-AI."""
    checklists = checklists if isinstance(checklists, Mapping) else {}
    guidelines = [_guideline(name, g) for name, g in checklists.items() if isinstance(g, Mapping)]
    return {
        "template": TEMPLATE,
        "anchor": "checklists",
        "guidelines": guidelines,
        "badges": _badges(checklists.get(BADGE_GUIDELINE)),
        "badge_anchor": f"checklist-{_slug(BADGE_GUIDELINE)}",
        "statuses": [{"status": s, "status_class": _status_class(s)} for s in STATUSES],
    }
