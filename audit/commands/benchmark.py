"""``trustaudit benchmark SPEC``: compare several models on the same datasets with paired statistics."""

from __future__ import annotations

import argparse
import sys

NAME = "benchmark"
ORDER = 10
HELP = "compare several models on the same patients and write benchmark.json and benchmark.html"
DESCRIPTION = (
    "Run the benchmark described by SPEC (a YAML benchmark spec listing models, datasets, the target and "
    "the reference model; relative paths are relative to the spec file): every model's performance with "
    "confidence intervals on every dataset, and every model compared with the reference on the same "
    "patients by paired methods (DeLong for AUROC, paired bootstrap for the other metrics, McNemar for "
    "accuracy), with Holm-adjusted p-values. Writes DIR/benchmark.json and DIR/benchmark.html; nothing is "
    "written when the input is bad."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="path to the benchmark spec (benchmark.yaml)")
    parser.add_argument(
        "--out", "-o", metavar="DIR", default="trustaudit-benchmark",
        help="directory to write benchmark.json and benchmark.html into; created if missing (default: %(default)s)",
    )
    parser.add_argument("--n-jobs", type=int, metavar="J", help="run the model x dataset cells on J local processes (-1: every core); never changes the numbers")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run the cells on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (needs the dask extra); never changes the numbers",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display and no summary; errors are still printed")


def main(args: argparse.Namespace) -> int:
    from ..benchmark import load_benchmark_spec, run_loaded
    from ..progress import progress_display

    spec, base_dir = load_benchmark_spec(args.spec)
    overrides = {k: v for k, v in {"n_jobs": args.n_jobs, "scheduler": args.scheduler}.items() if v is not None}
    if overrides:
        raw = spec.model_dump(mode="json", exclude_unset=True)
        raw.setdefault("settings", {}).update(overrides)
        spec, _ = load_benchmark_spec(raw)  # base_dir stays the spec file's folder
    with progress_display(enabled=not args.quiet and sys.stderr.isatty()) as progress:
        result = run_loaded(spec, base_dir, progress=progress)
        progress("writing the benchmark")
        written = result.save(args.out)
    if not args.quiet:
        rows = [r for comp in result.results["comparisons"].values() for r in comp["rows"]]
        print(f"Benchmark '{result.results['spec']['name']}': {len(rows)} paired comparisons, "
              f"{sum(r['significant'] for r in rows)} significant after adjustment.")
        for path in written.values():
            print(f"wrote {path}")
    return 0
