"""The report as a reader gets it: in a real browser, as a PDF, re-rendered from results.json.

The browser and PDF tests need Debian's chromium + chromium-driver and poppler-utils (installed by
.ci/run); they skip with the reason when those are absent locally.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from audit import cli
from audit.report import _top_findings

EXAMPLE_RESAMPLES = "200"


def _have_pdf() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


needs_pdf = pytest.mark.skipif(not _have_pdf(), reason="WeasyPrint (the pdf extra) or its Pango libraries are not installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm, pdftotext) is not installed")
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("chromedriver") is None,
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def example_report(example_dir, tmp_path_factory) -> Path:
    """The Rotterdam -> GBSG example audit, written with HTML and PDF (PDF only when WeasyPrint works)."""
    out = tmp_path_factory.mktemp("example_report")
    args = ["run", str(example_dir / "audit.yaml"), "--out", str(out), "--n-resamples", EXAMPLE_RESAMPLES, "--quiet"]
    assert cli.main(args + (["--pdf"] if _have_pdf() else [])) == 0
    return out


def test_example_writes_results_figures_and_report(example_report):
    for name in ("results.json", "figures.json", "report.html"):
        assert (example_report / name).stat().st_size > 0
    figures = json.loads((example_report / "figures.json").read_text())
    assert figures["schema"] == "trustaudit/figures/1" and "performance" in figures["figures"]


def test_render_from_saved_results_gives_the_same_report_without_recomputing(example_report, tmp_path, monkeypatch):
    import audit.runner
    import audit.stats.bootstrap

    def forbidden(*args, **kwargs):
        raise AssertionError("render must not compute")

    monkeypatch.setattr(audit.runner, "run_loaded", forbidden)
    monkeypatch.setattr(audit.stats.bootstrap.ResamplingEngine, "__init__", forbidden)
    assert cli.main(["render", str(example_report / "results.json"), "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "report.html").read_bytes() == (example_report / "report.html").read_bytes()


def test_render_without_figures_warns_and_still_writes_the_report(example_report, tmp_path, capsys):
    from audit.result import write_set

    write_set(tmp_path, {"results.json": (example_report / "results.json").read_bytes()})  # a whole set, no figures.json
    assert cli.main(["render", str(tmp_path / "results.json")]) == 0
    assert "no figures.json" in capsys.readouterr().err
    assert "<img" not in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("content, problem", [("{not json", "not valid JSON"), ('{"schema": "other/1"}', "not trustaudit results")])
def test_render_of_a_file_that_is_not_results_is_a_plain_error(tmp_path, capsys, content, problem):
    (tmp_path / "results.json").write_text(content)
    assert cli.main(["render", str(tmp_path / "results.json")]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err and not (tmp_path / "report.html").exists()


def test_executive_summary_comes_first_with_verdicts_key_numbers_and_ranked_findings(example_report):
    html = (example_report / "report.html").read_text()
    results = json.loads((example_report / "results.json").read_text())
    ids = re.findall(r'<section id="([^"]+)"', html)
    assert ids[0] == "summary"
    summary = html[html.index('<section id="summary">'):html.index('<section id="findings">')]
    auroc = results["sections"]["performance"]["datasets"]["test"]["metrics"]["auroc"]
    assert f"{auroc['value']:.3f} ({auroc['ci'][0]:.3f}–{auroc['ci'][1]:.3f})" in summary
    for name, section in results["sections"].items():
        assert section["title"] in summary and section["status"] in summary
    severities = re.findall(r'class="finding finding-(\w+)"', summary)
    assert severities == sorted(severities, key=["error", "warning"].index)


def test_top_findings_take_turns_between_checks_within_a_severity():
    f = lambda check, sev, i: {"check": check, "severity": sev, "message": f"{check}{i}"}  # noqa: E731
    findings = [f("calibration", "warning", i) for i in range(4)] + [f("external", "warning", 0), f("fairness", "error", 0), f("external", "info", 1)]
    top = [x["message"] for x in _top_findings(findings)]
    assert top == ["fairness0", "calibration0", "external0", "calibration1", "calibration2"]


def test_every_section_says_how_to_read_it_and_every_figure_has_alt_text(example_report):
    html = (example_report / "report.html").read_text()
    toc = html[html.index('<nav class="toc"'):html.index("</nav>")]
    anchors = re.findall(r'href="#([^"]+)"', toc)
    starts = sorted((html.index(f'<section id="{a}"'), a) for a in anchors)
    assert len(starts) >= 10
    for (start, anchor), (end, _) in zip(starts, starts[1:] + [(len(html), None)]):
        if anchor not in ("findings", "not-run"):
            assert "how-to-read" in html[start:end], anchor
    images = re.findall(r"<img\b[^>]*>", html)
    assert images and all(re.search(r'alt="[^"]{20,}"', img) for img in images)


def test_report_is_offline_no_script_no_external_url(example_report):
    html = (example_report / "report.html").read_text()
    assert not re.search(r"<script|<link\b|@import|url\((?!data:)", html, flags=re.I)
    assert not re.search(r'src="(?!data:)', html)
    # outgoing links (a guideline's DOI) are followed only when clicked; nothing else leaves the page
    assert not re.search(r'href="(?!#|https://doi\.org/)', html)


@needs_pdf
@needs_poppler
def test_pdf_has_numbered_pages_a_running_header_and_the_summary_on_page_one(example_report, tmp_path):
    pdf = example_report / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 5
    def page_text(number):
        text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        return " ".join(text.split())

    name = " ".join(json.loads((example_report / "results.json").read_text())["spec"]["name"].split())
    first = page_text(1)
    assert name in first and "Executive summary" in first and f"Page 1 of {pages}" in first
    second = page_text(2)
    assert name in second and f"Page 2 of {pages}" in second  # running header and page numbers
    for section in ("Guideline checklists", "Provenance"):  # contents give the page each section starts on
        page = int(re.search(rf"{section}[ .]*?(\d+)", first).group(1))
        assert 1 < page <= pages and section in page_text(page), section
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000


@needs_pdf
def test_pdf_figures_are_vectors_not_bitmaps(example_report):
    data = (example_report / "report.pdf").read_bytes()
    assert b"/Subtype /Image" not in data and b"/Subtype/Image" not in data


@needs_pdf
@needs_poppler
def test_pdf_figure_labels_are_searchable_text(example_report):
    """Axis labels and titles inside the SVG figures come out as text a reader can search and copy."""
    text = subprocess.run(["pdftotext", str(example_report / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    text = " ".join(text.split())
    for label in ("False positive rate (1 − specificity)", "Predicted probability"):  # only inside figures
        assert label in text, label


@needs_chromium
def test_example_report_loads_in_chromium_with_no_console_error_and_no_request_leaving(example_report, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get((example_report / "report.html").as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        assert driver.find_element("id", "summary").is_displayed()
        images = driver.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert images and all(done and width > 0 for done, width in images)  # every SVG figure decoded
        console = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert console == []
        page = (example_report / "report.html").as_uri()
        events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        urls = [e["params"]["request"]["url"] for e in events
                if e["method"] == "Network.requestWillBeSent" and e["params"].get("documentURL") == page]
        assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()
