"""The binary audit's numbers do not move when the house is rearranged (issue 18: "a binary spec gives
byte-identical results.json to before Part 1"): the stored results of tests/golden_audit.py are compared
value for value, exactly."""

from __future__ import annotations

import json

from golden_audit import GOLDEN, golden_parts


def test_the_binary_audit_gives_exactly_the_stored_results(tmp_path):
    stored = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = golden_parts(tmp_path)
    for part in stored:
        assert now[part] == stored[part], f"results.json's {part} changed; if a number is meant to change, rerun tests/golden_audit.py and say why"
