"""Adversarial robustness through torchattacks: same numbers as torchattacks itself, seeded, sane in ε."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchattacks = pytest.importorskip("torchattacks")

from sklearn.metrics import accuracy_score  # noqa: E402

import audit  # noqa: E402

N = 120


def cnn(seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 2)).eval()


def linear(seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 2)).eval()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Images whose label a model can learn from the mean of the left half; sex alternates."""
    rng = np.random.default_rng(11)
    x = rng.random((N, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :, :3].mean(axis=(1, 2)) > 0.5).astype(np.int64)
    folder = tmp_path_factory.mktemp("images")
    np.savez(folder / "test.npz", x=x, y=y, sex=np.where(np.arange(N) % 2 == 0, "F", "M"))
    return folder, x, y


def fit(net, x, y, mean=0.0, std=1.0, epochs=150):
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05)
    inputs, labels = (torch.from_numpy(x) - mean) / std, torch.from_numpy(y)
    for _ in range(epochs):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        optimiser.step()
    return net.eval()


def spec(folder, robustness: dict, model: dict | None = None) -> dict:
    raw = {"name": "adv", "data": {"test": str(folder / "test.npz"), "target": "y", "sensitive": ["sex"]},
           "settings": {"seed": 5, "n_resamples": 50, "min_group_size": 20}, "checks": ["robustness"],
           "robustness": {"perturbations": ["gaussian_noise"], "severities": [0, 0.2], **robustness}}
    if model is not None:
        raw["model"] = model
    return raw


def adversarial(result) -> dict:
    return result.sections["robustness"]["adversarial"]["datasets"]["test"]


@pytest.mark.parametrize("normalised", [False, True])
def test_fgsm_robust_accuracy_equals_torchattacks_called_directly(images, normalised):
    folder, x, y = images
    mean, std = (0.5, 0.3) if normalised else (0.0, 1.0)
    net = fit(cnn(), x, y, mean, std)
    epsilons = [0.0, 0.02, 0.05, 0.1]
    model = {"normalize": {"mean": [mean], "std": [std]}} if normalised else None
    result = audit.run(spec(folder, {"attacks": ["fgsm"], "epsilons": epsilons}, model), model=net)
    ours = [p["accuracy"]["value"] for p in adversarial(result)["attacks"]["fgsm"]["points"]]

    direct = []
    for eps in epsilons:
        attack = torchattacks.FGSM(net, eps=eps)
        if normalised:  # torchattacks then takes and returns normalised inputs, attacking in [0, 1] inside
            attack.set_normalization_used(mean=[mean], std=[std])
        adv = attack((torch.from_numpy(x) - mean) / std, torch.from_numpy(y))
        with torch.no_grad():
            logits = net(adv)
        direct.append(float((logits.argmax(1).numpy() == y).mean()))
    assert ours == pytest.approx(direct, abs=0)
    assert direct[-1] < direct[0]  # the attack does something


def test_epsilon_zero_gives_clean_accuracy(images):
    folder, x, y = images
    net = fit(cnn(1), x, y)
    result = audit.run(spec(folder, {"attacks": ["fgsm", "pgd", "pgdl2"], "epsilons": [0, 0.05],
                                     "l2_epsilons": [0, 0.5], "steps": 3}), model=net)
    with torch.no_grad():
        p = torch.softmax(net(torch.from_numpy(x)), 1)[:, 1].numpy()
    clean = accuracy_score(y, p >= 0.5)
    data = adversarial(result)
    assert data["clean"]["accuracy"]["value"] == pytest.approx(clean)
    for attack in data["attacks"].values():
        zero = attack["points"][0]
        assert zero["epsilon"] == 0
        assert zero["accuracy"]["value"] == pytest.approx(clean)
        assert zero["flip_rate"]["value"] == 0


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_larger_epsilon_never_increases_robust_accuracy(images, attack):
    """For a linear model the L∞ worst case moves every input along -sign(w)·(2y-1): accuracy falls monotonically."""
    folder, x, y = images
    net = fit(linear(), x, y)
    epsilons = [0, 0.01, 0.02, 0.04, 0.08, 0.16]
    result = audit.run(spec(folder, {"attacks": [attack], "epsilons": epsilons, "steps": 5}), model=net)
    accuracy = [p["accuracy"]["value"] for p in adversarial(result)["attacks"][attack]["points"]]
    assert all(b <= a for a, b in zip(accuracy, accuracy[1:])), accuracy
    assert accuracy[-1] < accuracy[0]


def test_larger_epsilon_lowers_pgd_accuracy_on_average_for_a_cnn(images):
    folder, x, y = images
    net = fit(cnn(2), x, y)
    epsilons = [0, 0.02, 0.05, 0.1, 0.2]
    points = adversarial(audit.run(spec(folder, {"attacks": ["pgd"], "epsilons": epsilons, "steps": 5}), model=net))["attacks"]["pgd"]["points"]
    accuracy = np.array([p["accuracy"]["value"] for p in points])
    assert np.all(np.diff(accuracy) <= 1 / N)  # at most one image of random-start noise between neighbours
    assert np.corrcoef(epsilons, accuracy)[0, 1] < -0.8


def test_attacks_are_seeded_and_reproducible(images):
    folder, x, y = images
    net = fit(cnn(3), x, y)
    raw = spec(folder, {"attacks": ["pgd", "pgdl2"], "epsilons": [0.05], "l2_epsilons": [0.5], "steps": 3})
    first = json.dumps(audit.run(raw, model=net).sections["robustness"], sort_keys=True)
    torch.manual_seed(12345)  # the caller's random state must not matter
    assert json.dumps(audit.run(raw, model=net).sections["robustness"], sort_keys=True) == first


