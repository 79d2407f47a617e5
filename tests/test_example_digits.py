"""The digits adversarial example runs end to end through the CLI (reduced: 2 epochs, 120 test images)."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchattacks")

from audit import cli  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_adversarial"


def test_digits_example_audits_a_cnn_with_attacks_corruptions_and_subgroups(tmp_path):
    spec = importlib.util.spec_from_file_location("digits_prepare", EXAMPLE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.prepare(tmp_path, epochs=2, n_test=120)
    assert summary["n_test"] == 120 and summary["test_accuracy"] > 0.6
    out = tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "audit.yaml"), "--out", str(out), "--n-resamples", "50", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    section = results["sections"]["robustness"]
    assert section["status"] in ("pass", "warning")
    assert {"robustness.adversarial", "robustness.perturbation", "robustness.subgroups"} <= set(section["evidence"])
    fgsm = section["adversarial"]["datasets"]["test"]["attacks"]["fgsm"]["points"]
    accuracies = [p["accuracy"]["value"] for p in fgsm]
    assert fgsm[0]["epsilon"] == 0 and accuracies[0] == pytest.approx(section["adversarial"]["datasets"]["test"]["clean"]["accuracy"]["value"])
    assert accuracies[-1] < accuracies[0]
    html = (out / "report.html").read_text()
    assert "Robustness" in html and "clean accuracy, test" in html  # the executive summary's key numbers
