"""The ``trustaudit`` command.

Exit codes: 0 success, 2 bad input (one plain message, no traceback), 1 internal error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from contextlib import contextmanager

from .commands import command_modules
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
    for module in command_modules():
        command = sub.add_parser(
            module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.add_argument("--debug", action="store_true", help="show the full traceback of an internal error")
        command.set_defaults(handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
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
