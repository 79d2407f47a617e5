"""Prepare the digits adversarial-robustness example: a small CNN, its test images and audit.yaml.

scikit-learn ships 1,797 grey 8×8 images of handwritten digits (``sklearn.datasets.load_digits``,
UCI optdigits; pixel values 0-16). They stand in for a medical image set here: the binary task is
*the digit is 5 or higher* (about half the images), and the stand-in sensitive attribute is the
image's **ink** band (the tercile of total stroke intensity: light / medium / heavy), playing the
part of an acquisition difference such as a scanner or dose.

Writes into ``out_dir``:

- ``model.pt``     the CNN as TorchScript (loaded with ``torch.jit.load``; no pickle)
- ``test.npz``     arrays ``x`` (N×1×8×8 in [0, 1]), ``y`` (0/1) and ``ink`` (band label)
- ``audit.yaml``   the audit, with the normalisation the CNN was trained with

Training takes a few seconds on a CPU; nothing is downloaded.

Run: ``python examples/digits_adversarial/prepare.py [--out-dir DIR] [--seed N] [--epochs E]``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = 1797
TEST_SIZE = 0.4
INK_BANDS = np.array(["light", "medium", "heavy"])


def network(outputs: int = 2) -> nn.Module:
    """Two 3×3 convolutions, a 2×2 max-pool and a linear layer with ``outputs`` class logits (two here)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, outputs),
    )


def data(seed: int = DEFAULT_SEED):
    """Images in [0, 1] (N×1×8×8), labels (digit ≥ 5) and ink bands, split 60/40 stratified by label."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = (digits.target >= 5).astype(np.int64)
    ink = x.reshape(len(x), -1).sum(axis=1)
    bands = INK_BANDS[np.searchsorted(np.quantile(ink, [1 / 3, 2 / 3]), ink, side="right")]
    return train_test_split(x, y, bands, test_size=TEST_SIZE, random_state=seed, stratify=y)


def train(x: np.ndarray, y: np.ndarray, mean: float, std: float, seed: int, epochs: int, outputs: int = 2) -> nn.Module:
    """Adam, mini-batches of 64, cross-entropy on normalised inputs ``(x - mean) / std``; ``outputs`` class logits
    (the 10-class example, ``examples/digits_multiclass``, trains the same network with 10)."""
    torch.manual_seed(seed)
    model = network(outputs)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs = (torch.from_numpy(x) - mean) / std
    labels = torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs[rows]), labels[rows])
            loss.backward()
            optimiser.step()
    return model.eval()


SPEC = """\
# Digits as a stand-in imaging audit. Create the model and data first:
#   python examples/digits_adversarial/prepare.py
# then run:
#   trustaudit run examples/digits_adversarial/audit.yaml --out /tmp/digits-out
name: "Digits CNN (stand-in for a medical image classifier): digit 5 or higher"
description: >-
  A small convolutional network on scikit-learn's 8x8 handwritten digits, audited for robustness to
  adversarial attacks and to image corruptions (noise, blur, contrast, gamma, bias field, resolution
  loss, JPEG). The ink band (light, medium, heavy strokes) stands in for an acquisition difference.
intended_use: Demonstration of trustaudit's robustness check; not a clinical model.
model:
  path: model.pt
  normalize: {{mean: [{mean:.6f}], std: [{std:.6f}]}}   # what the CNN was trained on; attacks work in [0, 1]
data:
  test: test.npz
  target: y
  sensitive: [ink]
settings:
  seed: {seed}
  n_resamples: 500
  threshold: 0.5
  min_group_size: 30
checks: [performance, fairness, robustness]
robustness:
  attacks: [fgsm, pgd, pgdl2, cw]
  epsilons: [0, 0.02, 0.05, 0.1, 0.2]
  l2_epsilons: [0, 0.25, 0.5, 1.0]
  steps: 10
  severities: [0, 0.25, 0.5, 0.75]
report: [html]
"""


def prepare(out_dir: Path = HERE, seed: int = DEFAULT_SEED, epochs: int = 15, n_test: int | None = None) -> dict:
    """Train the CNN and write model.pt, test.npz and audit.yaml into ``out_dir``; return a summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test, _, ink_test = data(seed)
    if n_test is not None:
        x_test, y_test, ink_test = x_test[:n_test], y_test[:n_test], ink_test[:n_test]
    mean, std = float(x_train.mean()), float(x_train.std())
    model = train(x_train, y_train, mean, std, seed, epochs)
    with warnings.catch_warnings():  # torch 2.x marks TorchScript deprecated; it is still the portable format
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(model).save(str(out_dir / "model.pt"))
    np.savez(out_dir / "test.npz", x=x_test, y=y_test, ink=ink_test.astype(str))
    (out_dir / "audit.yaml").write_text(SPEC.format(mean=mean, std=std, seed=seed), encoding="utf-8")
    with torch.no_grad():
        logits = model((torch.from_numpy(x_test) - mean) / std)
    accuracy = float((logits.argmax(1).numpy() == y_test).mean())
    return {"n_train": int(len(y_train)), "n_test": int(len(y_test)), "mean": mean, "std": std, "test_accuracy": accuracy}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    summary = prepare(args.out_dir, args.seed, args.epochs)
    print(f"trained on {summary['n_train']} images; test accuracy {summary['test_accuracy']:.3f} on {summary['n_test']}")
    print(f"wrote model.pt, test.npz and audit.yaml to {args.out_dir}")


if __name__ == "__main__":
    main()