def test_success_rate_subgroups_and_evidence(images):
    folder, x, y = images
    net = fit(cnn(4), x, y)
    result = audit.run(spec(folder, {"attacks": ["fgsm"], "epsilons": [0, 0.1]}), model=net)
    section = result.sections["robustness"]
    assert section["evidence"] == {"robustness.adversarial": "shown", "robustness.perturbation": "shown", "robustness.subgroups": "shown"}
    point = adversarial(result)["attacks"]["fgsm"]["points"][1]
    clean_acc = adversarial(result)["clean"]["accuracy"]["value"]
    # every decision that became wrong was right before (an untargeted attack never repairs one here)
    assert point["accuracy"]["value"] == pytest.approx(clean_acc * (1 - point["success_rate"]["value"]))
    groups = section["subgroups"]["datasets"]["test"]["partitions"][0]["groups"]
    overall_wrong = sum(g["n"] * (1 - g["adversarial"]["fgsm"][1]["accuracy"]["value"]) for g in groups)
    assert overall_wrong == pytest.approx(N * (1 - point["accuracy"]["value"]))
    assert "examples_test" in result.figures["robustness"] and "adversarial_test" in result.figures["robustness"]


def test_cw_runs_long_enough_to_change_every_decision_of_a_small_cnn(images):
    """A minimal-perturbation attack that stops early reports robustness the model does not have."""
    folder, x, y = images
    net = fit(cnn(2), x, y)
    data = adversarial(audit.run(spec(folder, {"attacks": ["cw"], "steps": 10}), model=net))
    point = data["attacks"]["cw"]["points"][0]
    assert data["clean"]["accuracy"]["value"] > 0.9
    assert point["accuracy"]["value"] == 0 and point["flip_rate"]["value"] > 0.9
    adv = torchattacks.CW(net, c=1.0, kappa=0, steps=10, lr=0.01)(torch.from_numpy(x), torch.from_numpy(y))
    with torch.no_grad():  # what 10 steps alone would have said
        early = accuracy_score(y, net(adv).argmax(1).numpy())
    assert early > 0.5


def test_cw_reports_the_size_of_minimal_perturbations(images):
    folder, x, y = images
    net = fit(cnn(5), x, y)
    data = adversarial(audit.run(spec(folder, {"attacks": ["cw"], "steps": 20, "cw_lr": 0.05}), model=net))
    point = data["attacks"]["cw"]["points"][0]
    assert point["epsilon"] is None and point["success_rate"]["value"] > 0
    assert point["median_l2"] > 0


def test_inputs_outside_the_unit_interval_skip_attacks_with_the_reason(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 1, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "test.npz", x=x, y=np.arange(40) % 2, sex=np.array(["F", "M"] * 20))
    result = audit.run(spec(tmp_path, {"attacks": ["fgsm"]}), model=cnn())
    assert "not in [0, 1]" in adversarial(result)["reason"]
    assert "robustness.adversarial" not in result.sections["robustness"]["evidence"]


def exact_linf_robust_accuracy(net, x: np.ndarray, y: np.ndarray, eps: float) -> float:
    """The true worst case for a linear two-logit model in the [0, 1] box, by hand.

    The decision is the sign of the logit gap w·x + b. The adversary pushes every pixel by up to ε
    against the true class, as far as the box allows: the margin falls by Σ |w_j| · room_j, where
    room_j = min(ε, x_j) when the pixel must go down and min(ε, 1 − x_j) when it must go up.
    """
    layer = net[1]
    w = (layer.weight[1] - layer.weight[0]).detach().double().numpy()
    b = float((layer.bias[1] - layer.bias[0]).detach())
    flat = x.reshape(len(x), -1).astype(np.float64)
    sign = np.where(y == 1, 1.0, -1.0)[:, None]  # +1: the adversary lowers the gap, -1: raises it
    down = (sign * w) > 0
    room = np.where(down, np.minimum(eps, flat), np.minimum(eps, 1.0 - flat))
    worst_gap = flat @ w + b - sign[:, 0] * (np.abs(w) * room).sum(axis=1)
    return float(np.mean(np.where(y == 1, worst_gap >= 0, worst_gap < 0)))


def test_autoattack_reaches_the_exact_worst_case_of_a_linear_model(images):
    folder, x, y = images
    net = fit(linear(4), x, y)
    epsilons = [0, 0.02, 0.05]
    raw = spec(folder, {"attacks": ["autoattack", "pgd"], "epsilons": epsilons, "square_queries": 100})
    result = audit.run(raw, model=net)
    attacks = adversarial(result)["attacks"]
    assert attacks["autoattack"]["label"].startswith("AutoAttack")
    exact = [exact_linf_robust_accuracy(net, x, y, eps) for eps in epsilons]
    ours = [p["accuracy"]["value"] for p in attacks["autoattack"]["points"]]
    assert ours == pytest.approx(exact, abs=1 / N)  # no weaker than the optimum (and it cannot be stronger)
    assert exact[-1] < exact[0]
    pgd = [p["accuracy"]["value"] for p in attacks["pgd"]["points"]]
    assert all(a <= p + 1e-12 for a, p in zip(ours, pgd))  # at least as strong as PGD at every budget
    torch.manual_seed(987)  # seeded: the caller's random state does not change the answer
    again = adversarial(audit.run(raw, model=net))["attacks"]["autoattack"]
    assert json.dumps(again, sort_keys=True) == json.dumps(attacks["autoattack"], sort_keys=True)
