"""Issue 21: what an audit stores stays small at any n. ROC and precision-recall curves are kept at most
``performance.CURVE_POINTS`` (300) points, evenly spaced along the full curve's points with both ends kept;
calibration curves at most ``calibration.CURVE_POINTS`` (200) points of the sorted predictions; decision curves
at the spec's thresholds. So results.json and figures.json barely change between 2,000 and 20,000 patients, and
every stored point is a point of the full curve (to the 6 digits stored)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

import audit
from audit.checks import calibration, performance


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 1)))).astype(int)
    p = 1 / (1 + np.exp(-(0.9 * x - 0.9 + rng.normal(0, 0.3, n))))
    return pd.DataFrame({"y": y, "p": p.round(7), "sex": rng.choice(["F", "M"], n)})


def _audit(tmp_path, n: int):
    frame = _table(n, n)
    frame.to_csv(tmp_path / f"t{n}.csv", index=False)
    spec = {"name": "scale", "data": {"test": str(tmp_path / f"t{n}.csv"), "target": "y", "prediction": "p", "sensitive": ["sex"]},
            "settings": {"seed": 1, "n_resamples": 50}, "checks": ["performance", "calibration", "utility"]}
    result = audit.run(spec)
    return frame, result


def test_results_and_figures_stay_small_as_n_grows_and_keep_points_of_the_full_curves(tmp_path):
    sizes = {}
    for n in (2_000, 20_000):
        frame, result = _audit(tmp_path, n)
        sizes[n] = (len(result.to_json()), len(result.figures_json()))
        curves = result.results["sections"]["performance"]["datasets"]["test"]["curves"]
        fpr, tpr, _ = roc_curve(frame["y"], frame["p"])
        assert len(curves["roc"]["fpr"]) <= performance.CURVE_POINTS < fpr.size
        full = set(zip(np.round(fpr, 6), np.round(tpr, 6)))
        assert all((f, t) in full for f, t in zip(curves["roc"]["fpr"], curves["roc"]["tpr"]))
        assert curves["roc"]["fpr"][0] == 0.0 and curves["roc"]["tpr"][-1] == 1.0  # both ends kept
        precision, recall, _ = precision_recall_curve(frame["y"], frame["p"])
        full_pr = set(zip(np.round(recall, 6), np.round(precision, 6)))
        assert len(curves["pr"]["recall"]) <= performance.CURVE_POINTS
        assert all(pair in full_pr for pair in zip(curves["pr"]["recall"], curves["pr"]["precision"]))
        smooth = result.results["sections"]["calibration"]["datasets"]["test"]["curve"]["smooth"]
        assert len(smooth["predicted"]) <= calibration.CURVE_POINTS
        assert smooth["predicted"] == sorted(smooth["predicted"])
    (json_small, fig_small), (json_large, fig_large) = sizes[2_000], sizes[20_000]
    assert json_large < 1.1 * json_small and fig_large < 1.1 * fig_small, sizes
    assert json.loads(result.to_json())  # still valid JSON
