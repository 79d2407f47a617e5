"""The vocabulary of evidence keys: what each key means and which part of trustaudit produces it.

A check states the keys it produced in ``Section.evidence``, each with what the audit showed
(:data:`STATES`); the provenance block of results.json yields the ``provenance.*`` keys. Guideline
checklists (``checklists/*.yaml``) name these keys to say which items an audit can evidence. This
module is the one place the vocabulary is written down: a checklist that names a key not listed
here fails to load, and the tests fail when a check produces a key that is not listed here.

A key's state:

- ``shown``: the section shows what the key means, on enough data to judge;
- ``thin``: the section produced it, but on too little data to judge (a section whose verdict is
  "insufficient evidence" gives every key at most this state): an item resting on it is at most
  partly evidenced;
- ``contradicted``: the audit's own evidence says the opposite of what the key means (identifiers
  shared with the training data for ``data.leakage``; a pre-specified target missed for
  ``performance.targets_met``): an item resting on it is contradicted.

Keys that every audit has (``always``: the input files' hashes, the tool's own package versions,
the seed) may only *support* an item: they never evidence one (``audit.checklist`` enforces it).

Keys are ``<area>.<what>``; the area is usually the producing check's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SHOWN, THIN, CONTRADICTED = "shown", "thin", "contradicted"
#: What a section can say about one of its keys, from best to worst.
STATES = (SHOWN, THIN, CONTRADICTED)

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
    always: bool = False  # present in every audit: may support an item, never evidence it


_KEYS = (
    # profile (audit/checks/data_profile.py)
    EvidenceKey("data.profile", "profile",
                "per dataset: n, events and prevalence, missing values per column, distribution of each sensitive attribute"),
    EvidenceKey("data.leakage", "profile",
                "patient identifiers of every evaluated dataset compared with the training table's: none shared "
                "(contradicted when some are)",
                "data.id names an identifier column and data.train the training table"),
    EvidenceKey("data.overlap", "profile",
                "patient identifiers compared between the evaluated datasets (test and external): none shared "
                "(contradicted when some are)",
                "data.id names an identifier column and there are two or more evaluated datasets"),
    EvidenceKey("labels.agreement", "profile",
                "agreement between several readers' labels (Fleiss' and Cohen's kappa with intervals) and with the reference standard",
                "data.readers names two or more readers' label columns"),
    # performance (audit/checks/performance.py)
    EvidenceKey("performance.ci", "performance",
                "discrimination and threshold metrics per dataset, each with a confidence interval"),
    EvidenceKey("performance.curves", "performance", "ROC and precision-recall curves per dataset"),
    EvidenceKey("performance.precision", "performance",
                "every dataset is large enough for a precise validation: the intervals of the C-statistic, O:E, "
                "calibration slope and standardised net benefit are as narrow as Riley et al.'s (2021) targets "
                "(contradicted when one is wider, thin when one cannot be computed)"),
    EvidenceKey("performance.targets", "performance",
                "pre-specified targets (settings.targets) judged by one-sided bounds, each with its stated rule",
                "settings.targets is set"),
    EvidenceKey("performance.targets_met", "performance",
                "every pre-specified target met: its one-sided bound clears it on every dataset "
                "(thin when a verdict is inconclusive, contradicted when a target is missed)",
                "settings.targets is set"),
    EvidenceKey("performance.censoring", "performance",
                "censored follow-up handled without dropping patients: inverse-probability-of-censoring weights from the "
                "reverse Kaplan–Meier, Kaplan–Meier observed risks, concordance truncated at the horizon",
                "task: survival"),
    EvidenceKey("performance.external", "performance",
                "the same metrics on every external dataset and the external minus internal AUROC",
                "data.external is not empty"),
    # fairness (audit/checks/fairness.py)
    EvidenceKey("fairness.subgroups", "fairness",
                "metrics with intervals per group of every sensitive attribute (thin when no attribute has two "
                "groups large enough to compare)", "data.sensitive is set"),
    EvidenceKey("fairness.gaps", "fairness",
                "between-group gaps of the sensitive attributes with simultaneous (max-T) intervals, adjusted "
                "p-values and fairlearn disparities (thin when no attribute has two groups large enough)",
                "data.sensitive is set"),
    EvidenceKey("sites.comparison", "fairness",
                "metrics with intervals per site and between-site gaps, by the same method as the fairness groups "
                "(thin when fewer than two sites are large enough)", "data.site is set"),
    EvidenceKey("fairness.intersectional", "fairness",
                "the subgroup analysis repeated on intersections of sensitive attributes (thin when no two "
                "intersections are large enough to compare)",
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
    EvidenceKey("provenance.hashes", PROVENANCE, "SHA-256 of every input file and of the model file", always=True),
    EvidenceKey("provenance.versions", PROVENANCE,
                "versions of Python, trustaudit and the packages trustaudit computes with (not the model's)", always=True),
    EvidenceKey("provenance.seed", PROVENANCE, "the random seed and resampling settings, so the run repeats exactly",
                always=True),
    EvidenceKey("provenance.model_run", PROVENANCE,
                "the audit computed every prediction itself by running the model; what the model is and the "
                "versions of the libraries it ran on (scikit-learn, torch, onnxruntime, ...) are recorded",
                "a model (not data.prediction) gives the predictions"),
)

#: key → :class:`EvidenceKey`, in documentation order.
VOCABULARY: dict[str, EvidenceKey] = {k.key: k for k in _KEYS}


def shown(*keys: str) -> dict[str, str]:
    """``{key: "shown"}`` for each key: what a check returns for the keys it showed on enough data."""
    return dict.fromkeys(keys, SHOWN)


def producer(key: str) -> str:
    """The check (or ``"provenance"``) that produces ``key``; ``KeyError`` for an unknown key."""
    return VOCABULARY[key].producer


def section_anchor(name: str) -> str:
    """The report anchor of the section of check ``name`` (as ``audit.report`` derives it)."""
    import re

    return "section-" + (re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "x")


def provenance_evidence(provenance: Mapping | None) -> list[str]:
    """The ``provenance.*`` keys a results.json provenance block supports (all of them shown)."""
    provenance = provenance or {}
    keys = []
    model = provenance.get("model")
    if isinstance(model, Mapping) and model.get("description"):
        keys.append("provenance.model_run")
    files = provenance.get("files") or {}
    if any(isinstance(f, Mapping) and f.get("sha256") for f in files.values()):
        keys.append("provenance.hashes")
    if provenance.get("packages"):
        keys.append("provenance.versions")
    if provenance.get("seed") is not None:
        keys.append("provenance.seed")
    return keys

