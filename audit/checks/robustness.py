"""The robustness check: adversarial attacks (PyTorch models) and realistic perturbations (every model).

Per dataset named in ``robustness.datasets`` (default: the internal test set), optionally on a
seeded outcome-stratified subsample of ``robustness.max_samples`` patients:

- **Adversarial** (models with gradients, i.e. PyTorch; inputs in [0, 1]): every attack of
  ``robustness.attacks`` via torchattacks — FGSM and PGD over ``epsilons`` (L∞), PGD-L2 over
  ``l2_epsilons``, Carlini–Wagner and DeepFool once (minimal perturbations, their median L2 size
  reported). At each budget: accuracy (Wilson), AUROC (DeLong), attack success rate and
  prediction flip rate (Wilson). The attack sees a two-logit head whose arg-max is the decision
  at ``settings.threshold``.
- **Perturbation** (every model with predictions): tabular noise / missing values / categorical
  flips (:mod:`audit.robustness.perturbations`) or image corruptions
  (:mod:`audit.robustness.corruptions`) at each of ``robustness.severities``, with the same metrics.
- **Subgroups** (``data.sensitive`` and ``data.site``): per group clean accuracy, robust accuracy and
  success rate per attack and budget, flip rate per perturbation at the strongest severity;
  each adequately sized group's success rate against the largest group's (Newcombe interval,
  score test, Holm over the dataset). Small groups (``settings.min_group_size``) get exact
  intervals and are not tested.

With no model (a prediction-only audit) the check is "not run" and says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..context import AuditContext, EvaluatedDataset
from ..errors import AuditInputError
from ..evidence import SHOWN, shown
from ..groups import Partition, partitions_of, reference_group, too_small
from ..labels import perturbation_label
from ..models import table_array, table_columns
from ..robustness import attacks as attack_lib
from ..robustness import corruptions, perturbations
from ..robustness.evaluate import adjust, clean_point, compare_success, decisions, stress_point, success_counts
from ..spec import IMAGE_CORRUPTIONS, TABULAR_PERTURBATIONS
from ..stats import stream_rng
from ..tasks.multiclass import label_text
from .base import Finding, Section

NAME = "robustness"
#: The tasks (``audit.tasks``) this check is defined for.
TASKS = ("binary", "multiclass", "segmentation")
#: Adjustment of the per-group attack-success comparisons of a dataset (family-wise error; statsmodels).
MULTIPLICITY = "holm"
TITLE = "Robustness"
NO_MODEL = (
    "there is no model: this audit reads precomputed probabilities (data.prediction), and robustness needs a model "
    "to re-run on perturbed inputs; give model: {path: ...} or pass the model object"
)
#: A mild stress (smallest positive budget/severity) that changes at least this share of decisions is a warning.
FLIP_WARNING = 0.05


def run(ctx: AuditContext) -> Section:
    if ctx.task.name == "segmentation":
        from . import robustness_segmentation

        return robustness_segmentation.run(ctx)
    if ctx.model is None:
        return Section(
            NAME, TITLE, "not run", {"reason": NO_MODEL},
            [Finding(NAME, "info", f"The robustness check was not run: {NO_MODEL}.")],
        )
    rs = ctx.spec.robustness
    settings = ctx.spec.settings
    names = rs.datasets or ["test"]
    unknown = [name for name in names if name not in ctx.datasets]
    if unknown:
        raise AuditInputError(
            f"robustness.datasets names {unknown[0]!r}, which is not a dataset of this audit "
            f"({', '.join(repr(n) for n in ctx.datasets)}); use one of those names."
        )
    adversarial, perturbation, subgroups, findings, figures = {}, {}, {}, [], {}
    adversarial_reason = _adversarial_reason(ctx)
    for name in names:
        ds = ctx.datasets[name]
        rows = subsample(ds, rs.max_samples, settings.seed)
        inputs = model_inputs(ctx, ds, rows)
        y, p0 = ds.y[rows], ds.p[rows]
        adv, kept = None, None
        reason = adversarial_reason or _range_reason(inputs)
        if reason is None:
            adv, kept, adv_flags = adversarial_dataset(ctx, name, inputs, y, p0)
        pert, pert_flags = perturbation_dataset(ctx, name, inputs, y, p0)
        adversarial[name] = adv if adv is not None else {"status": "not run", "reason": reason}
        perturbation[name] = pert
        findings += adversarial_findings(name, adversarial[name], settings) + perturbation_findings(name, pert, settings)
        partitions = _partitions(ctx, ds, rows)
        if partitions:
            subgroups[name], sub_findings = subgroup_dataset(ctx, name, partitions, y, p0,
                                                             adv_flags if adv is not None else {}, pert_flags)
            findings += sub_findings
        if adv is not None:
            figures[f"adversarial_{name}"] = plots.robust_accuracy_figure(adv["attacks"], adv["clean"], name, settings.confidence)
            if kept is not None:
                figures[f"examples_{name}"] = plots.adversarial_grid_figure(kept["clean"], kept["adversarial"], kept["p_clean"], kept["p_adversarial"],
                                                                            kept["caption"], kept["decided"])
        if any(k.get("points") for k in pert["kinds"].values()):
            figures[f"perturbation_{name}"] = plots.severity_figure(pert["kinds"], pert["clean"], name, settings.confidence)
    if not any(d.get("status") == "run" for d in adversarial.values()) and adversarial_reason:
        findings.insert(0, Finding(NAME, "info", f"Adversarial attacks were not run: {adversarial_reason}."))
    evidence = shown("robustness.perturbation")
    if any(d.get("status") == "run" for d in adversarial.values()):
        evidence["robustness.adversarial"] = SHOWN
    if subgroups:
        evidence["robustness.subgroups"] = SHOWN
    status = "warning" if any(f.severity != "info" for f in findings) else "pass"
    return Section(
        name=NAME,
        title=TITLE,
        status=status,
        data={
            "threshold": settings.threshold if ctx.task.name == "binary" else None,
            **({"decision": "the most probable class"} if ctx.task.name == "multiclass" else {}),
            "confidence": settings.confidence,
            "min_group_size": settings.min_group_size,
            "multiplicity": MULTIPLICITY,
            "model": ctx.model.description,
            "adversarial": {"reason": adversarial_reason, "datasets": adversarial},
            "perturbation": {"datasets": perturbation},
            "subgroups": {"datasets": subgroups},
        },
        findings=findings,
        figures=figures,
        evidence=evidence,
    )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def subsample(ds: EvaluatedDataset, max_samples: int | None, seed: int) -> np.ndarray:
    """Row indices: all rows, or a seeded, outcome-stratified sample of ``max_samples`` (sorted)."""
    if max_samples is None or ds.n <= max_samples:
        return np.arange(ds.n)
    rng = stream_rng(seed, f"{NAME}/sample/{ds.name}")
    chosen = []
    if np.asarray(ds.p).ndim == 2:  # multiclass: every class in proportion (largest remainders)
        classes, counts = np.unique(ds.y, return_counts=True)
        quota = max_samples * counts / ds.n
        take = np.floor(quota).astype(int)
        take[np.argsort(-(quota - take), kind="stable")[: max_samples - take.sum()]] += 1
        for c, k in zip(classes, take):
            members = np.flatnonzero(ds.y == c)
            chosen.append(rng.choice(members, size=min(int(k), members.size), replace=False))
        return np.sort(np.concatenate(chosen))
    positives = np.flatnonzero(ds.y == 1)
    n_pos = int(round(max_samples * positives.size / ds.n))
    for members, k in ((positives, n_pos), (np.flatnonzero(ds.y == 0), max_samples - n_pos)):
        chosen.append(rng.choice(members, size=min(k, members.size), replace=False))
    return np.sort(np.concatenate(chosen))


def model_inputs(ctx: AuditContext, ds: EvaluatedDataset, rows: np.ndarray) -> dict:
    """What the model reads for these rows: ``{"kind": "image"|"features"|"table", ...}``."""
    x = ds.dataset.x
    if x is not None:
        return {"kind": "image" if x.ndim == 4 else "features", "x": x[rows]}
    frame = ds.dataset.frame.iloc[rows].reset_index(drop=True)
    columns = _input_columns(ctx.model, frame)
    return {"kind": "table", "frame": frame[columns]}


def _input_columns(adapter, frame: pd.DataFrame) -> list[str]:
    if hasattr(adapter, "columns"):
        return adapter.columns(frame)
    return table_columns(getattr(adapter, "features", None), getattr(adapter, "exclude", ()), frame)


def _attack_array(inputs: dict) -> np.ndarray:
    if inputs["kind"] == "table":
        return table_array(inputs["frame"], list(inputs["frame"].columns))
    return inputs["x"]


def _adversarial_reason(ctx: AuditContext) -> str | None:
    if not ctx.spec.robustness.attacks:
        return "robustness.attacks is empty"
    if not hasattr(ctx.model, "attack_module"):
        return (f"the model ({ctx.model.description}) gives no gradients; adversarial attacks need a PyTorch model, "
                "so only perturbations were applied")
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        return "torchattacks is not installed (pip install 'trustaudit[torch]')"
    return None


def _range_reason(inputs: dict) -> str | None:
    try:
        x = _attack_array(inputs)
    except AuditInputError as exc:
        return str(exc).rstrip(".")
    if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
        return ("the model inputs are not in [0, 1] (min {:.3g}, max {:.3g}), the space attack budgets are measured in; "
                "scale them to [0, 1] and declare the model's normalisation in model.normalize").format(float(np.nanmin(x)), float(np.nanmax(x)))
    return None


# --------------------------------------------------------------------------------------------
# Adversarial attacks
# --------------------------------------------------------------------------------------------


def adversarial_dataset(ctx: AuditContext, name: str, inputs: dict, y: np.ndarray, p0: np.ndarray):
    """Every attack at every budget on one dataset; returns (data, kept example images, per-run decisions)."""
    rs, settings = ctx.spec.robustness, ctx.spec.settings
    adapter = ctx.model
    module = adapter.attack_module(settings.threshold)
    x = _attack_array(inputs)
    batch = rs.batch_size or getattr(adapter, "batch_size", 256)
    t, conf = settings.threshold, settings.confidence
    results, flags, kept = {}, {}, None
    keep = rs.examples if inputs["kind"] == "image" else 0
    for attack_name in rs.attacks:
        budgets = (rs.epsilons if attack_lib.NORMS[attack_name] == "linf" else rs.l2_epsilons) if attack_name in attack_lib.BUDGETED else [None]
        points = []
        for eps in budgets:
            label = f"{attack_name}" + ("" if eps is None else f" ε={eps:g}")
            seed = attack_lib.run_seed(settings.seed, f"{name}/{attack_name}/{eps}")
            if attack_name in attack_lib.CLEAN_AT_ZERO and eps == 0:
                p1, out = np.asarray(p0, dtype=float), None  # a zero budget is the clean input
            else:
                attack = attack_lib.make_attack(attack_name, module, eps, steps=rs.steps, step_size=rs.step_size,
                                                cw_c=rs.cw_c, cw_lr=rs.cw_lr, square_queries=rs.square_queries,
                                                seed=seed)
                out = attack_lib.run_attack(
                    attack, module, x, y, batch_size=batch, device=adapter.device, seed=seed, keep=keep,
                    progress=lambda done, total, label=label: ctx.report_progress(
                        f"robustness: {label} on {name} [batch {done}/{total}]"),
                )
                p1 = out.p
            point = {"epsilon": eps, **stress_point(y, p0, p1, t, conf)}
            if out is not None:
                moved = out.l2[decisions(p1, t) != decisions(p0, t)]
                point["median_l2"] = float(np.median(moved)) if moved.size else None
                point["max_linf"] = float(out.linf.max()) if out.linf.size else 0.0
            points.append(point)
            flags[(attack_name, eps)] = p1
            if keep and out is not None and out.examples is not None and attack_name in attack_lib.BUDGETED:
                if kept is None or (attack_name == kept["attack"] and eps is not None and eps > kept["epsilon"]):
                    kept = {"attack": attack_name, "epsilon": eps, "adversarial": out.examples,
                            "clean": x[:keep], "p_clean": np.asarray(p0[:keep], dtype=float), "p_adversarial": p1[:keep],
                            "caption": f"{attack_lib.LABELS[attack_name]} at ε = {eps:g}",
                            "decided": _decided_labels(ctx, p0[:keep], p1[:keep])}
        results[attack_name] = {"label": attack_lib.LABELS[attack_name], "norm": attack_lib.NORMS[attack_name], "points": points}
    data = {
        "status": "run",
        "n": int(y.size),
        "input": inputs["kind"],
        "clean": clean_point(y, p0, t, conf),
        "attacks": results,
    }
    return data, kept, flags


def adversarial_findings(name: str, data: dict, settings) -> list[Finding]:
    if data.get("status") != "run":
        return []
    findings = []
    level = f"{settings.confidence:.0%}"
    clean = data["clean"]["accuracy"]
    for attack in data["attacks"].values():
        points = [p for p in attack["points"] if p["epsilon"] is None or p["epsilon"] > 0]
        if not points:
            continue
        worst, mild = points[-1], points[0]
        acc, success = worst["accuracy"], worst["success_rate"]
        at = "" if worst["epsilon"] is None else f" at ε = {worst['epsilon']:g}"
        text = (f"Under {attack['label']}{at}, accuracy on {name} falls from {clean['value']:.3f} to {acc['value']:.3f} "
                f"({level} CI {acc['ci'][0]:.3f} to {acc['ci'][1]:.3f})")
        if success is not None:
            text += f"; the attack turned {success['value']:.1%} of the correct decisions wrong"
        flips = mild["flip_rate"]
        if flips["ci"][0] > FLIP_WARNING:
            mild_at = "" if mild["epsilon"] is None else f" at ε = {mild['epsilon']:g}"
            findings.append(Finding(NAME, "warning", text + f". Already{mild_at} it changes {flips['value']:.1%} of the decisions "
                                    f"({level} CI {flips['ci'][0]:.1%} to {flips['ci'][1]:.1%}).", name))
        else:
            findings.append(Finding(NAME, "info", text + ".", name))
    return findings


# --------------------------------------------------------------------------------------------
# Perturbations
# --------------------------------------------------------------------------------------------


def _kinds(rs, kind: str) -> list[str]:
    if rs.perturbations is not None:
        return list(rs.perturbations)
    return list(IMAGE_CORRUPTIONS) if kind == "image" else list(TABULAR_PERTURBATIONS)


def _not_applicable(kind: str, inputs: dict) -> str | None:
    if inputs["kind"] == "image":
        if kind not in IMAGE_CORRUPTIONS:
            return f"{kind} is a tabular perturbation, but the inputs are images"
        return corruptions.applicable(inputs["x"], kind)
    if kind not in TABULAR_PERTURBATIONS:
        return f"{kind} is an image corruption, but the inputs are not images"
    return perturbations.applicable(_as_table(inputs), kind)


def _as_table(inputs: dict) -> pd.DataFrame:
    if inputs["kind"] == "table":
        return inputs["frame"]
    return pd.DataFrame(inputs["x"], columns=[f"x{j}" for j in range(inputs["x"].shape[1])])


def _decided_labels(ctx: AuditContext, p0: np.ndarray, p1: np.ndarray) -> tuple[list[str], list[str]] | None:
    """The decided class (as labelled in ``data.classes``) before and after, for a multiclass model's example grid."""
    if np.asarray(p0).ndim != 2:
        return None
    labels = [label_text(c) for c in ctx.task.classes(ctx.spec.data)]
    return [labels[k] for k in np.argmax(p0, axis=1)], [labels[k] for k in np.argmax(p1, axis=1)]


