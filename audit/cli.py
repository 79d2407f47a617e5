"""The ``trustaudit`` command.

Exit codes: 0 success, 2 bad input (one plain message, no traceback), 1 internal error,
130 interrupted (Ctrl-C: one line, no traceback).

The console script imports this module and calls :func:`main`. Importing it (and the ``audit``
package) loads nothing heavy, so the interpreter reaches ``main``'s ``try`` within milliseconds;
numpy, pandas and the checks are imported inside it, where Ctrl-C is caught like anywhere else.
"""

from __future__ import annotations

import argparse
import sys

from .errors import AuditInputError

EPILOG = """exit codes: 0 success; 2 bad input (the message says what to fix); 1 internal error; 130 interrupted.
See README.md for the audit spec (audit.yaml) and how to read the report."""


def build_parser() -> argparse.ArgumentParser:
    from .commands import command_modules
    from .result import installed_version

    parser = argparse.ArgumentParser(
        prog="trustaudit",
        description="Audit a clinical binary classifier: performance with confidence intervals, "
        "written as results.json and a self-contained HTML report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
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
    """Run the command ``argv`` (default: ``sys.argv[1:]``) and return its exit code.

    Ctrl-C at any moment, from building the parser (which imports the subcommands) to the last
    file written, returns 130 after one line on stderr. When it came while a report set was being
    moved into place, the set was finished first and the line says where it was written.
    """
    try:
        return _dispatch(argv)
    except KeyboardInterrupt as exc:
        where = getattr(exc, "written_to", None)
        if where is None:
            print("trustaudit: interrupted; nothing was written.", file=sys.stderr)
        else:
            print(f"trustaudit: interrupted after the report set was written whole to '{where}'.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # whatever read stdout stopped (`trustaudit checklist claim-2024 | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush does not fail again
        return 141


def _dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except AuditInputError as exc:
        print(f"trustaudit: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # no subcommand calls sys.exit: code trustaudit ran did (a model, a library)
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"trustaudit: internal error: code trustaudit ran called sys.exit({exc.code!r}); nothing was written. "
              "Run again with --debug for the traceback and report it.", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - an internal error, a bug of ours (KeyboardInterrupt passes up)
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(
            f"trustaudit: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in trustaudit; run again with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
