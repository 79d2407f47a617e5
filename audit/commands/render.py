"""``trustaudit render DIR/results.json``: lay out a saved audit as HTML (and PDF) again, computing nothing."""

from __future__ import annotations

import argparse
import sys

NAME = "render"
ORDER = 10
HELP = "re-render report.html (and report.pdf) from a saved results.json, without recomputing"
DESCRIPTION = (
    "Render the report of a saved audit again from RESULTS (a results.json written by trustaudit run) "
    "and the figures.json beside it. No statistic is recomputed, so the numbers are exactly the saved ones."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="path to results.json")
    parser.add_argument("--out", "-o", metavar="DIR", default=None,
                        help="directory to write report.html (and report.pdf) into (default: the directory of RESULTS)")
    parser.add_argument("--pdf", action="store_true", help="also write report.pdf (needs the pdf extra)")
    parser.add_argument("--no-html", action="store_true", help="write only the PDF")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import AuditInputError
    from ..render import load_saved
    from ..result import render_reports, write_atomically

    formats = (["html"] if not args.no_html else []) + (["pdf"] if args.pdf else [])
    if not formats:
        raise AuditInputError("--no-html without --pdf leaves nothing to write; add --pdf or drop --no-html.")
    results, figures, found = load_saved(args.results)
    out = Path(args.out) if args.out else Path(args.results).expanduser().parent
    written = write_atomically(out, render_reports(results, figures, formats))
    if not args.quiet:
        if not found:
            print("trustaudit: warning: no figures.json beside the results; the report has no figures.", file=sys.stderr)
        for path in written.values():
            print(f"wrote {path}")
    return 0
