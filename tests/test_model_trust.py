"""Code runs only when trusted: model.architecture needs trust: true (refused before any import), and a sys.exit
in the user's code (architecture, predict_proba, forward, an unpickled object) ends in one plain error, never a
silent exit."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from audit.cli import main
from audit.data import load_datasets
from audit.errors import AuditInputError
from audit.models import load_model, predictions
from audit.spec import load_spec

EVIL = """
from pathlib import Path
Path(__file__).with_name("imported.marker").write_text("this file was imported")

def build():
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
"""


def write_npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "test.npz", x=rng.random((20, 1, 2, 2)).astype(np.float32), y=np.arange(20) % 2)


def write_spec(tmp_path, model: dict) -> str:
    spec = {"name": "trust", "model": model, "data": {"test": "test.npz", "target": "y"}, "checks": ["performance"],
            "settings": {"n_resamples": 50}}
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def spec_for(model: dict, **data):
    spec, _ = load_spec({"name": "trust", "model": model, "data": {"test": "test.npz", "target": "y", **data}})
    return spec


def test_an_architecture_file_without_trust_is_refused_before_it_is_imported(tmp_path, capsys):
    (tmp_path / "evil.py").write_text(EVIL)
    write_npz(tmp_path)
    out = tmp_path / "out"
    code = main(["run", write_spec(tmp_path, {"path": "weights.pt", "architecture": "evil.py:build"}), "--out", str(out), "-q"])
    assert code == 2
    assert not (tmp_path / "imported.marker").exists()
    assert not out.exists()
    message = capsys.readouterr().err.strip()
    assert message == (
        "trustaudit: error: model.architecture 'evil.py:build' is Python code that would be imported and run to build "
        "the network, and code runs only with your consent; if it comes from a trusted source, add trust: true to the "
        "model block (model: {path: weights.pt, architecture: 'evil.py:build', trust: true})."
    )


def test_a_module_architecture_without_trust_is_refused_before_it_is_imported(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "evil_module.py").write_text(EVIL)
    with pytest.raises(AuditInputError, match=r"model\.architecture 'evil_module:build' is Python code .* add trust: true"):
        load_model(spec_for({"path": "weights.pt", "architecture": "evil_module:build"}), tmp_path)
    assert "evil_module" not in sys.modules
    assert not (tmp_path / "imported.marker").exists()


def test_an_architecture_file_with_trust_runs(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "evil.py").write_text(EVIL)
    write_npz(tmp_path)
    torch.manual_seed(1)
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).state_dict(), tmp_path / "weights.pt")
    spec = spec_for({"path": "weights.pt", "architecture": "evil.py:build", "trust": True})
    adapter = load_model(spec, tmp_path)
    assert (tmp_path / "imported.marker").exists()
    scores = predictions(adapter, load_datasets(spec, tmp_path)["test"], spec)
    assert scores.shape == (20,) and ((scores >= 0) & (scores <= 1)).all()


def test_a_trusted_sys_exit_architecture_ends_in_a_plain_error_not_exit_0(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    write_npz(tmp_path)
    torch.save({"weight": torch.zeros(2, 4)}, tmp_path / "weights.pt")
    out = tmp_path / "out"
    spec = write_spec(tmp_path, {"path": "weights.pt", "architecture": "sys:exit", "trust": True})
    assert main(["run", spec, "--out", str(out), "-q"]) == 2
    assert not out.exists()
    assert capsys.readouterr().err.strip() == (
        "trustaudit: error: model.architecture 'sys:exit' called sys.exit(), which would have ended trustaudit "
        "without a report; change the code to raise an exception or return instead."
    )


class Exits:
    """A model whose predict_proba ends the program."""

    def predict_proba(self, frame):
        sys.exit(np.int64(3))


class Interrupted:
    def predict_proba(self, frame):
        raise KeyboardInterrupt


class Quits(BaseException):
    """A user's own BaseException, not an Exception."""


class RaisesBase:
    def predict_proba(self, frame):
        raise Quits("bye")


def table_dataset(tmp_path, model_object):
    pd.DataFrame({"a": [0.1, 0.4, 0.7, 0.9], "y": [0, 1, 0, 1]}).to_csv(tmp_path / "test.csv", index=False)
    spec, _ = load_spec({"name": "t", "data": {"test": "test.csv", "target": "y"}}, model_object=True)
    adapter = load_model(spec, tmp_path, model_object)
    return adapter, load_datasets(spec, tmp_path)["test"], spec


def test_sys_exit_in_predict_proba_is_a_plain_error_naming_it(tmp_path):
    adapter, dataset, spec = table_dataset(tmp_path, Exits())
    with pytest.raises(AuditInputError) as caught:
        predictions(adapter, dataset, spec)
    assert str(caught.value) == (
        "dataset 'test' (test.csv): the model's predict_proba called sys.exit(3), which would have ended trustaudit "
        "without a report; change the code to raise an exception or return instead."
    )


def test_another_base_exception_in_predict_proba_is_a_plain_error(tmp_path):
    adapter, dataset, spec = table_dataset(tmp_path, RaisesBase())
    with pytest.raises(AuditInputError, match=r"the model's predict_proba raised Quits \(bye\), which is not an ordinary error"):
        predictions(adapter, dataset, spec)


def test_ctrl_c_in_predict_proba_still_interrupts(tmp_path):
    adapter, dataset, spec = table_dataset(tmp_path, Interrupted())
    with pytest.raises(KeyboardInterrupt):
        predictions(adapter, dataset, spec)


class ExitOnUnpickle:
    def __reduce__(self):
        return (sys.exit, (4,))


def test_sys_exit_while_unpickling_a_trusted_pickle_is_a_plain_error(tmp_path):
    import joblib

    joblib.dump(ExitOnUnpickle(), tmp_path / "model.pkl")
    spec, _ = load_spec({"name": "t", "model": {"path": "model.pkl", "trust": True}, "data": {"test": "t.csv", "target": "y"}})
    with pytest.raises(AuditInputError, match=r"^unpickling model file 'model\.pkl' called sys\.exit\(4\), which would"):
        load_model(spec, tmp_path)


def test_sys_exit_in_a_torch_forward_is_a_plain_error(tmp_path):
    torch = pytest.importorskip("torch")

    class ExitingNet(torch.nn.Module):
        def forward(self, x):
            sys.exit("stop")

    write_npz(tmp_path)
    spec, _ = load_spec({"name": "t", "data": {"test": "test.npz", "target": "y"}}, model_object=True)
    adapter = load_model(spec, tmp_path, ExitingNet())
    with pytest.raises(AuditInputError, match=r"^dataset 'test' \(test\.npz\): the model's forward called sys\.exit\('stop'\)"):
        predictions(adapter, load_datasets(spec, tmp_path)["test"], spec)
