"""Adversarial attacks with torchattacks, seeded and batched.

``make_attack`` builds a torchattacks attack by the name the spec uses (lower case, as torchattacks
spells it); ``run_attack`` applies it batch by batch to inputs in [0, 1] and returns P(positive)
on the adversarial inputs (and, for a few rows, the adversarial inputs themselves for the figure),
never holding more than one batch of adversarial images.

Every (dataset, attack, budget) run starts from its own seed, ``settings.seed`` combined with the
run's name, inside ``torch.random.fork_rng``: the random starts of PGD are the same whichever
attacks run before, and the caller's random state is left untouched.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Attacks with a budget per run (L∞ or L2) and minimal-perturbation attacks without one.
NORMS = {"fgsm": "linf", "pgd": "linf", "pgdl2": "l2", "autoattack": "linf", "cw": "l2", "deepfool": "l2"}
BUDGETED = ("fgsm", "pgd", "pgdl2", "autoattack")
LABELS = {"fgsm": "FGSM", "pgd": "PGD (L∞)", "pgdl2": "PGD (L2)", "autoattack": "AutoAttack, two-class (L∞)",
          "cw": "Carlini–Wagner (L2)", "deepfool": "DeepFool (L2)"}
#: Carlini–Wagner's optimiser needs this many iterations before its answer means anything: at 10 it
#: left 72% of a small CNN's decisions standing that 50 or more steps all changed (see the tests).
CW_MIN_STEPS = 100
#: Attacks not run at a zero budget: the clean input is their answer by definition.
CLEAN_AT_ZERO = ("pgdl2", "autoattack")


@dataclass(frozen=True)
class AttackOutput:
    """P(positive) on the attacked inputs, the perturbation size per row and a few adversarial inputs."""

    p: np.ndarray
    l2: np.ndarray  # L2 norm of the perturbation per row
    linf: np.ndarray  # L∞ norm of the perturbation per row
    examples: np.ndarray | None  # the first ``keep`` adversarial inputs


def make_attack(name: str, module, eps: float | None, *, steps: int = 10, step_size: float | None = None,
                cw_c: float = 1.0, cw_lr: float = 0.01, square_queries: int = 5000, seed: int = 0):
    """The torchattacks attack ``name`` on ``module`` with budget ``eps``.

    PGD and PGD-L2 take ``steps`` steps of ``step_size · eps`` (default ``2.5 · eps / steps``, the
    step Madry et al. 2018 recommend) from a random start; CW and DeepFool search for the smallest
    perturbation that changes the decision (``steps`` iterations, at least ``CW_MIN_STEPS`` for CW)
    and take no budget.

    ``autoattack`` is AutoAttack (Croce & Hein 2020) as it can run on two classes: APGD with
    cross-entropy, FAB and the gradient-free Square attack (``square_queries`` queries), each tried
    on the inputs the previous ones left correctly classified. The standard ensemble's targeted
    APGD and FAB use the DLR loss, which needs at least four classes (torchattacks' ``AutoAttack``
    fails with an IndexError on two). ``seed`` fixes the random starts (torchattacks would
    otherwise draw them from the clock).
    """
    import torchattacks

    alpha = (step_size if step_size is not None else 2.5 / steps) * (eps or 0.0)
    if name == "fgsm":
        return torchattacks.FGSM(module, eps=eps)
    if name == "pgd":
        return torchattacks.PGD(module, eps=eps, alpha=alpha, steps=steps, random_start=True)
    if name == "pgdl2":
        return torchattacks.PGDL2(module, eps=eps, alpha=alpha, steps=steps, random_start=True)
    if name == "autoattack":
        return torchattacks.MultiAttack([
            torchattacks.APGD(module, norm="Linf", eps=eps, steps=max(steps, 100), n_restarts=1, seed=seed, loss="ce"),
            torchattacks.FAB(module, norm="Linf", eps=eps, steps=max(steps, 100), n_restarts=1, seed=seed,
                             multi_targeted=False, n_classes=2),
            torchattacks.Square(module, norm="Linf", eps=eps, n_queries=square_queries, n_restarts=1, seed=seed),
        ])
    if name == "cw":
        return torchattacks.CW(module, c=cw_c, kappa=0, steps=max(steps, CW_MIN_STEPS), lr=cw_lr)
    if name == "deepfool":
        return torchattacks.DeepFool(module, steps=steps, overshoot=0.02)
    raise ValueError(f"unknown attack {name!r}")


def run_seed(seed: int, stream: str) -> int:
    """The torch seed of one named run (``"test/pgd/0.03"``)."""
    return (int(seed) * 1_000_003 + zlib.crc32(stream.encode("utf-8"))) % (2**63 - 1)


def run_attack(
    attack,
    module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    device: str,
    seed: int,
    keep: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> AttackOutput:
    """Attack ``x`` (in [0, 1]) with labels ``y`` in batches; P(positive) = sigmoid of the module's logit gap.

    ``module`` is the adapter's ``attack_module``: two logits whose gap is the log-odds minus
    logit(threshold), so P(positive) is recovered from the logit gap plus the threshold offset.
    """
    import torch

    n = x.shape[0]
    multiclass = getattr(module, "n_classes", None) is not None  # a K-class model attacked as such: K probabilities
    p = np.empty((n, module.n_classes) if multiclass else n, dtype=np.float64)
    l2 = np.empty(n, dtype=np.float64)
    linf = np.empty(n, dtype=np.float64)
    examples = []
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for done, start in enumerate(range(0, n, batch_size), start=1):
            rows = slice(start, min(n, start + batch_size))
            chunk = x[rows]
            if chunk.dtype != np.float32 or not chunk.flags.writeable or not chunk.flags.c_contiguous:
                chunk = np.array(chunk, dtype=np.float32)
            images = torch.from_numpy(chunk).to(device)
            labels = torch.as_tensor(np.asarray(y[rows], dtype=np.int64), device=device)
            adv = attack(images, labels)
            with torch.no_grad():
                logits = module(adv)
                delta = (adv - images).flatten(1)
                if multiclass:
                    p[rows] = torch.softmax(logits.double(), dim=1).cpu().numpy()
                else:
                    z = (logits[:, 1] - logits[:, 0]).double() + module.offset
                    p[rows] = torch.sigmoid(z).cpu().numpy()
                l2[rows] = delta.norm(dim=1).cpu().numpy()
                linf[rows] = delta.abs().amax(dim=1).cpu().numpy()
            if len(examples) * batch_size < keep:
                examples.append(adv[: max(0, keep - start)].detach().cpu().numpy())
            if progress is not None:
                progress(done, -(-n // batch_size))
    kept = np.concatenate(examples)[:keep] if examples else None
    return AttackOutput(p=p, l2=l2, linf=linf, examples=kept)


def soft_dice_loss(logits, labels, n_classes: int):
    """``1 - mean over foreground classes of 2 sum(p y) / (sum p + sum y)`` with ``p`` the softmax of ``logits``
    ``(N, K, *spatial)`` and ``y`` the one-hot ``labels`` ``(N, *spatial)`` (Milletari et al., V-Net, 3DV 2016)."""
    import torch

    p = torch.softmax(logits, dim=1)[:, 1:]
    y = torch.nn.functional.one_hot(labels.long(), n_classes).movedim(-1, 1)[:, 1:].to(p.dtype)
    axes = tuple(range(2, p.ndim))
    dice = (2 * (p * y).sum(axes) + 1e-6) / (p.sum(axes) + y.sum(axes) + 1e-6)
    return 1 - dice.mean()


def dice_pgd_class():
    """``DicePGD``: projected gradient ascent (L∞) on the soft Dice loss of a segmentation network, as a torchattacks
    ``Attack`` subclass (built on first use, so torch is imported only when an attack runs)."""
    import torch
    import torchattacks

    class DicePGD(torchattacks.attack.Attack):
        """PGD (Madry et al., ICLR 2018) whose loss is the soft Dice loss of the whole label map, not a per-image
        cross-entropy: ``steps`` steps of ``alpha`` from a uniform random start in the ``eps`` ball, images in [0, 1].
        ``labels`` are the reference label maps ``(N, *spatial)``; ``n_classes`` the network's output channels."""

        def __init__(self, model, n_classes: int, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10,
                     random_start: bool = True):
            super().__init__("DicePGD", model)
            self.n_classes, self.eps, self.alpha, self.steps, self.random_start = n_classes, eps, alpha, steps, random_start
            self.supported_mode = ["default"]

        def forward(self, images, labels):
            images = images.clone().detach().to(self.device)
            labels = labels.clone().detach().to(self.device)
            adv = images.clone().detach()
            if self.random_start:
                adv = torch.clamp(adv + torch.empty_like(adv).uniform_(-self.eps, self.eps), 0, 1).detach()
            for _ in range(self.steps):
                adv.requires_grad = True
                cost = soft_dice_loss(self.get_logits(adv), labels, self.n_classes)
                grad = torch.autograd.grad(cost, adv, retain_graph=False, create_graph=False)[0]
                adv = adv.detach() + self.alpha * grad.sign()
                adv = torch.clamp(images + torch.clamp(adv - images, -self.eps, self.eps), 0, 1).detach()
            return adv

    return DicePGD
