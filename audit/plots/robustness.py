"""Figures of the robustness check: robust accuracy against the attack budget, metrics against
perturbation severity, and a grid of clean and adversarial examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib
from matplotlib.figure import Figure as _MplFigure

from ..figure import Figure
from ..labels import perturbation_label
from .style import (
    RC,
    REFERENCE_GREY,
    REFERENCE_STYLE,
    ci_pair,
    confidence_words,
    estimate_value,
    figure_to_svg,
    finite_or_none,
    format_number,
    series_colour,
    series_style,
)


def _curve_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


def _band(ax, xs: list[float], estimates: list, colour: str) -> None:
    """Shade the CI band of a curve and draw the interval at each point."""
    lo = [(ci_pair(e) or [float("nan")] * 2)[0] for e in estimates]
    hi = [(ci_pair(e) or [float("nan")] * 2)[1] for e in estimates]
    ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    for x, a, b in zip(xs, lo, hi):
        if math.isfinite(a) and math.isfinite(b):
            ax.vlines(x, a, b, color=colour, linewidth=1.0)


def robust_accuracy_figure(attacks: Mapping[str, Mapping], clean: Mapping, dataset: str,
                           confidence: float | None = 0.95) -> Figure:
    """Robust accuracy against the attack budget ε: one panel per norm (L∞, L2), one line per attack.

    ``attacks`` is the robustness check's ``adversarial.datasets.<name>.attacks`` (attack →
    ``{"label", "norm", "points": [{"epsilon", "accuracy": estimate}]}``); attacks without a budget
    (Carlini–Wagner, DeepFool) appear as a single marker at the right edge of the L2 panel, at the
    median size of the perturbations that changed a decision. A dashed grey line marks clean accuracy.
    """
    norms = [norm for norm in ("linf", "l2") if any(a.get("norm") == norm for a in attacks.values())] or ["linf"]
    clean_acc = finite_or_none(estimate_value(clean.get("accuracy")))
    described = []
    with matplotlib.rc_context(RC):
        width = 3.6 * len(norms) + 0.6
        fig = _MplFigure(figsize=(width, 3.9 + 0.19 * (len(attacks) + 1)))
        legend_h = 0.19 * (len(attacks) + 1) + 0.2
        height = 3.9 + 0.19 * (len(attacks) + 1)
        for k, norm in enumerate(norms):
            ax = fig.add_axes(((0.55 + 3.6 * k) / width, (legend_h + 0.55) / height, 2.9 / width, 2.9 / height))
            if clean_acc is not None:
                ax.axhline(clean_acc, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9,
                           label=f"clean accuracy {clean_acc:.3f}" if k == 0 else None)
            right = 0.0
            for i, (name, attack) in enumerate(attacks.items()):
                if attack.get("norm") != norm:
                    continue
                points = [p for p in attack.get("points") or [] if p.get("epsilon") is not None]
                if points:
                    xs = [float(p["epsilon"]) for p in points]
                    ests = [p.get("accuracy") for p in points]
                    ys = [finite_or_none(estimate_value(e)) for e in ests]
                    ys = [float("nan") if v is None else v for v in ys]
                    ax.plot(xs, ys, color=series_colour(i), linestyle=series_style(i), marker="o", markersize=3.5,
                            linewidth=1.8, label=str(attack.get("label", name)))
                    _band(ax, xs, ests, series_colour(i))
                    right = max(right, max(xs))
                    described.append(f"{attack.get('label', name)}: " + ", ".join(
                        f"ε {x:g} → {format_number(y)}" for x, y in zip(xs, ys)))
            for i, (name, attack) in enumerate(attacks.items()):
                unbudgeted = [p for p in attack.get("points") or [] if p.get("epsilon") is None]
                if attack.get("norm") != norm or not unbudgeted:
                    continue
                p = unbudgeted[0]
                x = finite_or_none(p.get("median_l2"))
                x = right if x is None else x
                y = finite_or_none(estimate_value(p.get("accuracy")))
                if y is not None:
                    ax.plot([x], [y], linestyle="none", marker="D", markersize=5, color=series_colour(i),
                            label=f"{attack.get('label', name)} (at median perturbation size)")
                    ci = ci_pair(p.get("accuracy"))
                    if ci is not None:
                        ax.vlines(x, ci[0], ci[1], color=series_colour(i), linewidth=1.0)
                    described.append(f"{attack.get('label', name)}: accuracy {format_number(y)} at median L2 perturbation {format_number(x)}")
            word = "L∞" if norm == "linf" else "L2"
            _curve_axes(ax, f"Attack budget ε ({word}, inputs in [0, 1])", "Accuracy under attack",
                        f"Robust accuracy, {word} attacks")
        handles, labels = [], []
        for ax in fig.axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.05, 0.0), frameon=False, ncols=1)
        svg = figure_to_svg(fig)
    level = confidence_words(confidence)
    alt = (
        f"Accuracy on {dataset} under adversarial attack against the attack budget epsilon, with {level or 'the'} "
        f"confidence intervals as bands; clean accuracy {format_number(clean_acc)} as a dashed grey line. "
        + "; ".join(described) + "."
    )
    return Figure(svg=svg, alt=alt, title=f"Robust accuracy against attack budget ({dataset})")


def severity_figure(kinds: Mapping[str, Mapping], clean: Mapping, dataset: str,
                    confidence: float | None = 0.95) -> Figure:
    """AUROC and prediction flip rate against severity, one line per perturbation, with CI bands.

    ``kinds`` is ``perturbation.datasets.<name>.kinds`` (kind → ``{"points": [{"severity",
    "auroc", "flip_rate"}]}``); clean AUROC is a dashed grey line.
    """
    run = {k: v for k, v in kinds.items() if v.get("points")}
    clean_auc = finite_or_none(estimate_value(clean.get("auroc")))
    described = []
    with matplotlib.rc_context(RC):
        height = 3.9 + 0.19 * (len(run) + 1)
        width = 7.8
        fig = _MplFigure(figsize=(width, height))
        legend_h = 0.19 * (len(run) + 1) + 0.2
        panels = (("auroc", "AUROC"), ("flip_rate", "Prediction flip rate"))
        for k, (metric, label) in enumerate(panels):
            ax = fig.add_axes(((0.55 + 3.7 * k) / width, (legend_h + 0.55) / height, 3.0 / width, 2.9 / height))
            if metric == "auroc" and clean_auc is not None:
                ax.axhline(clean_auc, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9,
                           label=f"clean AUROC {clean_auc:.3f}")
            for i, (name, entry) in enumerate(run.items()):
                points = entry["points"]
                xs = [float(p["severity"]) for p in points]
                ests = [p.get(metric) for p in points]
                ys = [finite_or_none(estimate_value(e)) for e in ests]
                ys = [float("nan") if v is None else v for v in ys]
                ax.plot(xs, ys, color=series_colour(i), linestyle=series_style(i), marker="o", markersize=3.5, linewidth=1.8,
                        label=perturbation_label(name) if k == 0 else None)
                _band(ax, xs, ests, series_colour(i))
                described.append(f"{perturbation_label(name)}, {label.lower()}: " + ", ".join(f"severity {x:g} → {format_number(y)}" for x, y in zip(xs, ys)))
            _curve_axes(ax, "Severity (0 = unchanged)", label, f"{label} against severity")
        handles, labels = fig.axes[0].get_legend_handles_labels() if fig.axes else ([], [])
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.05, 0.0), frameon=False, ncols=2)
        svg = figure_to_svg(fig)
    alt = (
        f"AUROC and prediction flip rate on {dataset} against perturbation severity, with {confidence_words(confidence) or 'the'} "
        f"confidence intervals as bands; clean AUROC {format_number(clean_auc)} dashed grey. " + "; ".join(described) + "."
    )
    return Figure(svg=svg, alt=alt, title=f"Metrics against perturbation severity ({dataset})")


def adversarial_grid_figure(clean, adversarial, p_clean, p_adversarial, caption: str,
                            decided: tuple[list[str], list[str]] | None = None) -> Figure:
    """Clean images (top row), their adversarial versions (middle) and the amplified difference (bottom).

    Arrays are N×C×H×W in [0, 1]; one or three channels are shown as grey or colour images.
    Each column is titled with P(positive) before and after the attack, or, for a multiclass model,
    with the decided class before and after (``decided``: the two lists of class labels).
    """
    import numpy as np

    clean, adversarial = np.asarray(clean, dtype=float), np.asarray(adversarial, dtype=float)
    n = min(len(clean), len(adversarial))

    def show(image):
        image = np.clip(image, 0, 1)
        return (image[0], "gray") if image.shape[0] != 3 else (image.transpose(1, 2, 0), None)

    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(1.15 * max(n, 1) + 0.9, 3.9))
        rows = ("clean", "adversarial", "difference ×")
        for j in range(n):
            diff = adversarial[j] - clean[j]
            scale = float(np.abs(diff).max())
            for r, image in enumerate((clean[j], adversarial[j], 0.5 + diff / (2 * scale) if scale > 0 else 0.5 + diff)):
                ax = fig.add_subplot(3, n, r * n + j + 1)
                data, cmap = show(image)
                ax.imshow(data, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    title = (f"{decided[0][j]}→{decided[1][j]}" if decided is not None
                             else f"P {float(p_clean[j]):.2f}→{float(p_adversarial[j]):.2f}")
                    ax.set_title(title, fontsize=7)
                if j == 0:
                    ax.set_ylabel(rows[r] if r < 2 else "difference\n(scaled)", fontsize=7)
        fig.suptitle(f"Clean vs adversarial examples: {caption}", fontsize=9)
        svg = figure_to_svg(fig)
    if decided is not None:
        changes = ", ".join(f"{a} to {b}" for a, b in zip(decided[0][:n], decided[1][:n]))
        what = f"The decided class changes from {changes}."
    else:
        changes = ", ".join(f"{float(a):.2f} to {float(b):.2f}" for a, b in zip(p_clean[:n], p_adversarial[:n]))
        what = f"The predicted probability of the positive class changes from {changes}."
    alt = (f"A grid of {n} example images: the clean image (top row), its adversarial version under {caption} "
           f"(middle row) and their difference, scaled to be visible (bottom row). {what}")
    return Figure(svg=svg, alt=alt, title=f"Clean vs adversarial examples ({caption})")


def segmentation_severity_figure(entry: Mapping, dataset: str, confidence: float | None = 0.95) -> Figure:
    """Mean Dice against corruption severity (one line per corruption, CI bands) and against the Dice-loss attack's
    budget, one row of panels per structure; the clean mean Dice dashed grey.

    ``entry`` is the segmentation robustness check's ``datasets.<name>`` (``clean``, ``corruptions``, ``attacks``).
    """
    structures = list(entry["clean"]["structures"])
    attack = (entry.get("attacks") or {}).get("dice_pgd") or {}
    panels = 2 if attack.get("points") else 1
    described = []
    with matplotlib.rc_context(RC):
        fig = _MplFigure(figsize=(3.9 * panels + 0.4, 3.1 * len(structures) + 0.9))
        axes = fig.subplots(len(structures), panels, squeeze=False)
        for r, s in enumerate(structures):
            clean = finite_or_none(estimate_value(entry["clean"]["structures"][s]["dice"]))
            for k in range(panels):
                ax = axes[r, k]
                if clean is not None:
                    ax.axhline(clean, color=REFERENCE_GREY, linestyle=REFERENCE_STYLE, linewidth=0.9, label=f"clean {clean:.3f}")
                series = ([(v["label"], v["points"], "severity") for v in entry["corruptions"].values() if v.get("points")]
                          if k == 0 else [(attack["label"], attack["points"], "epsilon")])
                for i, (label, points, x_key) in enumerate(series):
                    xs = [0.0] + [float(p[x_key]) for p in points]
                    ests = [entry["clean"]["structures"][s]["dice"]] + [p["structures"][s]["dice"] for p in points]
                    ys = [finite_or_none(estimate_value(e)) for e in ests]
                    ys = [float("nan") if v is None else v for v in ys]
                    ax.plot(xs, ys, color=series_colour(i), linestyle=series_style(i), marker="o", markersize=3, linewidth=1.6, label=label)
                    _band(ax, xs, ests, series_colour(i))
                    described.append(f"{s}, {label}: " + ", ".join(f"{x:g} → {format_number(y)}" for x, y in zip(xs, ys)))
                _curve_axes(ax, "Severity (0 = unchanged)" if k == 0 else "ε (L∞, windowed intensities)", "Mean Dice",
                            f"{s}: {'corruptions' if k == 0 else 'Dice-loss PGD'}")
                if r == 0:
                    ax.legend(fontsize=6.5, frameon=False, loc="lower left")
        svg = figure_to_svg(fig)
    alt = (f"Mean Dice on {dataset} against corruption severity and attack budget, with {confidence_words(confidence) or 'the'} "
           "confidence intervals as bands: " + "; ".join(described) + ".")
    return Figure(svg=svg, alt=alt, title=f"Mean Dice under corruptions and attack ({dataset})")
