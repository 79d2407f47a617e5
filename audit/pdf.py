"""The report as PDF: the same HTML, laid out on A4 pages by WeasyPrint.

The print stylesheet (``reports/print.css``, inlined in the HTML under ``media="print"``) adds page
numbers, a running header with the audit's name, tables whose header rows repeat and whose rows do
not split, and landscape pages for the wide subgroup tables. Figures are the report's SVGs, so
they stay vectors in the PDF. Nothing is fetched: every URL that is not a ``data:`` URI is refused.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import AuditInputError

INSTALL_HINT = (
    "install the system libraries WeasyPrint uses (Pango) — on Debian/Ubuntu "
    "'apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core', on Fedora 'dnf install pango', "
    "on macOS 'brew install pango' — or leave pdf out of report: and open report.html in a browser to print it"
)


def _weasyprint():
    """Import WeasyPrint, or explain in one sentence how to make PDF output work."""
    try:
        import weasyprint
    except ImportError:
        raise AuditInputError(
            "PDF output needs WeasyPrint, which is not installed; install the pdf extra "
            "(pip install 'trustaudit[pdf]') or leave pdf out of report: in the spec."
        ) from None
    except OSError as exc:  # the package is there but cannot load libpango/libgobject
        first = (str(exc).strip().splitlines() or ["a system library is missing"])[0]
        raise AuditInputError(f"WeasyPrint cannot load its system libraries ({first}); {INSTALL_HINT}.") from None
    return weasyprint


def _offline_fetcher(weasyprint):
    """A fetcher that serves ``data:`` URIs only: a report never loads a file or anything online."""
    return weasyprint.urls.URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


def html_to_pdf(html: str) -> bytes:
    """Lay out one self-contained report page as a PDF document and return its bytes."""
    weasyprint = _weasyprint()
    # WeasyPrint logs every screen-only CSS property it skips (position: sticky, ...): not the user's concern
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=html, url_fetcher=_offline_fetcher(weasyprint), media_type="print")
    with _garbage_collection_paused():
        return document.write_pdf()


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while WeasyPrint lays out the pages.

    Layout allocates millions of short-lived boxes; each time the collector runs it also walks every
    object the audit still holds: the PDF took 1.05-1.17 times as long with it (benchmarks/report.py shows both).
    Reference counting still frees what is dropped, so peak memory barely moves (455 → 460 MB).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
