"""The robustness check of a segmentation audit: each structure's mean Dice and HD95 as image corruptions grow and
under an adversarial attack on the segmentation loss.

Per dataset named in ``robustness.datasets`` (default: the internal test set), optionally on a seeded sample of
``robustness.max_samples`` cases, with the model (a PyTorch network mapping images to per-class logits):

- **Corruptions** (``robustness.perturbations``, default every image corruption of ``audit.robustness.corruptions``:
  noise, blur, contrast, gamma, bias field, resolution, JPEG) at each of ``robustness.severities``, applied to the
  images in [0, 1] after ``model.window`` (a 3-D volume slice by slice along its last axis), then ``model.normalize``
  inside the model.
- **Adversarial** (``pgd`` in ``robustness.attacks``): ``DicePGD``, projected gradient ascent on the soft Dice loss of
  the whole label map against the model's clean prediction (a torchattacks ``Attack`` subclass,
  ``audit.robustness.attacks``; the clean prediction, not the reference, so the attack needs no label coding and
  leaks no reference), at each of ``robustness.epsilons`` (L∞, in the windowed [0, 1] units), ``robustness.steps``
  steps.

At each point: the mean Dice and HD95 per structure and the change from the clean images, with bootstrap intervals
over the same resampled cases as the clean means (the dataset's one stream: paired). Verdict: pass when, at the
mildest positive severity of every corruption, each structure's mean Dice drop has its interval within the Dice
margin (``settings.fairness_margins.dice``, default 0.05); fail when a drop's interval lies wholly beyond it;
otherwise inconclusive. Attacks are reported, with a warning when the smallest budget lowers mean Dice by more than
the margin.
"""

from __future__ import annotations

import numpy as np

from ..context import AuditContext, EvaluatedDataset
from ..errors import AuditInputError
from ..evidence import SHOWN, shown
from ..labels import EQUIVALENCE_MARGINS, perturbation_label
from ..robustness import corruptions
from ..robustness.attacks import dice_pgd_class, run_seed
from ..segmentation import CaseEvaluation, case_image, evaluate_cases, model_probabilities, segmentation_module
from ..spec import IMAGE_CORRUPTIONS, resolve
from ..stats import stream_rng
from ..stats.estimate import cluster_labelled
from ..stats.segmentation import CASE_METRICS, CaseMeans
from ..verdicts import criterion, worst
from .base import Finding, Section

NAME = "robustness"
TITLE = "Robustness"
METRICS = ("dice", "hd95")


def run(ctx: AuditContext) -> Section:
    if ctx.model is None or ctx.spec.data.image is None:
        reason = ("there is no model: robustness re-runs the model on corrupted images; give model: {path: ...} and the "
                  "images in data.image")
        return Section(NAME, TITLE, "not run", {"reason": reason}, [Finding(NAME, "info", f"The robustness check was not run: {reason}.")])
    rs, settings = ctx.spec.robustness, ctx.spec.settings
    names = rs.datasets or ["test"]
    unknown = [n for n in names if n not in ctx.datasets]
    if unknown:
        raise AuditInputError(f"robustness.datasets names {unknown[0]!r}, which is not a dataset of this audit "
                              f"({', '.join(repr(n) for n in ctx.datasets)}); use one of those names.")
    kinds = [k for k in (rs.perturbations or IMAGE_CORRUPTIONS) if k in IMAGE_CORRUPTIONS]
    margin = settings.fairness_margins.get("dice", EQUIVALENCE_MARGINS["dice"])
    per_dataset, criteria, findings, figures = {}, [], [], {}
    for name in names:
        ds = ctx.datasets[name]
        rows = case_sample(ds, rs.max_samples, settings.seed)
        images, masks, ids = dataset_images(ctx, ds, rows)
        clean = ds.cases if rows.size == ds.n else subset(ds.cases, rows)
        entry = {"cases": int(rows.size), "clean": point(ctx, ds, rows, clean, clean), "corruptions": {}, "attacks": {}}
        for kind in kinds:
            points = []
            for severity in rs.severities:
                if severity == 0:
                    continue
                ctx.report_progress(f"robustness: {perturbation_label(kind).lower()} at {severity:g} on {name}")
                rng = stream_rng(settings.seed, f"{NAME}/{name}/{kind}/{severity}")
                corrupted = [corrupt_image(x, kind, severity, rng) for x in images]
                evaluation = evaluate(ctx, ids, masks, corrupted, clean.structures)
                points.append({"severity": float(severity), **point(ctx, ds, rows, clean, evaluation)})
            entry["corruptions"][kind] = {"label": perturbation_label(kind), "points": points}
            if points:
                criteria += drop_criteria(name, kind, points[0], margin, settings.confidence)
        if "pgd" in rs.attacks:
            entry["attacks"]["dice_pgd"] = attack_curve(ctx, ds, rows, clean, images, masks, ids)
            findings += attack_findings(name, entry["attacks"]["dice_pgd"], margin)
        per_dataset[name] = entry
        figures[f"severity_{name}"] = severity_figure(entry, name, settings.confidence)
    evidence = shown("robustness.perturbation")
    if any(e["attacks"] for e in per_dataset.values()):
        evidence["robustness.adversarial"] = SHOWN
    return Section(
        name=NAME, title=TITLE, status=worst(c["verdict"] for c in criteria),
        data={"task": "segmentation", "confidence": settings.confidence, "model": ctx.model.description, "margin": margin,
              "window": ctx.spec.model.window if ctx.spec.model is not None else None, "metrics": list(METRICS),
              "datasets": per_dataset, "criteria": criteria},
        findings=findings, figures=figures, evidence=evidence,
    )


