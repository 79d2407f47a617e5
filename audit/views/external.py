"""External validation section: gaps, shift diagnosis, recalibration and the site meta-analysis.

Lookups and ordering only; every number was computed by ``audit.checks.external``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.figure import Figure

TEMPLATE = "_external.html.j2"

#: How many features of the covariate-shift table and the domain classifier's ranking to show.
TOP_FEATURES = 12

RECALIBRATIONS = (
    ("original", "As the model stands"),
    ("intercept_updated", "Intercept updated (calibration-in-the-large fixed)"),
    ("logistic_recalibrated", "Logistic recalibration (intercept and slope)"),
)


def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _shift_row(entry: Mapping) -> dict:
    numeric = entry.get("kind") == "numeric"
    return {
        "feature": entry.get("feature"),
        "kind": entry.get("kind"),
        "smd": entry.get("smd") if numeric else None,
        "distance": entry.get("ks_statistic") if numeric else entry.get("tv"),
        "distance_label": "KS" if numeric else "TV",
        "p": entry.get("ks_p") if numeric else entry.get("chi2_p"),
        "p_label": "KS" if numeric else "χ²",
        "psi": entry.get("psi"),
        "missing_internal": entry.get("missing_internal"),
        "missing_external": entry.get("missing_external"),
    }


def _dataset(name: str, entry: Mapping) -> dict:
    gaps = [
        {"metric": metric, "internal": _map(g).get("internal"), "external": _map(g).get("external"),
         "difference": _map(g).get("difference"), "p_value": _map(g).get("p_value")}
        for metric, g in _map(entry.get("gaps")).items()
    ]
    shift = [_shift_row(_map(e)) for e in entry.get("covariate_shift") or []]
    domain = _map(entry.get("domain_classifier"))
    recal = _map(entry.get("recalibration"))
    return {
        "name": name,
        "gaps": gaps,
        "label_shift": _map(entry.get("label_shift")),
        "shift": shift[:TOP_FEATURES],
        "shift_more": max(0, len(shift) - TOP_FEATURES),
        "domain": {
            "auroc": domain.get("auroc"),
            "method": domain.get("method"),
            "reason": domain.get("reason"),
            "features": list(domain.get("top_features") or [])[:TOP_FEATURES],
        },
        "prediction_shift": _map(entry.get("prediction_shift")),
        "recalibration": [
            {"label": label, **_map(recal.get(key))} for key, label in RECALIBRATIONS if recal.get(key)
        ],
        "recalibration_reason": recal.get("reason"),
        "intercept_update": recal.get("intercept_update"),
        "slope": recal.get("slope"),
    }


def build(section: Mapping, figures: Mapping, settings: Mapping, context=None) -> dict:
    meta = section.get("meta_analysis")
    meta = meta if isinstance(meta, Mapping) else None
    pooled = []
    if meta:
        for metric, p in _map(meta.get("pooled")).items():
            p = _map(p)
            pooled.append({"metric": metric, "estimate": p.get("estimate"), "prediction_interval": p.get("prediction_interval"),
                           "tau2": p.get("tau2"), "i2": p.get("i2"), "k": p.get("k"), "scale": p.get("scale")})
    placed = {key: figures[key] for key in ("gaps", "risk", "shift", "sites") if isinstance(figures.get(key), Figure)}
    return {
        "confidence": section.get("confidence", settings.get("confidence")),
        "reference": section.get("reference"),
        "datasets": [_dataset(name, _map(e)) for name, e in _map(section.get("datasets")).items()],
        "meta": {"sites": list(meta.get("sites") or []), "pooled": pooled, "method": meta.get("method")} if meta else None,
        "figures": placed,
        "replaces_table": True,
        "used_figures": list(placed.values()),
    }
