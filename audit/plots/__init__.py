"""Figures for the report: matplotlib → deterministic, self-contained SVG strings, one module per check.

Plots are drawn with matplotlib's object-oriented API (``matplotlib.figure.Figure`` rendered
by the non-interactive SVG canvas), never through ``pyplot``: no GUI backend is touched, no
global figure registry keeps figures alive, and drawing works headless and in threads.

Each check's figures live beside the check they draw: :mod:`.performance` (ROC, precision–recall),
:mod:`.fairness` (subgroup forest plot), :mod:`.calibration` (reliability diagram), :mod:`.utility`
(decision curves), :mod:`.uncertainty` (conformal coverage), :mod:`.robustness` (robust accuracy,
severity, adversarial examples) and :mod:`.external` (gaps, risk distributions, shift). What they
all share — the matplotlib settings, the Okabe–Ito palette and line styles, number formatting and
:func:`figure_to_svg` — is in :mod:`.style`. Every figure function is re-exported here, so callers
write ``plots.roc_figure(...)``.
"""

from __future__ import annotations

from .calibration import reliability_figure
from .external import gap_figure, risk_distribution_figure, shift_figure
from .fairness import FOREST_METRIC_LABELS, forest_figure
from .performance import confusion_figure, pr_figure, roc_figure
from .robustness import adversarial_grid_figure, robust_accuracy_figure, severity_figure
from .style import LINE_STYLES, OKABE_ITO, figure_to_svg
from .uncertainty import coverage_figure
from .utility import decision_curve_figure

__all__ = [
    "OKABE_ITO",
    "LINE_STYLES",
    "FOREST_METRIC_LABELS",
    "figure_to_svg",
    "roc_figure",
    "confusion_figure",
    "pr_figure",
    "forest_figure",
    "reliability_figure",
    "decision_curve_figure",
    "coverage_figure",
    "robust_accuracy_figure",
    "severity_figure",
    "adversarial_grid_figure",
    "gap_figure",
    "risk_distribution_figure",
    "shift_figure",
]
