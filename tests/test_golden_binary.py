"""The binary audit's numbers do not move when the house is rearranged (issue 18: "a binary spec gives
byte-identical results.json to before Part 1"; issue 21: "results are otherwise unchanged"): the stored
results of tests/golden_audit.py are compared value for value, exactly, except where a method was
deliberately changed: each such change is listed in ``CHANGED`` with what it is, and its values are
compared with the stored (previous) ones within the stated tolerance."""

from __future__ import annotations

import json
import re

from golden_audit import GOLDEN, golden_parts

#: Deliberate changes since the stored results: (path pattern, relative tolerance, why).
CHANGED = (
    (r"/sections/calibration/datasets/[^/]+/subgroups\[\d+\]/expected_if_calibrated/(ici|ece)",
     1e-12, "issue 21: the 40 simulated lowess fits are matrix products (LowessOperator) and the simulated ECEs bin sums, "
            "summed in another order than one statsmodels lowess and one ECE per simulation"),
    (r"/sections/calibration/datasets/[^/]+/(summaries/(ici|e50|e90|emax)|subgroups\[\d+\]/ici)",
     1e-12, "issue 21: every lowess calibration curve comes from LowessOperator (statsmodels' lowess to 1e-11), the "
            "subgroup's in the same pass as its 40 simulated curves"),
)


def differences(old, new, path: str = "") -> list[tuple[str, object, object]]:
    """Every leaf where ``old`` and ``new`` differ, with its path (``/a/b[3]/c``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        if list(old) != list(new):
            return [(path, list(old), list(new))]
        return [d for k in old for d in differences(old[k], new[k], f"{path}/{k}")]
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [(path, f"{len(old)} items", f"{len(new)} items")]
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if old == new else [(path, old, new)]


def allowed(path: str, old, new) -> bool:
    for pattern, tolerance, _ in CHANGED:
        if re.fullmatch(pattern, path) and isinstance(old, float) and isinstance(new, float):
            return abs(new - old) <= tolerance * max(abs(old), 1e-300)
    return False


def test_the_binary_audit_gives_the_stored_results_but_for_the_stated_changes(tmp_path):
    stored = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = json.loads(golden_parts(tmp_path))
    moved = [d for d in differences(stored, now) if not allowed(*d)]
    assert not moved, f"results.json changed at {len(moved)} places, first {moved[:3]}; state a deliberate change in CHANGED"


def test_a_change_outside_the_stated_ones_is_caught():
    old = {"sections": {"calibration": {"datasets": {"t": {"subgroups": [{"prevalence": {"value": 0.3}, "expected_if_calibrated": {"ici": 0.1, "ece": 0.2}}]}}}}}
    new = json.loads(json.dumps(old))
    new["sections"]["calibration"]["datasets"]["t"]["subgroups"][0]["expected_if_calibrated"]["ici"] = 0.1 * (1 + 1e-14)
    assert all(allowed(*d) for d in differences(old, new))
    new["sections"]["calibration"]["datasets"]["t"]["subgroups"][0]["expected_if_calibrated"]["ici"] = 0.1 * (1 + 1e-9)
    assert not all(allowed(*d) for d in differences(old, new))
    new["sections"]["calibration"]["datasets"]["t"]["subgroups"][0]["expected_if_calibrated"]["ici"] = 0.1
    new["sections"]["calibration"]["datasets"]["t"]["subgroups"][0]["prevalence"]["value"] = 0.3 * (1 + 1e-14)  # not a stated change
    assert [p for p, *rest in differences(old, new) if not allowed(p, *rest)] == ["/sections/calibration/datasets/t/subgroups[0]/prevalence/value"]
