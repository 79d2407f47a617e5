"""The binary audit's numbers do not move when the house is rearranged (issue 18: "a binary spec gives
byte-identical results.json to before Part 1"): the stored results of tests/golden_audit.py are compared
value for value, exactly."""

from __future__ import annotations

import json

from golden_audit import GOLDEN, golden_parts


def test_the_binary_audit_gives_exactly_the_stored_results(tmp_path):
    stored = GOLDEN.read_text(encoding="utf-8").rstrip("\n")
    now = golden_parts(tmp_path)
    if now != stored:  # name the part that moved, then fail on the bytes
        old, new = json.loads(stored), json.loads(now)
        moved = [part for part in old if old[part] != new.get(part)] or ["key order only"]
        raise AssertionError(f"results.json changed in {moved}; if a number is meant to change, rerun tests/golden_audit.py and say why")
