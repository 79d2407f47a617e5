"""Reader agreement in an audit: data.readers → kappas with intervals, CLAIM-18 evidence, plain errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

import audit
from audit.cli import main


def _table(n=240, seed=4):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    table = pd.DataFrame({"outcome": np.where(truth == 1, "yes", "no"), "p": np.clip(0.3 + 0.4 * truth + rng.normal(0, 0.2, n), 0, 1)})
    for reader, flip in (("r1", 0.1), ("r2", 0.15), ("r3", 0.2)):
        read = np.where(rng.random(n) < flip, 1 - truth, truth)
        table[reader] = np.where(read == 1, "yes", "no")
    table.loc[rng.choice(n, 17, replace=False), "r3"] = None  # r3 did not see 17 patients
    return table


def _spec(path, **data):
    return {"name": "readers", "data": {"test": str(path), "target": "outcome", "positive_label": "yes", "prediction": "p",
                                        "readers": ["r1", "r2", "r3"], **data},
            "settings": {"n_resamples": 200, "seed": 1}, "checks": ["profile"], "checklists": ["claim-2024"]}


def test_kappas_equal_statsmodels_and_sklearn_on_the_patients_every_reader_labelled(tmp_path):
    table = _table()
    table.to_csv(tmp_path / "t.csv", index=False)
    result = audit.run(_spec(tmp_path / "t.csv"))
    agreement = result.sections["profile"]["datasets"]["test"]["agreement"]
    complete = table.dropna(subset=["r1", "r2", "r3"])
    reads = (complete[["r1", "r2", "r3"]] == "yes").to_numpy().astype(int)
    assert agreement["n"] == len(complete) == 240 - 17 and agreement["n_incomplete"] == 17
    fleiss = agreement["fleiss"]
    assert fleiss["value"] == pytest.approx(fleiss_kappa(aggregate_raters(reads)[0], method="fleiss"), abs=1e-12)
    assert fleiss["ci"][0] < fleiss["value"] < fleiss["ci"][1] and fleiss["method"].startswith("bootstrap")
    pair = agreement["pairs"][0]
    assert (pair["a"], pair["b"]) == ("r1", "r2")
    assert pair["kappa"]["value"] == pytest.approx(cohen_kappa_score(reads[:, 0], reads[:, 1]), abs=1e-12)
    truth = (complete["outcome"] == "yes").to_numpy().astype(int)
    assert agreement["reference"][2]["kappa"]["value"] == pytest.approx(cohen_kappa_score(reads[:, 2], truth), abs=1e-12)
    assert "labels.agreement" in result.sections["profile"]["evidence"]
    item = result.results["checklists"]["claim-2024"]["items"]["CLAIM-18"]
    assert item["status"] == "partly evidenced"  # the numbers are there; how readers were trained is the user's to say
    assert any("Fleiss' kappa" in f["message"] for f in result.results["findings"] if f["check"] == "profile")


def test_report_shows_the_agreement_table(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "out"
    assert main(["run", str(_write_spec(tmp_path, _spec(tmp_path / "t.csv"))), "--out", str(out), "--quiet"]) == 0
    html = (out / "report.html").read_text()
    assert "Reader agreement on test" in html and "(Fleiss)" in html


def _write_spec(tmp_path, raw):
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(r2=t["r2"].replace("yes", "maybe")), "reader column 'r2' holds 'maybe'"),
    (lambda t: t.drop(columns="r1"), "no column 'r1' (named by data.readers"),
])
def test_bad_reader_columns_are_one_plain_error(tmp_path, capsys, change, message):
    change(_table()).to_csv(tmp_path / "t.csv", index=False)
    assert main(["run", str(_write_spec(tmp_path, _spec(tmp_path / "t.csv"))), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_one_reader_is_a_spec_error(tmp_path, capsys):
    _table().to_csv(tmp_path / "t.csv", index=False)
    raw = _spec(tmp_path / "t.csv", readers=["r1"])
    assert main(["run", str(_write_spec(tmp_path, raw)), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "agreement needs two or more readers" in capsys.readouterr().err
