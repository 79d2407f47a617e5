"""``trustaudit run SPEC``: run an audit and write results.json and the report."""

from __future__ import annotations

import argparse
import sys

NAME = "run"
ORDER = 0
HELP = "run the audit a spec describes and write results.json and report.html"
DESCRIPTION = (
    "Run the audit described by SPEC (a YAML audit spec; relative paths in it are relative to the "
    "spec file) and write DIR/results.json, DIR/figures.json and DIR/report.html (and DIR/report.pdf when asked), "
    "then DIR/manifest.json listing their SHA-256 hashes, last, so that a set whose writing was stopped is never "
    "taken for a whole one. Nothing is written when the input is bad or the run is interrupted; other files in DIR "
    "are left alone, except a report.pdf of an earlier set when this one has none."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="path to the audit spec (audit.yaml)")
    parser.add_argument(
        "--out", "-o", metavar="DIR", default="trustaudit-report",
        help="directory to write results.json and report.html into; created if missing (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, metavar="N", help="override settings.seed of the spec")
    parser.add_argument("--n-resamples", type=int, metavar="B", help="override settings.n_resamples (bootstrap replicates, >= 50)")
    parser.add_argument("--n-jobs", type=int, metavar="J", help="resample on J local processes (-1: every core); never changes the numbers")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run the resampling on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (needs the dask extra); never changes the numbers",
    )
    parser.add_argument("--pdf", action="store_true", help="also write report.pdf (as report: [html, pdf] in the spec; needs the pdf extra)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display and no summary; errors are still printed")


def main(args: argparse.Namespace) -> int:
    from ..progress import progress_display
    from ..runner import run_loaded
    from ..spec import load_spec

    spec, base_dir = load_spec(args.spec)
    overrides = {k: v for k, v in {"seed": args.seed, "n_resamples": args.n_resamples, "n_jobs": args.n_jobs, "scheduler": args.scheduler}.items() if v is not None}
    if overrides:
        raw = spec.model_dump(exclude_unset=True)  # keys the spec left out stay left out; horizons stay numbers
        raw.setdefault("settings", {})
        raw["settings"].update(overrides)
        spec, _ = load_spec(raw)
    with progress_display(enabled=not args.quiet and sys.stderr.isatty()) as progress:
        result = run_loaded(spec, base_dir, progress=progress)
        progress("writing the report")
        formats = list(spec.report) + (["pdf"] if args.pdf and "pdf" not in spec.report else [])
        written = result.save(args.out, formats)
    if not args.quiet:
        counts = {s: sum(f["severity"] == s for f in result.findings) for s in ("error", "warning")}
        print(f"Audit '{spec.name}': {counts['error']} errors, {counts['warning']} warnings.")
        for path in written.values():
            print(f"wrote {path}")
    return 0
