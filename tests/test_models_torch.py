"""PyTorch and ONNX adapters: every way of giving the model yields the same P(positive)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from audit.data import load_datasets  # noqa: E402
from audit.errors import AuditInputError  # noqa: E402
from audit.models import load_model, predictions  # noqa: E402
from audit.spec import load_spec  # noqa: E402

ARCHITECTURE = '''
import torch
def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
'''


def two_logit_net(seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))


@pytest.fixture()
def npz(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.random((20, 1, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "test.npz", x=x, y=np.arange(20) % 2)
    return x


def reference(net, x, mean=None, std=None) -> np.ndarray:
    """softmax(logits)[:, 1] computed directly with torch."""
    inputs = torch.from_numpy(x)
    if mean is not None:
        inputs = (inputs - mean) / std
    with torch.no_grad():
        return torch.softmax(net(inputs), dim=1)[:, 1].double().numpy()


def predict(tmp_path, model: dict | None = None, model_object=None) -> np.ndarray:
    raw = {"name": "t", "data": {"test": "test.npz", "target": "y"}}
    if model is not None:
        raw["model"] = model
    spec, _ = load_spec(raw, model_object=model_object is not None)
    ds = load_datasets(spec, tmp_path)["test"]
    return predictions(load_model(spec, tmp_path, model_object), ds, spec)


def test_module_object_gives_softmax_of_the_positive_logit(tmp_path, npz):
    net = two_logit_net()
    assert np.allclose(predict(tmp_path, model_object=net), reference(net, npz), atol=1e-6)


def test_declared_normalisation_is_applied_inside_the_adapter(tmp_path, npz):
    net = two_logit_net()
    got = predict(tmp_path, {"normalize": {"mean": [0.5], "std": [0.25]}}, model_object=net)
    assert np.allclose(got, reference(net, npz, 0.5, 0.25), atol=1e-6)


def test_single_logit_head_is_read_through_the_sigmoid(tmp_path, npz):
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(npz)))[:, 0].double().numpy()
    assert np.allclose(predict(tmp_path, model_object=net), expected, atol=1e-6)


def test_torchscript_file_loads(tmp_path, npz):
    net = two_logit_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(net).save(str(tmp_path / "model.pt"))
    assert np.allclose(predict(tmp_path, {"path": "model.pt"}), reference(net, npz), atol=1e-6)


def test_state_dict_is_loaded_weights_only_into_the_named_architecture(tmp_path, npz, monkeypatch):
    (tmp_path / "arch.py").write_text(ARCHITECTURE)
    net = two_logit_net(seed=5)
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("weights_only")) or real_load(*a, **k))
    got = predict(tmp_path, {"path": "weights.pt", "architecture": "arch.py:build", "trust": True})
    assert calls == [True]
    assert np.allclose(got, reference(net, npz), atol=1e-6)


def test_state_dict_without_architecture_asks_for_it(tmp_path, npz):
    torch.save(two_logit_net().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(AuditInputError, match=r"holds a state dict .*model.architecture"):
        predict(tmp_path, {"path": "weights.pt"})


def test_pickled_whole_module_is_refused_without_trust(tmp_path, npz):
    torch.save(two_logit_net(), tmp_path / "whole.pt")
    with pytest.raises(AuditInputError, match=r"neither TorchScript nor a weights-only file.*trust: true"):
        predict(tmp_path, {"path": "whole.pt"})


@pytest.mark.parametrize("name", ["model.pt", "model.onnx"])
def test_corrupt_model_file_is_an_input_error(tmp_path, npz, name):
    (tmp_path / name).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(AuditInputError, match=rf"model file '{name}' could not be loaded"):
        predict(tmp_path, {"path": name})


def test_onnx_export_gives_the_same_probabilities(tmp_path, npz):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = two_logit_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(npz[:2]),), str(tmp_path / "model.onnx"), dynamo=False,
                          input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "n"}})
    got = predict(tmp_path, {"path": "model.onnx", "batch_size": 7})
    assert np.allclose(got, reference(net, npz), atol=1e-5)


def test_onnx_model_has_no_attack_module(tmp_path, npz):
    pytest.importorskip("onnxruntime")
    net = two_logit_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(npz[:2]),), str(tmp_path / "model.onnx"), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "n"}})
    spec, _ = load_spec({"name": "t", "model": "model.onnx", "data": {"test": "test.npz", "target": "y"}})
    assert not hasattr(load_model(spec, tmp_path), "attack_module")


def test_batched_prediction_matches_one_batch(tmp_path, npz):
    net = two_logit_net()
    small = predict(tmp_path, {"batch_size": 3}, model_object=net)
    assert np.allclose(small, predict(tmp_path, {"batch_size": 1000}, model_object=net), rtol=0, atol=1e-7)
