"""The 10-class digits example runs end to end through the CLI (reduced: 3 epochs, 50 resamples): a K-class
TorchScript model from an .npz file, its per-class metrics, and attacks on the 10-class model itself."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchattacks")

from audit import cli  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_multiclass"


def test_ten_class_digits_example_audits_every_class_and_attacks_the_ten_class_model(tmp_path):
    spec = importlib.util.spec_from_file_location("digits10_prepare", EXAMPLE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.prepare(tmp_path, epochs=3)
    assert summary["test_accuracy"] > 0.7
    out = tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "audit.yaml"), "--out", str(out), "--n-resamples", "50", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    performance = results["sections"]["performance"]["datasets"]["test"]
    assert set(performance["per_class"]) == {str(d) for d in range(10)}
    assert performance["metrics"]["accuracy"]["value"] == pytest.approx(summary["test_accuracy"])
    attacks = results["sections"]["robustness"]["adversarial"]["datasets"]["test"]["attacks"]["pgd"]["points"]
    assert attacks[0]["epsilon"] == 0 and attacks[-1]["accuracy"]["value"] < attacks[0]["accuracy"]["value"]
    assert "Confusion matrix" in (out / "report.html").read_text()
