"""The performance section's view: nothing beyond the generic metrics table for a binary audit; for a multiclass
audit, the notes on how to read its metrics, each dataset's per-class one-vs-rest table and the cumulative
splits of ordered grades. Lookups and ordering only."""

from __future__ import annotations

from collections.abc import Mapping

TEMPLATE = "_performance.html.j2"
PER_CLASS_COLUMNS = ("auroc", "sensitivity", "specificity", "ppv", "npv")


def build(section: Mapping, figures: Mapping, settings: Mapping, context=None) -> dict:
    if section.get("task") == "multilabel":
        columns = list(section.get("label_metrics") or [])
        return {"multiclass": False, "multilabel": True, "survival": False, "segmentation": False, "confidence": section.get("confidence"), "columns": columns,
                "no_finding": section.get("no_finding"),
                "per_label": [{"dataset": name, "rows": [{"label": label, "threshold": cell.get("threshold"), "n_events": cell.get("n_events"),
                                                           "cells": [cell.get(m) for m in columns]}
                                                          for label, cell in (d.get("labels") or {}).items()]}
                              for name, d in (section.get("datasets") or {}).items()]}
    if section.get("task") == "survival":
        return survival_view(section)
    if section.get("task") == "segmentation":
        return segmentation_view(section)
    if section.get("task") != "multiclass":
        return {"multiclass": False, "multilabel": False, "survival": False, "segmentation": False}
    datasets = section.get("datasets") or {}
    return {
        "multiclass": True,
        "multilabel": False,
        "survival": False,
        "segmentation": False,
        "confidence": section.get("confidence"),
        "decision": section.get("decision"),
        "notes": list(section.get("notes") or []),
        "columns": list(PER_CLASS_COLUMNS),
        "per_class": [
            {"dataset": name, "present": d.get("classes_present") or [],
             "rows": [{"class": label, "n": cell.get("n"), "cells": [cell.get(m) for m in PER_CLASS_COLUMNS]}
                      for label, cell in (d.get("per_class") or {}).items()]}
            for name, d in datasets.items()
        ],
        "cumulative": {
            "datasets": list(datasets),
            "rows": [{"split": split, "cells": [(datasets[n].get("cumulative") or {}).get(split) for n in datasets]}
                     for split in next((d.get("cumulative") for d in datasets.values() if d.get("cumulative")), {})],
        },
    }


def survival_view(section: Mapping) -> dict:
    """The conventions, and per horizon a metrics × datasets table and each dataset's follow-up there."""
    datasets = section.get("datasets") or {}
    names = list(datasets)
    metrics = list(section.get("horizon_metrics") or [])
    horizons = []
    for h in section.get("horizons") or []:
        rows = [{"metric": m, "cells": [((datasets[n].get("horizons") or {}).get(h) or {}).get(m) for n in names]} for m in metrics]
        follow = []
        for n in names:
            f = (datasets[n].get("follow_up") or {}).get(h) or {}
            follow.append({"dataset": n, "at_risk": f.get("at_risk"), "events": f.get("events"),
                           "censoring_survival": f.get("censoring_survival"), "reason": f.get("reason")})
        horizons.append({"horizon": h, "rows": rows, "follow_up": follow})
    return {"multiclass": False, "multilabel": False, "survival": True, "segmentation": False, "confidence": section.get("confidence"),
            "time_unit": section.get("time_unit") or "", "threshold": section.get("threshold"),
            "conventions": list(section.get("conventions") or []), "datasets": names, "horizons": horizons}


def segmentation_view(section: Mapping) -> dict:
    """The conventions, and per structure a table of each metric's mean, median and mean over detected cases by
    dataset, the detection and lesion rows, the case counts and the worst cases."""
    datasets = section.get("datasets") or {}
    names = list(datasets)
    structures = []
    for s in next(iter(datasets.values()), {}).get("structures") or {}:
        per = [(datasets[n].get("structures") or {}).get(s) or {} for n in names]
        rows = [{"metric": m, "cells": [((p.get("metrics") or {}).get(m) or {}) for p in per]} for m in section.get("metrics") or []]
        extra = [{"metric": k, "cells": [p.get(k) for p in per]} for k in ("detection_rate", "lesion_sensitivity", "false_positive_lesions")]
        structures.append({"name": s, "rows": rows, "extra": extra,
                           "counts": [p.get("counts") or {} for p in per],
                           "worst": [{"dataset": n, "cases": p.get("worst_cases") or []} for n, p in zip(names, per)]})
    return {"multiclass": False, "multilabel": False, "survival": False, "segmentation": True,
            "confidence": section.get("confidence"), "conventions": list(section.get("conventions") or []),
            "datasets": names, "structures": structures}
