"""The executive summary's key numbers: one line per check, looked up in results.json.

Lookups only — each function picks the estimates a reader needs first from a section that the
check already computed (the internal test set first, then each external dataset). A check
without an entry here shows its status and findings only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from audit.labels import perturbation_label

#: How many findings the executive summary lists (errors first, then warnings).
TOP_FINDINGS = 5
#: Perturbation kinds named in the robustness line (those that change most decisions).
MAX_PERTURBATIONS = 3


def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _item(label: str, estimate: Any, pct: bool = False, digits: int = 3) -> dict | None:
    if isinstance(estimate, Mapping) and estimate.get("value") is not None:
        return {"label": label, "estimate": estimate, "pct": pct, "digits": digits, "text": None}
    return None


def _text(label: str, text: str) -> dict:
    return {"label": label, "estimate": None, "pct": False, "digits": 3, "text": text}


def _datasets(section: Mapping) -> Mapping:
    return _map(section.get("datasets"))


def performance(section: Mapping, results: Mapping) -> list[dict]:
    if section.get("task") == "multiclass":
        return [item for name, d in _datasets(section).items() for item in (
            _item(f"Hand–Till AUROC, {name}", _map(d.get("metrics")).get("auroc_hand_till")),
            _item(f"balanced accuracy, {name}", _map(d.get("metrics")).get("balanced_accuracy")))]
    return [_item(f"AUROC, {name}", _map(d.get("metrics")).get("auroc")) for name, d in _datasets(section).items()]


def calibration(section: Mapping, results: Mapping) -> list[dict]:
    out = []
    for name, d in _datasets(section).items():
        metrics = _map(d.get("metrics"))
        out += [_item(f"intercept, {name}", metrics.get("calibration_intercept"), digits=2),
                _item(f"slope, {name}", metrics.get("calibration_slope"), digits=2)]
    return out


def fairness(section: Mapping, results: Mapping) -> list[dict]:
    out = []
    for name, d in _datasets(section).items():
        for p in _map(d).get("partitions") or []:
            p = _map(p)
            if p.get("kind") == "attribute":
                eod = _map(p.get("disparities")).get("equalized_odds_difference")
                out.append(_item(f"equalised-odds difference by {p.get('name')}, {name}", eod))
        break  # the internal test set; other datasets are in the section
    return out


def utility(section: Mapping, results: Mapping) -> list[dict]:
    """Net benefit against both comparators at the spec's threshold (the verdict's criterion)."""
    out = []
    threshold = section.get("threshold")
    for name, d in _datasets(section).items():
        d = _map(d)
        ts = d.get("thresholds") or []
        if threshold is None or not ts:
            continue
        j = min(range(len(ts)), key=lambda k: abs(ts[k] - threshold))
        if abs(ts[j] - threshold) > 1e-9:
            continue
        out += [_item(f"net benefit − treat-all at {threshold:g}, {name}", (d.get("model_minus_treat_all") or [None] * len(ts))[j]),
                _item(f"net benefit − treat-none at {threshold:g}, {name}", (d.get("model") or [None] * len(ts))[j])]
    return out


def uncertainty(section: Mapping, results: Mapping) -> list[dict]:
    out = []
    for name, d in _datasets(section).items():
        for level in _map(d).get("levels") or []:
            level = _map(level)
            target = level.get("target")
            label = f"coverage at target {target:.0%}, {name}" if isinstance(target, (int, float)) else f"coverage, {name}"
            out.append(_item(label, _map(level.get("overall")).get("coverage"), pct=True, digits=1))
            break
    return out


def external(section: Mapping, results: Mapping) -> list[dict]:
    out = []
    for name, d in _datasets(section).items():
        gaps = _map(_map(d).get("gaps"))
        out.append(_item(f"AUROC change, {name} − internal", _map(gaps.get("auroc")).get("difference")))
        out.append(_item(f"calibration intercept change, {name}", _map(gaps.get("calibration_intercept")).get("difference"), digits=2))
    return out


def profile(section: Mapping, results: Mapping) -> list[dict]:
    out = []
    for name, d in _datasets(section).items():
        d = _map(d)
        if d.get("n") is not None:
            out.append(_text(name, f"n = {d['n']:,}, {d.get('n_events', 0):,} events"))
    return out


def robustness(section: Mapping, results: Mapping) -> list[dict]:
    """Clean accuracy, then accuracy at the largest budget of each attack and the worst-kept perturbation's strongest severity."""
    out = []
    adversarial = _map(_map(section.get("adversarial")).get("datasets"))
    perturbation = _map(_map(section.get("perturbation")).get("datasets"))
    for name in dict.fromkeys(list(adversarial) + list(perturbation)):
        adv, pert = _map(adversarial.get(name)), _map(perturbation.get(name))
        clean = _map(adv.get("clean")) or _map(pert.get("clean"))
        out.append(_item(f"clean accuracy, {name}", clean.get("accuracy"), pct=True, digits=1))
        for attack in _map(adv.get("attacks")).values():
            points = [pt for pt in _map(attack).get("points") or [] if _map(pt).get("epsilon") is not None]
            if points:
                last = _map(points[-1])
                out.append(_item(f"{_map(attack).get('label')} accuracy at ε = {last['epsilon']:g}, {name}", last.get("accuracy"), pct=True, digits=1))
        strongest = []
        for kind, entry in _map(pert.get("kinds")).items():
            points = _map(entry).get("points") or []
            if points:
                last = _map(points[-1])
                flips = _map(last.get("flip_rate"))
                strongest.append((-(flips.get("value") or 0.0), kind, last))
        for _, kind, last in sorted(strongest)[:MAX_PERTURBATIONS]:  # the perturbations that flip most decisions
            out.append(_item(f"{perturbation_label(kind)} at severity {last.get('severity', 0):g}: flip rate, {name}", last.get("flip_rate"), pct=True, digits=1))
    return out


KEY_NUMBERS: dict[str, Callable[[Mapping, Mapping], list]] = {
    "profile": profile,
    "performance": performance,
    "fairness": fairness,
    "calibration": calibration,
    "utility": utility,
    "uncertainty": uncertainty,
    "external": external,
    "robustness": robustness,
}


def key_numbers(name: str, section: Mapping, results: Mapping) -> list[dict]:
    """The key estimates of one section, for its line of the executive summary."""
    if str(section.get("status")) == "not run" or name not in KEY_NUMBERS:
        return []
    return [item for item in KEY_NUMBERS[name](section, results) if item is not None]
