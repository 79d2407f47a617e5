"""The ``trustaudit`` command.

Exit codes: 0 success, 2 bad input (one plain message, no traceback), 1 internal error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from contextlib import contextmanager

from .errors import AuditInputError

EPILOG = """exit codes: 0 success; 2 bad input (the message says what to fix); 1 internal error.
See README.md for the audit spec (audit.yaml) and how to read the report."""


def build_parser() -> argparse.ArgumentParser:
    from . import runner

    parser = argparse.ArgumentParser(
        prog="trustaudit",
        description="Audit a clinical binary classifier: performance with confidence intervals, "
        "written as results.json and a self-contained HTML report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {runner._version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser(
        "run",
        help="run the audit a spec describes and write results.json and report.html",
        description="Run the audit described by SPEC (a YAML audit spec; relative paths in it are "
        "relative to the spec file) and write DIR/results.json and DIR/report.html. "
        "Nothing is written when the input is bad.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("spec", metavar="SPEC", help="path to the audit spec (audit.yaml)")
    run.add_argument(
        "--out", "-o", metavar="DIR", default="trustaudit-report",
        help="directory to write results.json and report.html into; created if missing (default: %(default)s)",
    )
    run.add_argument("--seed", type=int, metavar="N", help="override settings.seed of the spec")
    run.add_argument("--n-resamples", type=int, metavar="B", help="override settings.n_resamples (bootstrap replicates, >= 50)")
    run.add_argument("--n-jobs", type=int, metavar="J", help="resample on J local processes (-1: every core); never changes the numbers")
    run.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run the resampling on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (needs the dask extra); never changes the numbers",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress display and no summary; errors are still printed")
    run.add_argument("--debug", action="store_true", help="show the full traceback of an internal error")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it first
    except AuditInputError as exc:
        print(f"trustaudit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trustaudit: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: a bug of ours, not the user's input
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(
            f"trustaudit: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in trustaudit; run again with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_loaded
    from .spec import load_spec

    spec, base_dir = load_spec(args.spec)
    overrides = {k: v for k, v in {"seed": args.seed, "n_resamples": args.n_resamples, "n_jobs": args.n_jobs, "scheduler": args.scheduler}.items() if v is not None}
    if overrides:
        raw = spec.model_dump(mode="json")
        raw["settings"].update(overrides)
        spec, _ = load_spec(raw)
    with progress_display(enabled=not args.quiet and sys.stderr.isatty()) as progress:
        result = run_loaded(spec, base_dir, progress=progress)
        progress("writing the report")
        written = result.save(args.out)
    if not args.quiet:
        counts = {s: sum(f["severity"] == s for f in result.findings) for s in ("error", "warning")}
        print(f"Audit '{spec.name}': {counts['error']} errors, {counts['warning']} warnings.")
        for path in written.values():
            print(f"wrote {path}")
    return 0


@contextmanager
def progress_display(enabled: bool):
    """Yield a ``progress(step)`` callable showing a spinner per step on stderr, or a no-op."""
    if not enabled:
        yield lambda step: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda step: bar.update(task, description=step)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
