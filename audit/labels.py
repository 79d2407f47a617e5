"""The one metric vocabulary, and human-readable names: read by checks' findings, verdicts, figures, the report,
the summary and the benchmark.

Each metric is declared once, as a :class:`Metric` row of ``METRIC_TABLE``: its name, its label (and a
shorter one for figure panels), which way is better, the equivalence margin its fairness gaps are judged
by, how its interval is made by default, and the tasks it is defined for. Every other table here
(``METRIC_LABELS``, ``METRIC_DIRECTION``, ``EQUIVALENCE_MARGINS``, ...) is derived from it, in the
order it has always had, so results.json does not change. Add a metric by adding one row.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Intervals, by family (the exact rule is ``audit.stats.intervals``; the method of each estimate is in results.json).
SCORE_OR_EXACT = "Wilson score; Clopper-Pearson within 3 of 0 or n"
AUROC_RULE = "Newcombe score below 50 events or non-events, logit-DeLong above"
BOOTSTRAP = "bootstrap, resampled as the data were sampled"
MODEL_BASED = "Wald interval of a logistic recalibration model"


BOTH = ("binary", "multiclass")
MULTICLASS = ("multiclass",)
SURVIVAL = ("survival",)
IJ = "infinitesimal-jackknife Wald interval (survival::concordance)"
SEGMENTATION = ("segmentation",)
CASES = "bootstrap over cases (patients' cases together), resampled as the data were sampled"


@dataclass(frozen=True)
class Metric:
    """One metric, declared once."""

    name: str
    label: str
    #: Which way is better: "higher", "lower", "closer to 0", "closer to 1", or None (described, not ranked).
    better: str | None = None
    short: str | None = None  # for figure panels and finding sentences (default: ``label``)
    margin: float | None = None  # equivalence margin of a fairness gap (absolute difference); None: not judged
    interval: str | None = None  # how its interval is made by default
    tasks: tuple[str, ...] = ("binary",)

    @property
    def direction(self) -> str | None:
        """"higher" or "lower" when one way is simply better (targets, worst groups), else None."""
        return self.better if self.better in ("higher", "lower") else None


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("auroc", "AUROC", "higher", margin=0.05, interval=AUROC_RULE),
    Metric("auprc", "AUPRC", "higher", interval=BOOTSTRAP),
    Metric("sensitivity", "Sensitivity (recall)", "higher", short="Sensitivity", margin=0.05, interval=SCORE_OR_EXACT,
           tasks=("binary", "survival")),
    Metric("specificity", "Specificity", "higher", margin=0.05, interval=SCORE_OR_EXACT, tasks=("binary", "survival")),
    Metric("ppv", "PPV (precision)", "higher", margin=0.05, interval=SCORE_OR_EXACT),
    Metric("npv", "NPV", "higher", margin=0.05, interval=SCORE_OR_EXACT),
    Metric("accuracy", "Accuracy", "higher", interval=SCORE_OR_EXACT, tasks=BOTH),
    Metric("balanced_accuracy", "Balanced accuracy", "higher", interval=BOOTSTRAP, tasks=BOTH),
    Metric("f1", "F1 score", "higher", interval=BOOTSTRAP),
    Metric("brier", "Brier score", "lower", margin=0.02, interval=BOOTSTRAP, tasks=("binary", "multiclass", "survival")),
    Metric("calibration_intercept", "Calibration intercept", "closer to 0", interval=MODEL_BASED),
    Metric("calibration_slope", "Calibration slope", "closer to 1", interval=MODEL_BASED, tasks=("binary", "survival")),
    Metric("ece", "Expected calibration error", "lower", interval=BOOTSTRAP),
    Metric("coverage", "Coverage", "higher", interval=SCORE_OR_EXACT),
    Metric("mean_set_size", "Mean prediction-set size", "lower", interval="normal approximation"),
    Metric("fnr", "FNR (underdiagnosis)", "lower", margin=0.05, interval=SCORE_OR_EXACT),
    Metric("fpr", "FPR (overdiagnosis)", "lower", margin=0.05, interval=SCORE_OR_EXACT),
    Metric("selection_rate", "Selection rate", interval=SCORE_OR_EXACT),
    Metric("prevalence", "Prevalence", interval=SCORE_OR_EXACT),
    Metric("oe_ratio", "Observed / expected events (O:E)", "closer to 1", interval="Poisson (log scale)", tasks=("binary", "survival")),
    Metric("ece_equal_mass", "ECE, equal-mass bins", "lower", interval=BOOTSTRAP),
    # multiclass and ordinal (audit.stats.multiclass)
    Metric("macro_f1", "Macro-F1", "higher", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("top2_accuracy", "Top-2 accuracy", "higher", interval=SCORE_OR_EXACT, tasks=MULTICLASS),
    Metric("auroc_hand_till", "AUROC (Hand–Till, all pairs of classes)", "higher", short="AUROC (Hand–Till)", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("auroc_ovr_macro", "AUROC, one-vs-rest (macro)", "higher", short="AUROC OvR macro", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("auroc_ovr_weighted", "AUROC, one-vs-rest (prevalence-weighted)", "higher", short="AUROC OvR weighted", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("log_loss", "Log loss", "lower", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("log_loss_clipped", "Log loss (probabilities clipped at 1e-15)", "lower", short="Log loss (clipped)", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("kappa_quadratic", "Quadratic-weighted kappa", "higher", short="Kappa (quadratic)", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("kappa_linear", "Linear-weighted kappa", "higher", short="Kappa (linear)", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("rps", "Ranked probability score", "lower", short="RPS", interval=BOOTSTRAP, tasks=MULTICLASS),
    Metric("mae_grade", "Mean absolute grade error", "lower", short="Grade error", interval=BOOTSTRAP, tasks=MULTICLASS),
    # multilabel (audit.stats.multilabel)
    Metric("auroc_macro", "AUROC, macro average over labels", "higher", short="AUROC macro", interval=BOOTSTRAP, tasks=("multilabel",)),
    Metric("auroc_micro", "AUROC, micro average (labels pooled)", "higher", short="AUROC micro", interval=BOOTSTRAP, tasks=("multilabel",)),
    Metric("auprc_macro", "AUPRC, macro average over labels", "higher", short="AUPRC macro", interval=BOOTSTRAP, tasks=("multilabel",)),
    Metric("auprc_micro", "AUPRC, micro average (labels pooled)", "higher", short="AUPRC micro", interval=BOOTSTRAP, tasks=("multilabel",)),
    # judged with the margin of the "no finding" label's FPR, which it is (checks.fairness_multilabel)
    # survival (audit.stats.survival): the concordance once per dataset, the rest at each horizon
    Metric("harrell_c", "Harrell's C (truncated at the horizon)", "higher", short="Harrell's C", margin=0.05, interval=IJ, tasks=SURVIVAL),
    Metric("uno_c", "Uno's C (censoring-weighted, truncated at the horizon)", "higher", short="Uno's C", margin=0.05, interval=IJ,
           tasks=SURVIVAL),
    Metric("auc_t", "Time-dependent AUC (cumulative/dynamic, IPCW)", "higher", short="AUC(t)", margin=0.05, interval=BOOTSTRAP,
           tasks=SURVIVAL),
    Metric("ipa", "Index of prediction accuracy (IPA, scaled Brier)", "higher", short="IPA", interval=BOOTSTRAP, tasks=SURVIVAL),
    Metric("observed_risk", "Observed risk (1 - Kaplan–Meier)", short="Observed risk", interval=BOOTSTRAP, tasks=SURVIVAL),
    Metric("expected_risk", "Mean predicted risk", short="Predicted risk", interval=BOOTSTRAP, tasks=SURVIVAL),
    Metric("underdiagnosis", "Underdiagnosis rate (called 'no finding' despite a finding)", "lower", short="Underdiagnosis",
           interval=SCORE_OR_EXACT, tasks=("multilabel",)),
    # segmentation (audit.stats.segmentation): per case and structure, summarised over cases; distances in mm
    Metric("dice", "Dice similarity coefficient (DSC)", "higher", short="Dice", margin=0.05, interval=CASES, tasks=SEGMENTATION),
    Metric("iou", "Intersection over union (IoU, Jaccard)", "higher", short="IoU", interval=CASES, tasks=SEGMENTATION),
    Metric("hd95", "95th-percentile Hausdorff distance (mm)", "lower", short="HD95", margin=2.0, interval=CASES, tasks=SEGMENTATION),
    Metric("hd", "Hausdorff distance (mm)", "lower", short="HD", interval=CASES, tasks=SEGMENTATION),
    Metric("nsd", "Normalised surface distance (NSD) at the tolerance", "higher", short="NSD", margin=0.05, interval=CASES,
           tasks=SEGMENTATION),
    Metric("masd", "Mean average surface distance (MASD, mm)", "lower", short="MASD", interval=CASES, tasks=SEGMENTATION),
    Metric("assd", "Average symmetric surface distance (ASSD, mm)", "lower", short="ASSD", interval=CASES, tasks=SEGMENTATION),
    Metric("volume_difference", "Absolute volume difference (mm³)", "lower", short="|ΔV|", interval=CASES, tasks=SEGMENTATION),
    Metric("relative_volume_difference", "Relative volume difference (predicted − reference) / reference", "closer to 0",
           short="Relative ΔV", interval=CASES, tasks=SEGMENTATION),
    Metric("detection_rate", "Detection rate (cases with the structure in which the prediction finds it)", "higher",
           short="Detected", interval=CASES, tasks=SEGMENTATION),
    Metric("lesion_sensitivity", "Lesion-wise sensitivity (reference lesions overlapped)", "higher", short="Lesion sensitivity",
           interval=CASES, tasks=SEGMENTATION),
    Metric("false_positive_lesions", "False-positive lesions per case", "lower", short="FP lesions / case", interval=CASES,
           tasks=SEGMENTATION),
)

#: name → :class:`Metric`.
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRIC_TABLE}


def _ordered(names: tuple[str, ...], value) -> dict:
    """``{name: value(metric)}`` in the order ``names`` gives, for every metric with a value."""
    return {n: value(METRICS_BY_NAME[n]) for n in names if value(METRICS_BY_NAME[n]) is not None}


#: Which direction is better, for targets and worst groups: "higher" or "lower" (metrics not listed have none).
#: (This order, higher first, is the one results.json and messages have always shown.)
METRIC_DIRECTION = _ordered(
    ("auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy", "f1", "coverage",
     "brier", "fnr", "fpr", "ece", "ece_equal_mass", "mean_set_size",
     "macro_f1", "top2_accuracy", "auroc_hand_till", "auroc_ovr_macro", "auroc_ovr_weighted", "kappa_quadratic",
     "kappa_linear", "log_loss", "log_loss_clipped", "rps", "mae_grade", "auroc_macro", "auroc_micro", "auprc_macro",
     "auprc_micro", "underdiagnosis", "harrell_c", "uno_c", "auc_t", "ipa",
     "dice", "iou", "hd95", "hd", "nsd", "masd", "assd", "volume_difference", "detection_rate", "lesion_sensitivity",
     "false_positive_lesions"), lambda m: m.direction)

#: Equivalence margins for fairness gaps (absolute differences between groups): a gap whose simultaneous
#: interval lies inside (-m, m) is "within margin". Metrics without a margin are described, not judged
#: (the selection rate differs with prevalence by design). ``settings.fairness_margins`` overrides.
EQUIVALENCE_MARGINS = _ordered(("auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr", "brier", "harrell_c", "uno_c",
                                "auc_t", "dice", "hd95", "nsd"), lambda m: m.margin)

#: Which way is better, as the report's "better" column says it (metrics not listed show nothing).
METRIC_BETTER = {m.name: m.better for m in METRIC_TABLE if m.better is not None}

METRIC_LABELS = {m.name: m.label for m in METRIC_TABLE}

#: Shorter names for figure panels and finding sentences.
SHORT_METRIC_LABELS: dict[str, str] = {m.name: m.short or m.label for m in METRIC_TABLE}

#: Metrics for which a higher or a lower value is simply better.
HIGHER_IS_BETTER = frozenset(n for n, d in METRIC_DIRECTION.items() if d == "higher")
LOWER_IS_BETTER = frozenset(n for n, d in METRIC_DIRECTION.items() if d == "lower")


#: How much a finding matters, most first: the order of findings in results.json and the report.
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def metric_label(name: str, short: bool = False) -> str:
    """A metric's label; a per-class metric ``sensitivity[3]`` reads "Sensitivity, class 3"."""
    labels = SHORT_METRIC_LABELS if short else METRIC_LABELS
    name = str(name)
    if name.endswith("]") and "[" in name:
        base, _, label = name[:-1].partition("[")
        if base in METRICS_BY_NAME and "segmentation" in METRICS_BY_NAME[base].tasks:
            return f"{metric_label(base, short=True)}, {label}"  # a structure: dice[whole_tumour]
        return f"{metric_label(base, short=True)}, class {label}"
    return labels.get(name, name.replace("_", " ").capitalize())


#: What each robustness perturbation does, as a sentence can start with it.
PERTURBATION_LABELS = {
    "noise": "Measurement noise",
    "missing": "Missing values",
    "categorical_flip": "Miscoded categories",
    "gaussian_noise": "Image noise",
    "blur": "Blur",
    "contrast": "Contrast loss",
    "gamma": "Gamma shift",
    "bias_field": "Bias field (uneven intensity)",
    "downsample": "Lower resolution",
    "jpeg": "JPEG compression",
}


def perturbation_label(kind: str) -> str:
    return PERTURBATION_LABELS.get(kind, str(kind).replace("_", " ").capitalize())
