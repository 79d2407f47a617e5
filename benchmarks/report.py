"""How long the report takes to lay out, for the Rotterdam -> GBSG example audit.

Targets (issue 9): HTML under 2 s, PDF under 15 s. The audit itself is run once first (its time
is printed but is not part of the targets); then the HTML and the PDF are rendered from the saved
results, as ``trustaudit render`` does, ``--repeat`` times each, and the median is reported.
The PDF is also laid out the way WeasyPrint does by default, with Python's cycle collector running
(``audit.pdf`` pauses it during layout), and the ratio of the two is printed.

    python benchmarks/report.py [--n-resamples 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "rotterdam_gbsg"))

HTML_TARGET, PDF_TARGET = 2.0, 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-resamples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import prepare

    from audit import run
    from audit.pdf import html_to_pdf
    from audit.render import load_saved
    from audit.report import render_html
    from audit.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare.prepare(tmp)
        spec, _ = load_spec(tmp / "audit.yaml")
        raw = spec.model_dump(mode="json")
        raw["settings"]["n_resamples"] = args.n_resamples
        start = time.perf_counter()
        result = run({**raw, "data": {**raw["data"], "test": str(tmp / raw["data"]["test"]),
                                      "external": {k: str(tmp / v) for k, v in raw["data"]["external"].items()}},
                      "model": {**raw["model"], "path": str(tmp / raw["model"]["path"])}})
        audit_s = time.perf_counter() - start
        result.save(tmp / "out")
        results, figures, _ = load_saved(tmp / "out" / "results.json")

        html_times, pdf_times, collected_times = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            html = render_html(results, figures)
            html_times.append(time.perf_counter() - start)
        for _ in range(args.repeat):
            start = time.perf_counter()
            pdf = html_to_pdf(html)
            pdf_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            with _collector_left_running():
                html_to_pdf(html)
            collected_times.append(time.perf_counter() - start)

    html_s, pdf_s = statistics.median(html_times), statistics.median(pdf_times)
    collected_s = statistics.median(collected_times)
    print(f"audit (B = {args.n_resamples}, not part of the targets): {audit_s:6.2f} s")
    print(f"HTML render: median {html_s:6.3f} s over {args.repeat}  ({len(html) / 1e6:.2f} MB)   target < {HTML_TARGET:g} s: "
          f"{'ok' if html_s < HTML_TARGET else 'MISSED'}")
    print(f"PDF render:  median {pdf_s:6.2f} s over {args.repeat}  ({len(pdf) / 1e6:.2f} MB)   target < {PDF_TARGET:g} s: "
          f"{'ok' if pdf_s < PDF_TARGET else 'MISSED'}")
    print(f"PDF with the cycle collector running (WeasyPrint's default): median {collected_s:6.2f} s  "
          f"-> pausing it is {collected_s / pdf_s:.2f}x faster")


@contextlib.contextmanager
def _collector_left_running():
    """Lay out with gc enabled throughout, as a plain ``weasyprint.HTML(...).write_pdf()`` does."""
    import audit.pdf


    paused = audit.pdf._garbage_collection_paused
    audit.pdf._garbage_collection_paused = contextlib.nullcontext
    try:
        yield
    finally:
        audit.pdf._garbage_collection_paused = paused


if __name__ == "__main__":
    main()
