"""The segmentation example: phantoms generated and a U-Net trained by ``prepare.py``, then audited from the model
with every segmentation check. The audit's numbers are recomputed from the files ``prepare.py`` wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

nib = pytest.importorskip("nibabel")
pytest.importorskip("torchattacks")

from audit.runner import run_loaded  # noqa: E402
from audit.spec import load_spec  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lesion_phantoms"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lesion_phantoms")
    for name in ("audit.yaml", "unet.py"):
        shutil.copy(EXAMPLE / name, folder / name)
    subprocess.run([sys.executable, str(EXAMPLE / "prepare.py"), "--out", str(folder / "data")], check=True,
                   capture_output=True, timeout=600)
    return folder


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_the_example_audit_runs_every_segmentation_check(example):
    spec, base = load_spec(example / "audit.yaml")
    spec = spec.model_copy(update={
        "settings": spec.settings.model_copy(update={"n_resamples": 200}),
        "robustness": spec.robustness.model_copy(update={"perturbations": ["blur", "gaussian_noise"], "severities": [0, 0.1],
                                                         "epsilons": [0, 0.01], "steps": 3}),
    })
    result = run_loaded(spec, base).results
    sections = result["sections"]
    assert {k: sections[k]["status"] for k in ("performance", "calibration", "robustness", "external")}["performance"] == "pass"
    # the audit ran the saved network on the images; its Dice equals numpy's on the label maps prepare.py wrote
    table = pd.read_csv(example / "data" / "internal.csv")
    dice = []
    for mask, pred in zip(table["mask"], table["prediction"]):
        ref = np.asanyarray(nib.load(example / "data" / mask).dataobj) > 0
        out = np.asanyarray(nib.load(example / "data" / pred).dataobj) > 0
        if ref.any() or out.any():
            dice.append(_dice(ref, out))
    whole = sections["performance"]["datasets"]["test"]["structures"]["whole_lesion"]
    assert whole["metrics"]["dice"]["mean"]["value"] == pytest.approx(np.mean(dice), abs=1e-3)
    assert whole["metrics"]["dice"]["mean"]["method"] == "cluster-bootstrap-bca"
    assert len(sections["performance"]["datasets"]["test"]["cases"]) == len(table)
    gap = sections["external"]["datasets"]["site_b"]["gaps"]["dice[whole_lesion]"]["difference"]
    assert gap["value"] < 0  # the shifted site scores lower
    pgd = sections["robustness"]["datasets"]["test"]["attacks"]["dice_pgd"]["points"][0]["structures"]["whole_lesion"]
    assert pgd["dice_change"]["value"] < 0
    assert sections["calibration"]["datasets"]["test"]["structures"]["whole_lesion"]["ece"]["ci"] is not None
