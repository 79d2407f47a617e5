"""Prepare the 10-class digits example: the digits CNN choosing among all ten digits (a multiclass imaging audit).

The same stand-in for a medical image set as ``examples/digits_adversarial`` (scikit-learn's 1,797 grey 8×8
handwritten digits; the **ink** band stands in for an acquisition difference), with the same network and
training, but ten outputs: the model says which digit it sees, as a skin-lesion model says which of seven
lesion types. Writes into ``out_dir``:

- ``model.pt``     the CNN as TorchScript (loaded with ``torch.jit.load``; no pickle), 10 logits
- ``test.npz``     arrays ``x`` (N×1×8×8 in [0, 1]), ``y`` (the digit, 0-9) and ``ink`` (band label)
- ``audit.yaml``   the audit, with the normalisation the CNN was trained with

Run: ``python examples/digits_multiclass/prepare.py [--out-dir DIR] [--seed N] [--epochs E]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
_BINARY = importlib.util.spec_from_file_location("digits_binary_prepare", HERE.parent / "digits_adversarial" / "prepare.py")
binary = importlib.util.module_from_spec(_BINARY)
_BINARY.loader.exec_module(binary)  # the network, its training and the ink bands, shared with the binary example

DEFAULT_SEED = 1797
CLASSES = list(range(10))

SPEC = """\
# Digits as a stand-in multiclass imaging audit (which of ten digits). Create the model and data first:
#   python examples/digits_multiclass/prepare.py
# then run:
#   trustaudit run examples/digits_multiclass/audit.yaml --out /tmp/digits10-out
name: "Digits CNN (stand-in for a multiclass medical image classifier): which digit"
description: >-
  A small convolutional network on scikit-learn's 8x8 handwritten digits choosing among the ten digits,
  audited for per-class performance, subgroup fairness by ink band and robustness to attacks on the
  10-class model itself.
intended_use: Demonstration of trustaudit's multiclass audit; not a clinical model.
task: multiclass
model:
  path: model.pt
  normalize: {{mean: [{mean:.6f}], std: [{std:.6f}]}}   # what the CNN was trained on; attacks work in [0, 1]
data:
  test: test.npz
  target: y
  classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]   # the order of the model's ten outputs
  sensitive: [ink]
settings:
  seed: {seed}
  n_resamples: 500
  min_group_size: 30
checks: [performance, fairness, calibration, uncertainty, robustness]
robustness:
  attacks: [fgsm, pgd]
  epsilons: [0, 0.02, 0.05, 0.1]
  steps: 10
  severities: [0, 0.25, 0.5]
  perturbations: [gaussian_noise, blur, contrast]
  max_samples: 300
report: [html]
"""


def data(seed: int = DEFAULT_SEED):
    """Images in [0, 1] (N×1×8×8), digits and ink bands, split 60/40 stratified by digit."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    ink = x.reshape(len(x), -1).sum(axis=1)
    bands = binary.INK_BANDS[np.searchsorted(np.quantile(ink, [1 / 3, 2 / 3]), ink, side="right")]
    return train_test_split(x, y, bands, test_size=binary.TEST_SIZE, random_state=seed, stratify=y)


def prepare(out_dir: Path = HERE, seed: int = DEFAULT_SEED, epochs: int = 15) -> dict:
    """Train the 10-class CNN and write model.pt, test.npz and audit.yaml into ``out_dir``; return a summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test, _, ink_test = data(seed)
    mean, std = float(x_train.mean()), float(x_train.std())
    model = binary.train(x_train, y_train, mean, std, seed, epochs, outputs=len(CLASSES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(model).save(str(out_dir / "model.pt"))
    np.savez(out_dir / "test.npz", x=x_test, y=y_test, ink=ink_test.astype(str))
    (out_dir / "audit.yaml").write_text(SPEC.format(mean=mean, std=std, seed=seed), encoding="utf-8")
    with torch.no_grad():
        logits = model((torch.from_numpy(x_test) - mean) / std)
    accuracy = float((logits.argmax(1).numpy() == y_test).mean())
    return {"n_train": int(len(y_train)), "n_test": int(len(y_test)), "test_accuracy": accuracy}


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
