"""``trustaudit reproduce DIR/results.json``: re-run a recorded audit and report any number that differs."""

from __future__ import annotations

import argparse

NAME = "reproduce"
ORDER = 20
HELP = "re-run the audit recorded in a results.json and report every number that differs"
DESCRIPTION = (
    "Re-run the audit recorded in RESULTS with its recorded spec and seed, after checking that the input "
    "files still have their recorded SHA-256 hashes, and compare every number with the recorded one. "
    "Exit 0 when everything matches, 3 when something differs. The bundle is not trusted: RESULTS must belong "
    "to a whole report set (its manifest.json checked), every path its spec names must lie inside the base "
    "directory (no absolute path, no '..' or symlink leading out), and the trust flags written in its spec are "
    "ignored: pickles, skops types outside skops' trusted set and model.architecture code load only with --trust."
)
DIFFERS = 3
SHOWN = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="path to the recorded results.json")
    parser.add_argument("--base-dir", metavar="DIR", default=".",
                        help="directory the recorded spec's relative paths start from: where its audit.yaml was (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=0.0, metavar="REL",
                        help="relative difference tolerated between numbers (default 0: byte-for-byte equal)")
    parser.add_argument("--trust", action="store_true",
                        help="load what can run code (a pickled model, untrusted skops types, model.architecture); "
                             "only for a bundle whose source you trust")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing; use the exit code")


def main(args: argparse.Namespace) -> int:
    from ..reproduce import reproduce

    outcome = reproduce(args.results, args.base_dir, args.tolerance, trust=args.trust)
    if not args.quiet:
        for f in outcome.changed_files:
            print(f"input changed: {f['input']} ({f['path']}) sha256 {f['recorded'][:12]}… is now {f['now'][:12]}…")
        for d in outcome.environment:
            print(f"environment differs: {d['path']}: {d['recorded']!r} then, {d['new']!r} now")
        for d in outcome.differences[:SHOWN]:
            print(f"differs: {d['path']}: recorded {d['recorded']!r}, now {d['new']!r}")
        if len(outcome.differences) > SHOWN:
            print(f"... and {len(outcome.differences) - SHOWN} more differences")
        verdict = "reproduced: every one of" if outcome.identical else f"NOT reproduced: {len(outcome.differences)} of"
        print(f"{verdict} {outcome.compared:,} recorded values {'matches' if outcome.identical else 'differ'}.")
    return 0 if outcome.identical else DIFFERS
