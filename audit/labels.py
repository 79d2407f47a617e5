"""Human-readable names of metrics: one vocabulary for checks' findings, figures and the report."""

METRIC_LABELS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "ppv": "PPV (precision)",
    "npv": "NPV",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1 score",
    "brier": "Brier score",
    "calibration_intercept": "Calibration intercept",
    "calibration_slope": "Calibration slope",
    "ece": "Expected calibration error",
    "coverage": "Coverage",
    "mean_set_size": "Mean prediction-set size",
    "fnr": "FNR (underdiagnosis)",
    "fpr": "FPR (overdiagnosis)",
    "selection_rate": "Selection rate",
    "prevalence": "Prevalence",
    "oe_ratio": "Observed / expected events (O:E)",
    "ece_equal_mass": "ECE, equal-mass bins",
}

#: Which direction is better, for targets and worst groups: "higher" or "lower" (metrics not listed have none).
METRIC_DIRECTION = {
    **dict.fromkeys(("auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy", "f1", "coverage"), "higher"),
    **dict.fromkeys(("brier", "fnr", "fpr", "ece", "ece_equal_mass", "mean_set_size"), "lower"),
}

#: Equivalence margins for fairness gaps (absolute differences between groups): a gap whose simultaneous
#: interval lies inside (-m, m) is "within margin". Metrics without a margin are described, not judged
#: (the selection rate differs with prevalence by design). ``settings.fairness_margins`` overrides.
EQUIVALENCE_MARGINS = {
    **dict.fromkeys(("auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr"), 0.05),
    "brier": 0.02,
}

#: Shorter names for figure panels and finding sentences.
SHORT_METRIC_LABELS: dict[str, str] = {**METRIC_LABELS, "sensitivity": "Sensitivity"}


def metric_label(name: str, short: bool = False) -> str:
    labels = SHORT_METRIC_LABELS if short else METRIC_LABELS
    return labels.get(name, str(name).replace("_", " ").capitalize())


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
