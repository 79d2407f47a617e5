"""``trustaudit render DIR/results.json``: lay out a saved audit as HTML (and PDF) again, computing nothing."""

from __future__ import annotations

import argparse
import sys

NAME = "render"
ORDER = 10
HELP = "re-render report.html (and report.pdf) from a saved results.json, without recomputing"
DESCRIPTION = (
    "Render the report of a saved audit again from RESULTS (a results.json written by trustaudit run) "
    "and the figures.json beside it. No statistic is recomputed, so the numbers are exactly the saved ones. "
    "The set RESULTS belongs to must be whole: its manifest.json must list every file with the hash it has "
    "(an interrupted run, an edited file or a directory written by a trustaudit without manifests is refused; "
    "re-run trustaudit run). DIR receives the whole set again (results.json, figures.json, the report files "
    "rendered now, any other report file of the set as it was, and a new manifest.json)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="path to results.json")
    parser.add_argument("--out", "-o", metavar="DIR", default=None,
                        help="directory to write the set with report.html (and report.pdf) into (default: the directory of RESULTS)")
    parser.add_argument("--pdf", action="store_true", help="also write report.pdf (needs the pdf extra)")
    parser.add_argument("--no-html", action="store_true", help="write only the PDF")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import AuditInputError
    from ..render import read_set
    from ..result import SET_FILES, render_reports, write_set

    formats = (["html"] if not args.no_html else []) + (["pdf"] if args.pdf else [])
    if not formats:
        raise AuditInputError("--no-html without --pdf leaves nothing to write; add --pdf or drop --no-html.")
    saved = read_set(args.results)
    reports = render_reports(saved.results, saved.figures, formats)
    out = Path(args.out).expanduser() if args.out else saved.directory
    kept = {name: data for name, data in saved.files.items() if name in SET_FILES}
    written = write_set(out, kept | reports)  # the verified set, its report files rendered again
    if not args.quiet:
        if not saved.figures_found:
            print("trustaudit: warning: the set has no figures.json; the report has no figures.", file=sys.stderr)
        for name in reports:
            print(f"wrote {written[name]}")
    return 0
