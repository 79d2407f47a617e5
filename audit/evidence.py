"""The vocabulary of evidence keys: what each key means and which part of trustaudit produces it.

A check lists the keys it produced in ``Section.evidence``; the provenance block of results.json
yields the ``provenance.*`` keys. Guideline checklists (``checklists/*.yaml``) name these keys to
say which items an audit can evidence. This module is the one place the vocabulary is written
down: a checklist that names a key not listed here fails to load, and the tests fail when a check
produces a key that is not listed here.

Keys are ``<area>.<what>``; the area is usually the producing check's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The producer of the ``provenance.*`` keys: the runner, for every audit (not a check).
PROVENANCE = "provenance"
#: Report anchor of the provenance section.
PROVENANCE_ANCHOR = "provenance"


@dataclass(frozen=True)
class EvidenceKey:
    """One evidence key: its name, the check that produces it, and what it shows."""

    key: str
    producer: str  # a check name as written in the spec's ``checks:``, or ``"provenance"``
    meaning: str
    condition: str | None = None  # when the producer emits it only under some spec setting


_KEYS = (
    # profile (audit/checks/data_profile.py)
    EvidenceKey("data.profile", "profile",
                "per dataset: n, events and prevalence, missing values per column, distribution of each sensitive attribute"),
    EvidenceKey("data.leakage", "profile",
                "patient identifiers shared between datasets or with the training table",
                "data.id names an identifier column"),
    EvidenceKey("labels.agreement", "profile",
                "agreement between several readers' labels (Fleiss' and Cohen's kappa with intervals) and with the reference standard",
                "data.readers names two or more readers' label columns"),
    # performance (audit/checks/performance.py)
    EvidenceKey("performance.ci", "performance",
                "discrimination and threshold metrics per dataset, each with a confidence interval"),
    EvidenceKey("performance.curves", "performance", "ROC and precision-recall curves per dataset"),
    EvidenceKey("performance.targets", "performance",
                "pre-specified targets (settings.targets) judged by one-sided bounds, each with its stated rule"),
    EvidenceKey("performance.external", "performance",
                "the same metrics on every external dataset and the external minus internal AUROC",
                "data.external is not empty"),
    # fairness (audit/checks/fairness.py)
    EvidenceKey("fairness.subgroups", "fairness",
                "metrics with intervals per group of every sensitive attribute (and site)"),
    EvidenceKey("fairness.gaps", "fairness",
                "paired between-group gaps with multiplicity-adjusted tests and fairlearn disparities"),
    EvidenceKey("fairness.intersectional", "fairness",
                "the subgroup analysis repeated on intersections of sensitive attributes",
                "two or more sensitive attributes and settings.intersectional"),
    # calibration (audit/checks/calibration.py)
    EvidenceKey("calibration.slope_intercept", "calibration",
                "calibration-in-the-large and calibration slope with intervals, O:E ratio"),
    EvidenceKey("calibration.ece", "calibration", "expected calibration error, ICI/E50/E90 and related summaries"),
    EvidenceKey("calibration.curve", "calibration", "reliability diagram (smoothed and binned observed risk)"),
    EvidenceKey("calibration.subgroups", "calibration",
                "calibration intercept, slope and ECE per group", "data.sensitive or data.site is set"),
    # utility (audit/checks/utility.py)
    EvidenceKey("utility.net_benefit", "utility",
                "decision curves: net benefit of the model against treat-all and treat-none"),
    # uncertainty (audit/checks/uncertainty.py)
    EvidenceKey("uncertainty.conformal", "uncertainty",
                "coverage and set sizes of conformal prediction sets per dataset"),
    EvidenceKey("uncertainty.subgroups", "uncertainty",
                "conformal coverage per group (marginal and group-calibrated)", "data.sensitive or data.site is set"),
    # robustness (audit/checks/robustness.py)
    EvidenceKey("robustness.perturbation", "robustness",
                "performance under realistic input perturbations (noise, missing inputs)"),
    EvidenceKey("robustness.adversarial", "robustness", "performance under adversarial attacks",
                "a model with gradients (PyTorch)"),
    EvidenceKey("robustness.subgroups", "robustness", "robustness results per group", "data.sensitive or data.site is set"),
    # external (audit/checks/external.py)
    EvidenceKey("external.validation", "external",
                "external minus internal differences in discrimination and calibration, with intervals",
                "data.external is not empty"),
    EvidenceKey("external.gap", "external",
                "the same external minus internal differences (the name the external-validation issue gave them)",
                "data.external is not empty"),
    EvidenceKey("external.shift", "external",
                "label, covariate and prediction shift between internal and external data, domain classifier",
                "data.external is not empty"),
    EvidenceKey("external.sites", "external",
                "random-effects meta-analysis of AUROC and calibration slope across sites",
                "at least two sites with both outcomes"),
    # provenance (audit/provenance.py, recorded by the runner for every audit)
    EvidenceKey("provenance.hashes", PROVENANCE, "SHA-256 of every input file and of the model file"),
    EvidenceKey("provenance.versions", PROVENANCE, "versions of Python, trustaudit and the numerical packages"),
    EvidenceKey("provenance.seed", PROVENANCE, "the random seed and resampling settings, so the run repeats exactly"),
)

#: key → :class:`EvidenceKey`, in documentation order.
VOCABULARY: dict[str, EvidenceKey] = {k.key: k for k in _KEYS}


def producer(key: str) -> str:
    """The check (or ``"provenance"``) that produces ``key``; ``KeyError`` for an unknown key."""
    return VOCABULARY[key].producer


def section_anchor(name: str) -> str:
    """The report anchor of the section of check ``name`` (as ``audit.report`` derives it)."""
    import re

    return "section-" + (re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "x")


def provenance_evidence(provenance: Mapping | None) -> list[str]:
    """The ``provenance.*`` keys a results.json provenance block supports."""
    provenance = provenance or {}
    keys = []
    files = provenance.get("files") or {}
    if any(isinstance(f, Mapping) and f.get("sha256") for f in files.values()):
        keys.append("provenance.hashes")
    if provenance.get("packages"):
        keys.append("provenance.versions")
    if provenance.get("seed") is not None:
        keys.append("provenance.seed")
    return keys

