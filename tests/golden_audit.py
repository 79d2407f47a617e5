"""A small binary audit whose results.json is stored (tests/golden/binary_audit.json) so that moving the house
(issue 18, the task seam) is proven not to move a number: generated data, every binary check but robustness,
a site column, a cluster-free cohort, two sensitive attributes, targets and a checklist.

``python tests/golden_audit.py`` rewrites the stored file; do that only when a number is meant to change, and
say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

GOLDEN = Path(__file__).parent / "golden" / "binary_audit.json"
#: Parts of results.json that do not depend on where or with which package versions the audit ran.
PARTS = ("datasets", "sections", "findings", "checklists")


def tables(directory: Path) -> dict[str, Path]:
    rng = np.random.default_rng(2026)
    paths = {}
    for name, n, shift in (("test", 400, 0.0), ("ext", 300, 0.4)):
        x1, x2 = rng.normal(shift, 1, n), rng.normal(0, 1, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(x1 + 0.5 * x2 - 0.5)))).astype(int)
        p = 1 / (1 + np.exp(-(0.9 * x1 + 0.4 * x2 - 0.4)))
        frame = pd.DataFrame({"pid": np.arange(n) + (0 if name == "test" else 10_000), "x1": x1, "x2": x2, "y": y, "p": p,
                              "sex": rng.choice(["F", "M"], n), "band": rng.choice(["<60", ">=60"], n),
                              "site": rng.choice(["A", "B", "C"], n)})
        paths[name] = directory / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def spec(paths: dict[str, Path]) -> dict:
    return {
        "name": "golden binary audit",
        "data": {"test": str(paths["test"]), "external": {"ext": str(paths["ext"])}, "target": "y", "prediction": "p",
                 "sensitive": ["sex", "band"], "id": "pid"},
        "settings": {"seed": 11, "n_resamples": 200, "targets": {"auroc": 0.7, "calibration_slope": [0.8, 1.2]}},
        "checks": ["profile", "performance", "fairness", "calibration", "utility", "uncertainty", "external"],
        "checklists": ["tripod-ai"],
    }


def golden_parts(directory: Path) -> str:
    """The audit's results.json parts in PARTS as JSON text in results.json's own key order (byte for byte),
    with paths made independent of ``directory``."""
    from threadpoolctl import threadpool_limits

    import audit

    with threadpool_limits(1):
        result = audit.run(spec(tables(directory)))
    return json.dumps({part: result.results.get(part) for part in PARTS}).replace(str(directory), "<dir>")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(golden_parts(Path(tmp)) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}", file=sys.stderr)
