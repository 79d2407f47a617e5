"""Cost of a torchattacks run inside trustaudit against the same torchattacks calls made directly.

Requirement (issue 7): trustaudit's adversarial loop costs at most 1.2x the direct calls. Both
sides attack the same trained CNN on the same images in the same batches and compute the
predictions on the adversarial images (the direct side needs them for robust accuracy too).
Trustaudit's side is ``audit.robustness.attacks.run_attack`` (seeding, the binary head,
perturbation norms, kept examples); the audit's statistics afterwards are not counted.

Run: ``python benchmarks/attacks.py [--n 720] [--repeats 3] [--steps 10]``; prints both times and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torchattacks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "digits_adversarial"))
import prepare as digits  # noqa: E402

from audit.models import TorchAdapter  # noqa: E402
from audit.robustness.attacks import make_attack, run_attack  # noqa: E402


class Normalised(torch.nn.Module):
    def __init__(self, net, mean, std):
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def direct(net, x, y, name, eps, steps, batch):
    model = Normalised(net, MEAN, STD).eval()
    attack = {"fgsm": lambda: torchattacks.FGSM(model, eps=eps),
              "pgd": lambda: torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / steps, steps=steps)}[name]()
    torch.manual_seed(0)
    correct = 0
    for start in range(0, len(x), batch):
        images, labels = torch.from_numpy(x[start:start + batch]), torch.from_numpy(y[start:start + batch])
        adv = attack(images, labels)
        with torch.no_grad():
            correct += int((model(adv).argmax(1) == labels).sum())
    return correct / len(x)


def ours(net, x, y, name, eps, steps, batch):
    adapter = TorchAdapter(net, "bench", mean=(MEAN,), std=(STD,), batch_size=batch)
    module = adapter.attack_module(0.5)
    attack = make_attack(name, module, eps, steps=steps)
    out = run_attack(attack, module, x, y, batch_size=batch, device="cpu", seed=0, keep=6)
    return float(((out.p >= 0.5) == y).mean())


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    x_train, x_test, y_train, y_test, _, _ = digits.data()
    MEAN, STD = float(x_train.mean()), float(x_train.std())
    net = digits.train(x_train, y_train, MEAN, STD, seed=0, epochs=10)
    x, y = x_test[: args.n], y_test[: args.n]
    worst = 0.0
    for name, eps in (("fgsm", 0.05), ("pgd", 0.05)):
        t_direct, acc_direct = timed(lambda: direct(net, x, y, name, eps, args.steps, args.batch), args.repeats)
        t_ours, acc_ours = timed(lambda: ours(net, x, y, name, eps, args.steps, args.batch), args.repeats)
        ratio = t_ours / t_direct
        worst = max(worst, ratio)
        print(f"{name:5s} eps={eps}: direct {t_direct * 1000:8.1f} ms (robust acc {acc_direct:.3f})   "
              f"trustaudit {t_ours * 1000:8.1f} ms (robust acc {acc_ours:.3f})   ratio {ratio:.2f}")
    print(f"worst ratio {worst:.2f} (requirement: <= 1.2)")
