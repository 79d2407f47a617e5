"""Time trustaudit's per-case segmentation metrics against MONAI's on the same volumes.

Generates ``--cases`` pairs of ``--size``³ label volumes (a reference of a few overlapping balls, a prediction
shifted and resized from it; about one case in ten missed entirely), then times, in the same run:

1. trustaudit: ``stats.segmentation.case_score`` (Dice, IoU, HD, HD95, MASD, ASSD, NSD, volumes and lesion counts),
   serially and through ``segmentation.evaluate_cases`` on ``--n-jobs`` local processes (reading NIfTI files);
2. MONAI (when installed): ``DiceMetric``, ``compute_hausdorff_distance(percentile=95)`` and
   ``compute_average_surface_distance(symmetric=True)`` on the same arrays, case by case;

and prints the seconds and the ratio MONAI / trustaudit, with the largest HD95 difference between the two on the
detected cases (they agree to floating point; on a missed case MONAI gives nan or inf, trustaudit the distance cap).
Not part of CI:

    .venv/bin/python benchmarks/segmentation.py                  # 200 volumes of 128^3 (several minutes)
    .venv/bin/python benchmarks/segmentation.py --cases 20 --size 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from audit.stats.segmentation import CASE_METRICS, case_score


def volumes(n: int, size: int, seed: int = 0):
    """``n`` (reference, prediction) boolean volumes of ``size``³."""
    rng = np.random.default_rng(seed)
    grid = np.indices((size,) * 3, dtype=np.float32)
    for i in range(n):
        ref = np.zeros((size,) * 3, bool)
        pred = np.zeros_like(ref)
        for _ in range(3):
            c = rng.uniform(0.3 * size, 0.7 * size, 3)
            r = rng.uniform(0.05, 0.15) * size
            ref |= sum((g - ci) ** 2 for g, ci in zip(grid, c)) <= r * r
            if i % 10:
                c2, r2 = c + rng.normal(0, 0.02 * size, 3), r * rng.uniform(0.85, 1.15)
                pred |= sum((g - ci) ** 2 for g, ci in zip(grid, c2)) <= r2 * r2
        yield ref, pred


def time_trustaudit(pairs, spacing) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = [case_score(r, p, spacing, tolerance=1.0).values for r, p in pairs]
    return time.perf_counter() - start, np.array(out)


def time_evaluate_cases(pairs, spacing, n_jobs: int) -> float:
    import nibabel

    from audit.segmentation import evaluate_cases

    with tempfile.TemporaryDirectory() as tmp:
        affine = np.diag([*spacing, 1.0])
        masks, preds = [], []
        for i, (r, p) in enumerate(pairs):
            masks.append(str(Path(tmp) / f"m{i}.nii.gz"))
            preds.append(str(Path(tmp) / f"p{i}.nii.gz"))
            nibabel.save(nibabel.Nifti1Image(r.astype(np.uint8), affine), masks[-1])
            nibabel.save(nibabel.Nifti1Image(p.astype(np.uint8), affine), preds[-1])
        data = SimpleNamespace(labels={"lesion": [1]}, prediction_type="labels", prediction_axes=None, npz_key=None, spacing=None)
        settings = SimpleNamespace(hd_percentile=95.0, nsd_tolerance=1.0, distance_cap=100.0, both_empty="exclude")
        start = time.perf_counter()
        evaluate_cases([str(i) for i in range(len(pairs))], masks, preds, data, settings, n_jobs=n_jobs)
        return time.perf_counter() - start


def time_monai(pairs, spacing) -> tuple[float, np.ndarray]:
    import torch
    from monai.metrics import DiceMetric, compute_average_surface_distance, compute_hausdorff_distance

    dice = DiceMetric(include_background=True, reduction="none")
    start = time.perf_counter()
    hd95 = []
    for r, p in pairs:
        rt, pt = torch.as_tensor(r)[None, None], torch.as_tensor(p)[None, None]
        dice(pt, rt)
        hd95.append(float(compute_hausdorff_distance(pt, rt, percentile=95, spacing=spacing)))
        compute_average_surface_distance(pt, rt, symmetric=True, spacing=spacing)
    return time.perf_counter() - start, np.array(hd95)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    spacing = (1.0, 1.0, 1.5)
    print(f"generating {args.cases} volumes of {args.size}^3 ...", flush=True)
    pairs = list(volumes(args.cases, args.size))
    ours, values = time_trustaudit(pairs, spacing)
    print(f"trustaudit case_score, serial: {ours:.1f} s ({ours / len(pairs) * 1000:.0f} ms per case, every metric)")
    parallel = time_evaluate_cases(pairs, spacing, args.n_jobs)
    print(f"trustaudit evaluate_cases from NIfTI files, {args.n_jobs} processes: {parallel:.1f} s")
    try:
        theirs, hd95 = time_monai(pairs, spacing)
    except ImportError:
        print("MONAI is not installed: pip install monai to compare.")
        return 0
    detected = np.isfinite(hd95) & np.isfinite(values[:, CASE_METRICS.index("hd95")])
    gap = np.max(np.abs(hd95[detected] - values[detected, CASE_METRICS.index("hd95")])) if detected.any() else float("nan")
    print(f"MONAI Dice + HD95 + ASSD, serial: {theirs:.1f} s ({theirs / len(pairs) * 1000:.0f} ms per case)")
    print(f"ratio MONAI / trustaudit (serial): {theirs / ours:.1f}x; largest HD95 difference on detected cases: {gap:.2e} mm")
    print(f"missed cases: MONAI HD95 {hd95[~detected][:3].tolist()} ..., trustaudit {values[~detected, CASE_METRICS.index('hd95')][:3].tolist()} ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