def case_sample(ds: EvaluatedDataset, max_samples: int | None, seed: int) -> np.ndarray:
    """All cases, or a seeded sample of ``max_samples`` (sorted)."""
    if max_samples is None or ds.n <= max_samples:
        return np.arange(ds.n)
    return np.sort(stream_rng(seed, f"{NAME}/sample/{ds.name}").choice(ds.n, size=max_samples, replace=False))


def dataset_images(ctx: AuditContext, ds: EvaluatedDataset, rows: np.ndarray):
    """The sampled cases' windowed images, mask paths and ids."""
    data = ctx.spec.data
    written = data.test if ds.name == "test" else data.external[ds.name]
    folder = resolve(ctx.base_dir, written).parent
    frame = ds.dataset.frame.iloc[rows]
    ids = [ds.cases.ids[i] for i in rows]
    masks = [str(resolve(folder, p)) for p in frame[data.mask].astype(str)]
    window = ctx.spec.model.window if ctx.spec.model is not None else None
    images = [case_image(str(resolve(folder, p)), m, data, window, case) for p, m, case in zip(frame[data.image].astype(str), masks, ids)]
    return images, masks, ids


def subset(cases: CaseEvaluation, rows: np.ndarray) -> CaseEvaluation:
    return CaseEvaluation(tuple(cases.ids[i] for i in rows), cases.structures, cases.values[rows], cases.status[rows],
                          cases.lesions[rows], tuple(cases.spacing[i] for i in rows), cases.spacing_source,
                          None if cases.calibration is None else cases.calibration[rows])


