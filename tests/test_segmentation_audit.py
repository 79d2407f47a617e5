"""Segmentation audits end to end: files as users have them, the orientation rules, bad input, per-case results and
identical results serially, on local processes and on Dask."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

nib = pytest.importorskip("nibabel")

from audit.cli import main  # noqa: E402
from audit.errors import AuditInputError  # noqa: E402
from audit.runner import run  # noqa: E402

AFFINE = np.diag([0.8, 0.8, 1.0, 1.0])


def _disc(shape, centre, radius):
    g = np.indices(shape).astype(float)
    return sum((gi - c) ** 2 for gi, c in zip(g, centre)) <= radius**2


def make_cases(folder, n=24, seed=0, shift=0.8, affine=AFFINE):
    """``n`` 2-D NIfTI cases (label 1 a disc, label 2 its core), two cases per patient, every 8th case without a
    lesion, every 7th prediction empty (a miss); written with a case table ``cases.csv``."""
    rng = np.random.default_rng(seed)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    (folder / "preds").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        ref = np.zeros((24, 24), np.uint8)
        pred = np.zeros((24, 24), np.uint8)
        if i % 8:
            c, r = rng.uniform(7, 17, 2), rng.uniform(2.5, 6)
            ref[_disc(ref.shape, c, r)] = 1
            ref[_disc(ref.shape, c, r / 2)] = 2
            if i % 7:
                c2, r2 = c + rng.normal(0, shift, 2), r * rng.uniform(0.8, 1.2)
                pred[_disc(ref.shape, c2, r2)] = 1
                pred[_disc(ref.shape, c2, r2 / 2)] = 2
        nib.save(nib.Nifti1Image(ref, affine), folder / "masks" / f"c{i}.nii.gz")
        nib.save(nib.Nifti1Image(pred, affine), folder / "preds" / f"c{i}.nii.gz")
        rows.append({"case": f"c{i}", "patient": f"p{i // 2}", "sex": "FM"[(i // 2) % 2],
                     "mask": f"masks/c{i}.nii.gz", "pred": f"preds/c{i}.nii.gz"})
    pd.DataFrame(rows).to_csv(folder / "cases.csv", index=False)
    return folder / "cases.csv"


def spec(tmp_path, **settings):
    make_cases(tmp_path / "a")
    return {
        "name": "segmentation test", "task": "segmentation",
        "data": {"test": str(tmp_path / "a" / "cases.csv"), "mask": "mask", "prediction": "pred", "id": "case",
                 "cluster": "patient", "sensitive": ["sex"], "labels": {"whole": [1, 2], "core": [2]}},
        "settings": {"n_resamples": 200, "nsd_tolerance": 1.0, **settings},
        "checks": ["performance"],
    }


def test_audit_reports_cases_policy_and_intervals(tmp_path):
    result = run(spec(tmp_path)).results
    section = result["sections"]["performance"]
    whole = section["datasets"]["test"]["structures"]["whole"]
    assert whole["counts"] == {"both_present": 18, "missed": 3, "false_positive": 0, "both_empty": 3}
    cases = section["datasets"]["test"]["cases"]
    assert [c["id"] for c in cases] == [f"c{i}" for i in range(24)]  # no case disappears
    dice = np.array([c["structures"]["whole"]["dice"] for c in cases], dtype=float)
    assert whole["metrics"]["dice"]["mean"]["value"] == pytest.approx(np.nanmean(dice))  # recomputable from cases[]
    assert whole["metrics"]["dice"]["median"]["value"] == pytest.approx(np.nanmedian(dice))
    detected = [c["structures"]["whole"]["dice"] for c in cases if c["structures"]["whole"]["status"] == "both_present"]
    assert whole["metrics"]["dice"]["detected_mean"]["value"] == pytest.approx(np.mean(detected))
    assert whole["metrics"]["dice"]["detected_mean"]["value"] > whole["metrics"]["dice"]["mean"]["value"]  # misses count
    assert whole["detection_rate"]["value"] == pytest.approx(18 / 21)
    assert whole["metrics"]["dice"]["mean"]["method"] == "cluster-bootstrap-bca"
    assert [w["status"] for w in whole["worst_cases"][:3]] == ["missed"] * 3
    missed = [c for c in cases if c["structures"]["whole"]["status"] == "missed"]
    assert all(c["structures"]["whole"]["hd95"] == 100.0 for c in missed)  # the default distance cap
    assert result["datasets"]["test"]["spacing"] == "NIfTI header"
    import hashlib

    from audit.data import sha256_file

    files = [tmp_path / "a" / p for c in range(24) for p in (f"masks/c{c}.nii.gz", f"preds/c{c}.nii.gz")]
    digest = hashlib.sha256("".join(sha256_file(f) for f in files).encode()).hexdigest()
    assert result["datasets"]["test"]["case_files_sha256"] == digest  # provenance of every case file
    assert any("Dice 0 and distances 100 mm" in f["message"] for f in result["findings"])
    unclustered = spec(tmp_path)
    del unclustered["data"]["cluster"]
    mean = run(unclustered).results["sections"]["performance"]["datasets"]["test"]["structures"]["whole"]["metrics"]["dice"]["mean"]
    assert mean["method"] == "bootstrap-jeffreys-mixture" and mean["ci"][0] < mean["value"] < mean["ci"][1]
    best = run(spec(tmp_path, both_empty="best")).results["sections"]["performance"]["datasets"]["test"]["structures"]["whole"]
    assert best["metrics"]["dice"]["mean"]["value"] > whole["metrics"]["dice"]["mean"]["value"]  # 3 perfect cases added


def test_nifti_spacing_is_honoured(tmp_path):
    one = tmp_path / "one"
    make_cases(one, n=10)
    two = tmp_path / "two"
    make_cases(two, n=10, affine=np.diag([1.6, 1.6, 1.0, 1.0]))
    base = {"name": "s", "task": "segmentation", "data": {"mask": "mask", "prediction": "pred", "labels": {"whole": [1, 2]}},
            "settings": {"n_resamples": 50}}

    def hd95(folder):
        s = base | {"data": base["data"] | {"test": str(folder / "cases.csv")}}
        cases = run(s).results["sections"]["performance"]["datasets"]["test"]["cases"]
        return np.array([c["structures"]["whole"]["hd95"] for c in cases if c["structures"]["whole"]["status"] == "both_present"])

    np.testing.assert_allclose(hd95(two), 2 * hd95(one))


def _rewrite(folder, case, array=None, affine=AFFINE, name=None):
    path = folder / "preds" / (name or f"{case}.nii.gz")
    if path.suffix == ".npy":
        np.save(path, array)
    else:
        nib.save(nib.Nifti1Image(array, affine), path)
    table = pd.read_csv(folder / "cases.csv")
    table.loc[table["case"] == case, "pred"] = f"preds/{path.name}"
    table.to_csv(folder / "cases.csv", index=False)


def test_orientation_rules_name_the_case(tmp_path):
    s = spec(tmp_path)
    folder = tmp_path / "a"
    mask = np.asanyarray(nib.load(folder / "masks" / "c3.nii.gz").dataobj)
    _rewrite(folder, "c3", mask, affine=np.diag([-0.8, 0.8, 1.0, 1.0]))  # flipped x axis
    with pytest.raises(AuditInputError, match=r"case c3: the prediction's NIfTI affine differs"):
        run(s)
    _rewrite(folder, "c3", mask.T.copy(), name="c3.npy")  # an array prediction: its axis order is unknown
    with pytest.raises(AuditInputError, match=r"case c3: .*state it in data.prediction_axes"):
        run(s)
    s["data"]["prediction_axes"] = "yx"  # stated: transposed back by the statement, and the audit runs
    run(s)
    _rewrite(folder, "c3", np.zeros((20, 24), np.uint8))
    with pytest.raises(AuditInputError, match=r"case c3: the prediction has shape \(20, 24\), the mask \(24, 24\)"):
        run(s)


def _cli_error(tmp_path, s, capsys):
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(s))
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists() and "Traceback" not in err
    return err


def test_bad_input_is_one_plain_message(tmp_path, capsys):
    s = spec(tmp_path)
    (tmp_path / "a" / "preds" / "c5.nii.gz").unlink()
    assert "case c5" in _cli_error(tmp_path, s, capsys) and "does not exist"
    make_cases(tmp_path / "a")
    s["data"]["labels"] = {"core": [2]}
    err = _cli_error(tmp_path, s, capsys)
    assert "label value 1, which data.labels does not list" in err
    s["data"]["labels"] = {"whole": [1, 2]}
    s["data"]["prediction_axes"] = "qx"
    assert "data.prediction_axes" in _cli_error(tmp_path, s, capsys)


def test_serial_parallel_and_dask_give_identical_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    s = spec(tmp_path)
    results = []
    for extra in ({}, {"n_jobs": 2}):
        s2 = json.loads(json.dumps(s))
        s2["settings"].update(extra)
        results.append(json.dumps(run(s2).results, sort_keys=True))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        s3 = json.loads(json.dumps(s))
        s3["settings"]["scheduler"] = cluster.scheduler_address
        results.append(json.dumps(run(s3).results, sort_keys=True))
    assert results[0] == results[1] == results[2]


def test_fairness_and_external_read_the_cases(tmp_path):
    s = spec(tmp_path, min_group_size=5, n_resamples=300)
    make_cases(tmp_path / "b", seed=4, shift=2.0)
    s["data"]["external"] = {"site_b": str(tmp_path / "b" / "cases.csv")}
    s["data"]["id_scope"] = "dataset"
    s["checks"] = ["performance", "fairness", "external", "calibration", "uncertainty"]
    result = run(s).results
    cases = result["sections"]["performance"]["datasets"]["test"]["cases"]
    table = pd.read_csv(tmp_path / "a" / "cases.csv")
    dice = pd.Series([c["structures"]["whole"]["dice"] for c in cases], dtype=float)
    by_sex = dice.groupby(table["sex"]).mean()  # pandas skips the excluded (nan) cases, as the audit does
    part = next(p for p in result["sections"]["fairness"]["datasets"]["test"]["partitions"] if p["name"] == "sex")
    groups = {g["label"]: g["metrics"]["dice[whole]"]["value"] for g in part["groups"]}
    assert groups == pytest.approx(by_sex.to_dict())
    row = part["gaps"]["dice[whole]"]["comparisons"][0]
    assert row["difference"]["value"] == pytest.approx(groups[row["group"]] - groups[part["reference"]])
    assert row["margin"] == 0.05 and row["classification"] in ("within margin", "inconclusive", "small gap", "material gap")
    assert result["sections"]["fairness"]["margins"]["hd95[whole]"] == 2.0
    gap = result["sections"]["external"]["datasets"]["site_b"]["gaps"]["dice[whole]"]
    assert gap["difference"]["value"] == pytest.approx(gap["external"]["value"] - gap["internal"]["value"])
    assert gap["difference"]["ci"][0] < gap["difference"]["value"] < gap["difference"]["ci"][1]
    assert result["sections"]["calibration"]["status"] == "not run"
    assert "label maps" in result["sections"]["calibration"]["reason"]  # calibration needs probabilities
    assert result["sections"]["uncertainty"]["reason"] == "not defined for segmentation outcomes"


class Threshold:
    """A fixed 'network' with a channel per label value (0, 1, 2): class 1 where the image is bright (logit 20 (x - 0.5)),
    class 2 never."""

    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = torch.nn.Parameter(torch.tensor(20.0))

            def forward(self, x):
                z = self.scale * (x[:, :1] - 0.5)
                return torch.cat([torch.zeros_like(z), z, torch.full_like(z, -30.0)], dim=1)

        return Net()


def write_images(folder, scale=1000.0):
    """Each case's image: its whole-lesion mask times ``scale`` (raw units), as NIfTI on the mask's grid."""
    (folder / "images").mkdir(exist_ok=True)
    table = pd.read_csv(folder / "cases.csv")
    for case in table["case"]:
        mask = np.asanyarray(nib.load(folder / "masks" / f"{case}.nii.gz").dataobj)
        nib.save(nib.Nifti1Image((mask > 0).astype(np.float32) * scale, AFFINE), folder / "images" / f"{case}.nii.gz")
    table["image"] = [f"images/{c}.nii.gz" for c in table["case"]]
    table.to_csv(folder / "cases.csv", index=False)


def test_a_torch_model_segments_the_images(tmp_path):
    pytest.importorskip("torch")
    s = spec(tmp_path)
    write_images(tmp_path / "a")
    del s["data"]["prediction"]
    s["data"]["image"] = "image"
    s["data"]["labels"] = {"whole": [1, 2]}
    s["model"] = {"window": [0.0, 1000.0]}
    result = run(s, model=Threshold.build()).results
    whole = result["sections"]["performance"]["datasets"]["test"]["structures"]["whole"]
    assert whole["metrics"]["dice"]["mean"]["value"] == 1.0  # the network reproduces every mask
    s["model"] = {}
    with pytest.raises(AuditInputError, match=r"case c1: the image's intensities run from 0 to 1000, outside \[0, 1\]"):
        run(s, model=Threshold.build())


def test_robustness_corruptions_and_dice_pgd(tmp_path):
    pytest.importorskip("torchattacks")
    s = spec(tmp_path, n_resamples=100)
    write_images(tmp_path / "a")
    del s["data"]["prediction"]
    s["data"].update(image="image", labels={"whole": [1, 2]})
    s["model"] = {"window": [0.0, 1000.0]}
    s["checks"] = ["robustness"]
    s["robustness"] = {"perturbations": ["contrast", "gaussian_noise"], "severities": [0, 0.2, 0.9], "attacks": ["pgd"],
                       "epsilons": [0, 0.2, 0.6], "steps": 5}
    section = run(s, model=Threshold.build()).results["sections"]["robustness"]
    test = section["datasets"]["test"]
    assert test["clean"]["structures"]["whole"]["dice"]["value"] == 1.0
    contrast = test["corruptions"]["contrast"]["points"]
    assert contrast[0]["structures"]["whole"]["dice"]["value"] == 1.0  # 1 -> m + 0.8 (1 - m) stays above 0.5
    assert contrast[1]["structures"]["whole"]["dice"]["value"] < 0.5  # at 0.9 the lesions fall below the threshold
    change = contrast[1]["structures"]["whole"]["dice_change"]
    assert change["value"] == pytest.approx(contrast[1]["structures"]["whole"]["dice"]["value"] - 1.0)
    pgd = test["attacks"]["dice_pgd"]["points"]
    assert pgd[0]["structures"]["whole"]["dice"]["value"] == 1.0  # 1 - 0.2 > 0.5: the budget cannot flip a voxel
    assert pgd[1]["structures"]["whole"]["dice"]["value"] < 0.2  # 0.6 can, and the Dice-loss ascent does
    assert {c["verdict"] for c in section["criteria"]} == {"pass"}  # mildest severity of each corruption keeps Dice


def test_probability_maps_from_nnunet_style_arrays(tmp_path):
    """Channel-first .npz probabilities (nnU-Net's export) for NIfTI masks: the axis order stated, labels by arg-max,
    and the voxel calibration check run on them."""
    from scipy.ndimage import gaussian_filter

    s = spec(tmp_path)
    folder = tmp_path / "a"
    table = pd.read_csv(folder / "cases.csv")
    for case in table["case"]:
        pred = np.asanyarray(nib.load(folder / "preds" / f"{case}.nii.gz").dataobj)
        one_hot = np.stack([gaussian_filter((pred == v).astype(float), 0.7) for v in range(3)])
        probabilities = one_hot / one_hot.sum(axis=0)
        np.savez(folder / "preds" / f"{case}.npz", probabilities=probabilities.transpose(0, 2, 1))  # c, y, x on disk
    table["pred"] = [f"preds/{c}.npz" for c in table["case"]]
    table.to_csv(folder / "cases.csv", index=False)
    s["data"].update(prediction_type="probabilities", prediction_axes="cyx", npz_key="probabilities")
    s["checks"] = ["performance", "calibration"]
    result = run(s).results
    labels_only = run(spec(tmp_path / "again")).results
    dice = result["sections"]["performance"]["datasets"]["test"]["structures"]["whole"]["metrics"]["dice"]["mean"]["value"]
    assert dice == labels_only["sections"]["performance"]["datasets"]["test"]["structures"]["whole"]["metrics"]["dice"]["mean"]["value"]
    calibration = result["sections"]["calibration"]
    assert calibration["status"] in ("pass", "fail", "inconclusive")
    whole = calibration["datasets"]["test"]["structures"]["whole"]
    assert whole["ece"]["ci"] is not None and whole["oe_ratio"]["value"] > 0
    del s["data"]["prediction_axes"]
    with pytest.raises(AuditInputError, match=r"case c0: the mask is NIfTI but the prediction is an array file"):
        run(s)


def test_png_cases_take_their_spacing_from_the_spec_and_a_header_is_never_contradicted(tmp_path):
    from PIL import Image

    folder = tmp_path / "png"
    make_cases(folder, n=12)
    table = pd.read_csv(folder / "cases.csv")
    for column in ("mask", "pred"):
        for path in table[column]:
            array = np.asanyarray(nib.load(folder / path).dataobj).astype(np.uint8)
            Image.fromarray(array).save(folder / path.replace(".nii.gz", ".png"))
        table[column] = table[column].str.replace(".nii.gz", ".png")
    table.to_csv(folder / "cases.csv", index=False)
    base = {"name": "png", "task": "segmentation", "settings": {"n_resamples": 50},
            "data": {"test": str(folder / "cases.csv"), "mask": "mask", "prediction": "pred", "id": "case",
                     "labels": {"whole": [1, 2]}}}
    voxels = run(base).results
    assert voxels["datasets"]["test"]["spacing"] == "none (distances in voxels)"
    mm = run(base | {"data": base["data"] | {"spacing": [0.8, 0.8]}}).results
    nifti = run(spec(tmp_path / "nifti") | {"checks": ["performance"]}).results  # the same cases as NIfTI at 0.8 mm
    cases = {c["id"]: c["structures"]["whole"]["hd95"] for c in mm["sections"]["performance"]["datasets"]["test"]["cases"]}
    for c in nifti["sections"]["performance"]["datasets"]["test"]["cases"][:12]:
        assert cases[c["id"]] == pytest.approx(c["structures"]["whole"]["hd95"])
    s = spec(tmp_path / "nifti")
    s["data"]["spacing"] = [1.0, 1.0]
    with pytest.raises(AuditInputError, match=r"case c0: data.spacing \[1.0, 1.0\] contradicts the mask's NIfTI header 0.8 × 0.8 mm"):
        run(s)
