"""Fuzz trustaudit with inputs generated from its own spec schema, and count how each ended (issue 17).

The inputs are those of the in-suite fuzz test (``tests/fuzz_strategies.py`` says how they are made:
specs walked from ``AuditSpec.model_json_schema()``, small tables with the trouble real data has,
out-of-range, wrong-typed and numpy-typed values, hostile structures; through ``audit.run`` on a
dict, on a YAML file and ``trustaudit run``), drawn with any seed and as many as asked.

    python benchmarks/fuzz.py                                 # 100 inputs, seed 0 (about 20 s)
    python benchmarks/fuzz.py --examples 1000 --seed 3
    python benchmarks/fuzz.py --examples 1000 --minimise --save fuzz-causes

Prints the counts (inputs, audits that ran, clean errors = ``AuditInputError``, internal errors,
contract violations), each distinct cause of failure (exception type and innermost frame in
audit/, or the contract broken) with its count and the smallest input that showed it, the timing,
and a one-line summary for the README. ``--minimise`` shrinks each cause's input greedily (drops
spec keys, tables, columns and rows while the same cause recurs); ``--save DIR`` writes one
directory per cause with the files, audit.yaml and a README.txt saying how to reproduce it.
Exit code 1 when any input ended in an internal error or a violation.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_strategies import Example, Outcome, Tally, examples, run_example, write_files


def fuzz(n: int, seed_value: int, work: Path, progress: bool) -> Tally:
    """Run ``n`` generated inputs (hypothesis seeded with ``seed_value``) and tally how they ended."""
    tally = Tally()
    started = time.perf_counter()

    @seed(seed_value)
    @settings(
        max_examples=n, derandomize=False, deadline=None, database=None,
        phases=(Phase.generate,), suppress_health_check=list(HealthCheck),
    )
    @given(example=examples())
    def run_one(example: Example) -> None:
        directory = work / str(tally.inputs)
        tally.add(example, run_example(example, directory))
        shutil.rmtree(directory, ignore_errors=True)
        if progress and tally.inputs % 50 == 0:
            print(f"  {tally.inputs} inputs, {time.perf_counter() - started:.0f} s: {tally.summary()}", file=sys.stderr, flush=True)

    run_one()
    return tally


# ----------------------------------------------------------------------------------------------
# Minimising one cause's input
# ----------------------------------------------------------------------------------------------


def minimise(example: Example, outcome: Outcome, work: Path, budget: int) -> tuple[Example, Outcome, int]:
    """Drop, greedily, whatever the failure does not need: the command line, spec keys, list entries,
    tables, columns, rows, padding and damage; keep a change when the same cause recurs.
    Returns the smaller example, its outcome and the number of runs it took."""
    runs = 0

    def rerun(candidate: Example) -> Outcome | None:
        nonlocal runs
        runs += 1
        directory = work / f"shrink{runs}"
        try:
            return run_example(candidate, directory)
        except Exception:  # noqa: BLE001 - a candidate the harness cannot write is simply not kept
            return None
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    best = example
    tried: set[str] = set()
    improved = True
    while improved and runs < budget:
        improved = False
        for candidate in simpler(best):
            if runs >= budget:
                break
            signature = candidate.describe(rows=10_000)
            if signature in tried:
                continue
            tried.add(signature)
            result = rerun(candidate)
            if result is not None and result.cause == outcome.cause:
                best, outcome, improved = candidate, result, True
                break
    if best is not example:
        best.mutations = [*best.mutations, "then minimised (keys, tables, columns and rows dropped)"]
    return best, outcome, runs


def simpler(example: Example):
    """Candidates one step simpler than ``example``: the command line, then halves of tables, whole
    tables, spec keys (top level first), columns, padding and damage."""
    if example.route != "api" and example.source != "object":
        yield _with(example, route="api", flags=[], out_exists=False)
    if example.flags or example.out_exists:
        yield _with(example, flags=[], out_exists=False)
    for t, table in enumerate(example.tables.all()):
        if len(table.frame) > 4:
            for half in (slice(None, len(table.frame) // 2), slice(len(table.frame) // 2, None)):
                smaller = _with(example)
                smaller.tables.all()[t].frame = table.frame.iloc[half].reset_index(drop=True)
                yield smaller
    for name in ("calibration", "train"):
        if getattr(example.tables, name) is not None:
            smaller = _with(example)
            setattr(smaller.tables, name, None)
            yield smaller
    for i in range(len(example.tables.external)):
        smaller = _with(example)
        del smaller.tables.external[i]
        yield smaller
    for path in sorted(_paths(example.spec), key=len):
        smaller = _with(example)
        parent = _get(smaller.spec, path[:-1])
        if isinstance(parent, dict) or (isinstance(parent, list) and len(parent) > 1):
            del parent[path[-1]]
            yield smaller
    for t, table in enumerate(example.tables.all()):
        for column in table.frame.columns:
            smaller = _with(example)
            smaller.tables.all()[t].frame = table.frame.drop(columns=[column])
            yield smaller
        if table.bulk_mb or table.damage:
            smaller = _with(example)
            smaller.tables.all()[t].bulk_mb, smaller.tables.all()[t].damage = 0, None
            yield smaller


def _with(example: Example, **changes) -> Example:
    clone = copy.deepcopy(example)
    for key, value in changes.items():
        setattr(clone, key, value)
    return clone


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list) and len(node) <= 20:
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _get(node, path):
    for part in path:
        node = node[part]
    return node


# ----------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------


def save(tally: Tally, directory: Path) -> None:
    """One directory per cause: the files, audit.yaml and README.txt (cause, message, how to run it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, (cause, (count, kind, example, outcome)) in enumerate(sorted(tally.causes.items(), key=lambda kv: -kv[1][0]), 1):
        folder = directory / f"{number:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', cause)[:60].strip('-')}"
        shutil.rmtree(folder, ignore_errors=True)
        write_files(example, folder)
        (folder / "audit.yaml").write_text(example.spec_yaml(), encoding="utf-8")
        how = {
            "cli": f"trustaudit run audit.yaml --out out --debug {' '.join(example.flags)}",
            "yaml": "python -c \"import audit; audit.run('audit.yaml')\"",
            "api": "python -c \"import audit, yaml; audit.run(yaml.safe_load(open('audit.yaml')))\"  (from this folder; "
                   "numpy-typed values of the original are shown in the description below)",
        }[example.route]
        (folder / "README.txt").write_text(
            f"{kind}: {cause} ({count} inputs)\nmessage: {outcome.message}\nreproduce: {how}\n\n{example.describe(rows=30)}\n",
            encoding="utf-8",
        )
    print(f"wrote one folder per cause to {directory}")


def timing(tally: Tally, seconds: float) -> str:
    per = tally.seconds or [0.0]
    slow, example = tally.slowest
    where = f" ({example.route}, {'; '.join(example.mutations) or 'no mutation'})" if example else ""
    return (
        f"{seconds:.0f} s in all ({seconds / max(1, tally.inputs) * 1000:.0f} ms an input, generation included); "
        f"running an input: median {statistics.median(per) * 1000:.0f} ms, slowest {slow:.1f} s{where}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100, metavar="N", help="inputs to generate and run (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default: %(default)s)")
    parser.add_argument("--minimise", action="store_true", help="shrink each cause's smallest input before printing it")
    parser.add_argument("--budget", type=int, default=150, metavar="RUNS", help="runs per cause when minimising (default: %(default)s)")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write one reproducer folder per cause")
    parser.add_argument("--rows", type=int, default=8, help="table rows shown per example (default: %(default)s)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trustaudit-fuzz-") as tmp:
        work = Path(tmp)
        tally = fuzz(args.examples, args.seed, work, progress=not args.quiet)
        seconds = time.perf_counter() - started
        if args.minimise:
            for cause, entry in tally.causes.items():
                entry[2], entry[3], runs = minimise(entry[2], entry[3], work, args.budget)
                if not args.quiet:
                    print(f"  minimised {cause[:70]} in {runs} runs", file=sys.stderr, flush=True)
    counts = tally.counts
    share = counts["success"] / max(1, tally.inputs)
    print(f"inputs:           {tally.inputs} (seed {args.seed})")
    print(f"audits that ran:  {counts['success']} ({share:.0%})")
    print(f"clean errors:     {counts['input error']} (AuditInputError / exit 2 with one plain line)")
    print(f"internal errors:  {counts['internal error']}")
    print(f"violations:       {counts['violation']} (bad message, bad results.json, leftover or unexpected files, untrusted code)")
    missed = tally.fields_missed()
    print(f"schema fields:    {len(tally.fields)} of {len(tally.fields) + len(missed)} given a value by some input" + (f" (never: {', '.join(missed)})" if missed else ""))
    print(f"timing:           {timing(tally, seconds)}")
    slow, example = tally.slowest
    if example is not None and slow > 2:
        print(f"\nslowest input ({slow:.1f} s):\n" + "\n".join("  " + line for line in example.describe(rows=2).splitlines()))
    if tally.causes:
        print(f"\n{len(tally.causes)} distinct causes of failure, most frequent first:\n")
        print(tally.report(rows=args.rows))
    if args.save:
        save(tally, args.save)
    print(
        f"\nREADME: Fuzzing (`python benchmarks/fuzz.py --examples {tally.inputs} --seed {args.seed}`): {tally.inputs} generated inputs, "
        f"{counts['success']} audits ran, {counts['input error']} clean errors, {counts['internal error']} internal errors, "
        f"{counts['violation']} contract violations ({len(tally.causes)} distinct causes), {seconds:.0f} s."
    )
    return 1 if tally.causes else 0


if __name__ == "__main__":
    sys.exit(main())