def _stressed_predictions(ctx: AuditContext, inputs: dict, kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    adapter = ctx.model
    if inputs["kind"] == "image":
        x = inputs["x"]
        batch = ctx.spec.robustness.batch_size or getattr(adapter, "batch_size", 256)
        out = np.empty((x.shape[0], *np.shape(ctx.internal.p)[1:]), dtype=float)
        for start in range(0, x.shape[0], batch):  # corrupt and predict one batch at a time
            rows = slice(start, start + batch)
            out[rows] = adapter.predict_array(corruptions.corrupt(x[rows], kind, severity, rng))
        return out
    table = perturbations.perturb(_as_table(inputs), kind, severity, rng, ctx.spec.robustness.missing_as)
    if inputs["kind"] == "table":
        return np.asarray(adapter.predict_proba(table), dtype=float)
    return adapter.predict_array(table.to_numpy(dtype=np.float32))


def perturbation_dataset(ctx: AuditContext, name: str, inputs: dict, y: np.ndarray, p0: np.ndarray):
    """Every perturbation at every severity on one dataset; returns (data, per-run predictions)."""
    rs, settings = ctx.spec.robustness, ctx.spec.settings
    t, conf = settings.threshold, settings.confidence
    kinds, flags = {}, {}
    for kind in _kinds(rs, inputs["kind"]):
        reason = _not_applicable(kind, inputs)
        if reason is not None:
            kinds[kind] = {"status": "not applicable", "reason": reason, "points": []}
            continue
        points, failure = [], None
        for severity in rs.severities:
            ctx.report_progress(f"robustness: {kind} at severity {severity:g} on {name}")
            rng = stream_rng(settings.seed, f"{NAME}/{name}/{kind}/{severity!r}")
            try:
                p1 = _stressed_predictions(ctx, inputs, kind, severity, rng)
            except Exception as exc:  # noqa: BLE001 - the user's model rejecting perturbed input is a finding
                failure = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                break
            if not np.all(np.isfinite(p1)):
                failure = f"the model returned NaN for {int((~np.isfinite(p1)).sum())} patients"
                break
            p1 = np.clip(p1, 0.0, 1.0)
            points.append({"severity": severity, **stress_point(y, p0, p1, t, conf)})
            flags[(kind, severity)] = p1
        if failure is not None:
            kinds[kind] = {"status": "failed", "reason": f"the model could not predict on perturbed inputs: {failure}",
                           "points": points}
        else:
            kinds[kind] = {"status": "run", "reason": None, "points": points}
    return {"n": int(y.size), "input": inputs["kind"], "clean": clean_point(y, p0, t, conf), "kinds": kinds}, flags


def perturbation_findings(name: str, data: dict, settings) -> list[Finding]:
    findings = []
    level = f"{settings.confidence:.0%}"
    clean = data["clean"]
    for kind, entry in data["kinds"].items():
        label = perturbation_label(kind)
        if entry["status"] == "failed":
            severity = "warning" if kind == "missing" else "info"
            findings.append(Finding(NAME, severity, f"{label} on {name}: {entry['reason']}.", name))
            continue
        if entry["status"] != "run":
            findings.append(Finding(NAME, "info", f"{label} was not applied to {name}: {entry['reason']}.", name))
            continue
        points = [p for p in entry["points"] if p["severity"] > 0]
        if not points:
            continue
        worst, mild = points[-1], points[0]
        auc0, auc1 = (clean.get("auroc") or {}).get("value"), (worst.get("auroc") or {}).get("value")
        flips = worst["flip_rate"]
        text = f"{label} at severity {worst['severity']:g} on {name} changes {flips['value']:.1%} of the decisions"
        if auc0 is not None and auc1 is not None:
            text += f" and moves AUROC from {auc0:.3f} to {auc1:.3f}"
        mild_flips = mild["flip_rate"]
        if mild_flips["ci"][0] > FLIP_WARNING:
            findings.append(Finding(NAME, "warning", text + f"; already at severity {mild['severity']:g}, "
                                    f"{mild_flips['value']:.1%} of the decisions change ({level} CI {mild_flips['ci'][0]:.1%} to "
                                    f"{mild_flips['ci'][1]:.1%}).", name))
        else:
            findings.append(Finding(NAME, "info", text + ".", name))
    return findings


# --------------------------------------------------------------------------------------------
# Subgroups
# --------------------------------------------------------------------------------------------


def _partitions(ctx: AuditContext, ds: EvaluatedDataset, rows: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(name, kind, labels) of each attribute and the site, over the attacked rows (``audit.groups``)."""
    frame = ds.dataset.frame.iloc[rows]
    return [(p.name, p.kind, p.labels) for p in partitions_of(frame, list(ctx.spec.data.sensitive), ctx.spec.data.site, False)]


def _small(y, p0, rows, settings) -> list[str]:
    """Why a group is too small to test (``groups.too_small``); for a multiclass outcome by its size only."""
    n = int(rows.sum())
    return too_small(n, None if np.asarray(p0).ndim == 2 else int(y[rows].sum()), settings)


def subgroup_dataset(ctx, name, partitions, y, p0, adv_flags: dict, pert_flags: dict):
    """Per group of each partition: robustness metrics, and success-rate gaps against the largest group."""
    settings = ctx.spec.settings
    t, conf = settings.threshold, settings.confidence
    strongest = {}
    for (kind, severity) in pert_flags:
        strongest[kind] = max(strongest.get(kind, 0.0), severity)
    out, comparisons = [], []
    for part_name, part_kind, labels in partitions:
        groups = []
        uniques = np.unique(labels)
        sizes = [{"label": str(u), "n": int((labels == u).sum()),
                  "status": "ok" if not _small(y, p0, labels == u, settings) else "small"}
                 for u in uniques]
        reference = reference_group(Partition.of(part_name, part_kind, (part_name,), labels), sizes, settings.reference_groups)
        for label in uniques:
            m = labels == label
            n = int(m.sum())
            reasons = _small(y, p0, m, settings)
            small = bool(reasons)
            group = {"label": str(label), "n": n, "small": small, "reason": "; ".join(reasons) or None,
                     "clean": clean_point(y[m], p0[m], t, conf, exact=small, auroc=False),
                     "adversarial": {}, "perturbation": {}}
            for (attack, eps), p1 in adv_flags.items():
                group["adversarial"].setdefault(attack, []).append(
                    {"epsilon": eps, **stress_point(y[m], p0[m], p1[m], t, conf, exact=small, auroc=False)})
            for kind, severity in strongest.items():
                group["perturbation"][kind] = {"severity": severity,
                                               **stress_point(y[m], p0[m], pert_flags[(kind, severity)][m], t, conf, exact=small, auroc=False)}
            groups.append(group)
        gaps = []
        ref_mask = labels == reference
        for (attack, eps), p1 in adv_flags.items():
            if eps is not None and eps == 0:
                continue
            k0, n0 = success_counts(y[ref_mask], p0[ref_mask], p1[ref_mask], t)
            for group in groups:
                if group["label"] == reference or group["small"]:
                    continue
                m = labels == group["label"]
                k1, n1 = success_counts(y[m], p0[m], p1[m], t)
                if n0 == 0 or n1 == 0:
                    continue
                gap = {"attack": attack, "epsilon": eps, "group": group["label"], "reference": reference,
                       **compare_success(k1, n1, k0, n0, conf)}
                gaps.append(gap)
                comparisons.append((part_name, gap))
        out.append({"name": part_name, "kind": part_kind, "reference": reference, "groups": groups, "gaps": gaps})
    adjusted = adjust([gap["p_value"] for _, gap in comparisons], MULTIPLICITY)
    findings = []
    level = f"{conf:.0%}"
    for (part_name, gap), p_adj in zip(comparisons, adjusted):
        gap["p_adjusted"] = p_adj
        diff = gap["difference"]
        if p_adj < 1 - conf and abs(diff["value"]) >= settings.gap_warning:
            at = "" if gap["epsilon"] is None else f" at ε = {gap['epsilon']:g}"
            more, easier = ("more", "easier") if diff["value"] > 0 else ("less", "harder")
            findings.append(Finding(
                NAME, "warning",
                f"{attack_lib.LABELS[gap['attack']]}{at} on {name} succeeds {abs(diff['value']):.1%} {more} often for "
                f"{part_name}={gap['group']} than for {part_name}={gap['reference']}, so that group is {easier} to attack "
                f"(difference in success rate {diff['value']:+.3f}, {level} CI {diff['ci'][0]:+.3f} to {diff['ci'][1]:+.3f}; "
                f"{MULTIPLICITY}-adjusted p = {p_adj:.2g}).",
                name))
    for part in out:
        for group in part["groups"]:
            if group["small"]:
                findings.append(Finding(NAME, "info", f"{part['name']}={group['label']} on {name} is too small to compare "
                                        f"({group['reason']}); its robustness is shown with exact intervals but not compared.", name))
    return {"partitions": out}, findings