def corrupt_image(x: np.ndarray, kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    """A ``(C, *spatial)`` image corrupted as 2-D images: a 2-D image whole, a 3-D volume slice by slice (last axis)."""
    if x.ndim == 3:
        return corruptions.corrupt(x[None], kind, severity, rng)[0]
    slices = np.moveaxis(x, -1, 0)  # (Z, C, X, Y)
    return np.moveaxis(corruptions.corrupt(slices, kind, severity, rng), 0, -1)


def evaluate(ctx: AuditContext, ids, masks, images, structures) -> CaseEvaluation:
    """The model's label maps on ``images``, scored against the masks (structures as the clean evaluation's)."""
    settings = ctx.spec.settings
    out = evaluate_cases(ids, masks, model_probabilities(ctx.model, images), ctx.spec.data, settings, settings.n_jobs,
                         settings.scheduler)
    if out.structures != structures:  # default structures (every value found) differ once predictions change
        raise AuditInputError(f"the predictions on corrupted images hold other label values ({', '.join(out.structures)}) than "
                              f"the clean ones ({', '.join(structures)}); name the structures in data.labels.")
    return out


def point(ctx: AuditContext, ds: EvaluatedDataset, rows: np.ndarray, clean: CaseEvaluation, stressed: CaseEvaluation) -> dict:
    """Per structure: mean Dice and HD95 on ``stressed`` and their change from ``clean``, paired by the dataset's stream
    (the bootstrap of both on the same resampled cases)."""
    cols, names = [], []
    for j, s in enumerate(clean.structures):
        for m in METRICS:
            k = CASE_METRICS.index(m)
            cols += [stressed.values[:, j, k], clean.values[:, j, k]]
            names += [f"{m}/{s}", f"{m}/{s}/clean"]
    stat = CaseMeans(np.column_stack(cols), tuple(names))
    design = ctx.design(ds).subset(rows) if rows.size < ds.n else ctx.design(ds)
    boot = ctx.engine.bootstrap(stat, design, ctx.stream(ds))
    pairs = len(names) // 2
    change = boot.derive(lambda r: r[:, 0::2][:, :pairs] - r[:, 1::2][:, :pairs])
    out = {}
    for j, s in enumerate(clean.structures):
        row = {}
        for i, m in enumerate(METRICS):
            c = 2 * (j * len(METRICS) + i)
            row[m] = cluster_labelled(boot.estimate_at(c, int(rows.size)), design.clustered).to_dict()
            row[f"{m}_change"] = cluster_labelled(change.estimate_at(c // 2, int(rows.size)), design.clustered).to_dict()
        a, b = stressed.values[:, j, CASE_METRICS.index("dice")], clean.values[:, j, CASE_METRICS.index("dice")]
        row["cases_changed"] = int(np.sum(~((a == b) | (np.isnan(a) & np.isnan(b)))))
        out[s] = row
    return {"structures": out}


def attack_curve(ctx: AuditContext, ds, rows, clean, images, masks, ids) -> dict:
    """Mean Dice and HD95 under ``DicePGD`` at each budget of ``robustness.epsilons`` (zero budget: the clean point)."""
    import torch

    rs, settings = ctx.spec.robustness, ctx.spec.settings
    module = segmentation_module(ctx.model)
    probabilities = model_probabilities(ctx.model, images)
    n_classes = int(probabilities[0].shape[0])
    targets = [np.argmax(p, axis=0) for p in probabilities]  # the clean prediction: no label leakage, any class coding
    points = []
    for eps in rs.epsilons:
        if eps == 0:
            continue
        ctx.report_progress(f"robustness: PGD on the Dice loss at {eps:g} on {ds.name}")
        step = (rs.step_size if rs.step_size is not None else 2.5 / rs.steps) * eps
        attacked = []
        with torch.random.fork_rng():
            torch.manual_seed(run_seed(settings.seed, f"{ds.name}/dice_pgd/{eps}"))
            attack = dice_pgd_class()(module, n_classes, eps=eps, alpha=step, steps=rs.steps)
            for x, ref in zip(images, targets):
                xt = torch.from_numpy(x[None].astype(np.float32)).to(ctx.model.device)
                attacked.append(attack(xt, torch.from_numpy(ref[None].astype(np.int64))).cpu().numpy()[0])
        evaluation = evaluate(ctx, ids, masks, attacked, clean.structures)
        points.append({"epsilon": float(eps), **point(ctx, ds, rows, clean, evaluation)})
    return {"status": "run", "label": "PGD on the soft Dice loss (L∞)", "norm": "linf", "steps": rs.steps, "points": points}


def drop_criteria(name: str, kind: str, mildest: dict, margin: float, confidence: float) -> list[dict]:
    level = f"{confidence:.0%}"
    rule = (f"pass when, at the mildest severity, the {level} interval of the change in mean Dice lies within ±{margin:g}; "
            "fail when it lies wholly below −margin; otherwise inconclusive")
    out = []
    for s, row in mildest["structures"].items():
        est = row["dice_change"]
        ci = est.get("ci")
        if row.get("cases_changed") == 0:
            verdict, reason = "pass", "no case's Dice changed"
        elif est.get("value") is None or not ci:
            verdict, reason = "insufficient evidence", est.get("reason")
        elif ci[0] > -margin and ci[1] < margin:
            verdict, reason = "pass", None
        elif ci[1] < -margin:
            verdict, reason = "fail", None
        else:
            verdict, reason = "inconclusive", None
        out.append(criterion(f"{s}: Dice kept under mild {perturbation_label(kind).lower()} (severity {mildest['severity']:g})",
                             rule, verdict, name, "dice", est, -margin, reason))
    return out


def attack_findings(name: str, curve: dict, margin: float) -> list[Finding]:
    if curve.get("status") != "run" or not curve["points"]:
        return [Finding(NAME, "info", f"The Dice-loss attack was not run on {name}: {curve.get('reason')}.", name)] if curve.get("reason") else []
    first = curve["points"][0]
    out = []
    for s, row in first["structures"].items():
        d = row["dice_change"]
        if d.get("value") is None:
            continue
        severe = d["value"] < -margin
        out.append(Finding(NAME, "warning" if severe else "info",
                           f"PGD on the Dice loss at ε = {first['epsilon']:g} changes the mean Dice of {s} on {name} by "
                           f"{d['value']:+.3f}" + (f" (CI {d['ci'][0]:+.3f} to {d['ci'][1]:+.3f})" if d.get("ci") else "") + ".", name))
    return out


def severity_figure(entry: dict, dataset: str, confidence: float):
    from ..plots.robustness import segmentation_severity_figure

    return segmentation_severity_figure(entry, dataset, confidence)


__all__ = ["run"]
