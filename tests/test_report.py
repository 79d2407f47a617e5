"""The HTML report: self-contained, complete, and safe against hostile user values."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from audit.figure import Figure
from audit.plots import pr_figure, roc_figure
from audit.report import (
    fmt_estimate,
    fmt_level,
    fmt_pct,
    render_html,
    short_hash,
    svg_data_uri,
)
from audit.resources import resource_dir

# ------------------------------------------------------------------------------ fixture

METRICS = ["auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "accuracy",
           "balanced_accuracy", "f1", "brier"]

HOSTILE = ['<script>alert(1)</script>', '"><img onerror=x>']


def _curves(seed: int, n: int, prevalence: float, shift: float) -> dict:
    """ROC and PR curves of a simulated score, computed the plain way (for the fixture only)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    score = rng.normal(shift * y, 1.0)
    order = np.argsort(-score)
    y_sorted = y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    tpr = np.concatenate([[0.0], tp / y.sum()])
    fpr = np.concatenate([[0.0], fp / (~y).sum()])
    precision = tp / np.arange(1, n + 1)
    recall = tp / y.sum()
    return {
        "roc": {"fpr": fpr.round(4).tolist(), "tpr": tpr.round(4).tolist()},
        "pr": {"recall": recall.round(4).tolist(), "precision": precision.round(4).tolist()},
    }


def _estimate(value, lo, hi, method, n):
    return {"value": value, "ci": [lo, hi], "method": method, "n": n}


def _metrics(n: int, base: float) -> dict:
    out = {"auroc": _estimate(base, base - 0.042, base + 0.041, "delong", n)}
    for i, m in enumerate(METRICS[1:]):
        v = round(0.55 + 0.03 * i - (0.71 - base), 3)
        out[m] = _estimate(v, round(v - 0.04, 3), round(v + 0.038, 3), "bootstrap-bca", n)
    return out


def make_results(
    *,
    name: str = "Rotterdam → GBSG, recurrence within 5 years",
    test: str = "test",
    external: str = "gbsg",
    column: str = "age_band",
    path: str = "rotterdam_test.csv",
    message: str = "AUROC is 0.05 lower on gbsg than on test.",
) -> dict:
    sha_test = "ab12" + "0" * 56 + "cdef"
    sha_ext = "9f" * 32
    sha_model = "7e" * 32
    perf_test = {"metrics": _metrics(596, 0.712), "curves": _curves(1, 596, 0.42, 0.8)}
    perf_ext = {"metrics": _metrics(686, 0.662), "curves": _curves(2, 686, 0.44, 0.6)}
    # one bootstrap interval fell back to the percentile method, and one metric is undefined
    perf_ext["metrics"]["npv"]["method"] = "bootstrap-percentile"
    perf_ext["metrics"]["f1"] = {"value": None, "ci": None, "method": "bootstrap-bca", "n": 686}
    return {
        "schema": "trustaudit/results/1",
        "trustaudit_version": "0.1.0",
        "spec": {
            "name": name,
            "task": "binary",
            "description": None,
            "intended_use": "Estimate the 5-year recurrence risk after surgery for primary breast cancer.",
            "model": {"path": "model.skops", "trust": False},
            "data": {"test": path, "external": {external: "gbsg.csv"}, "target": "rfs5",
                     "prediction": None, "sensitive": [column, "meno"]},
            "settings": {"seed": 7, "n_resamples": 2000, "confidence": 0.95, "threshold": 0.5,
                         "ci_method": "bca", "min_group_size": 30},
            "checks": ["performance"],
            "checklists": [],
            "attestations": {},
            "report": ["html"],
        },
        "provenance": {
            "trustaudit": "0.1.0", "python": "3.11.7", "platform": "Linux-x86_64", "seed": 7,
            "n_resamples": 2000, "confidence": 0.95, "ci_method": "bca",
            "packages": {"numpy": "2.4.6", "scikit-learn": "1.9.1", "scipy": "1.17.0"},
            "files": {
                "data:test": {"path": path, "sha256": sha_test},
                f"data:{external}": {"path": "gbsg.csv", "sha256": sha_ext},
                "model": {"path": "model.skops", "sha256": sha_model},
            },
        },
        "datasets": {
            test: {"role": "internal", "path": path, "sha256": sha_test, "n": 596, "n_events": 250,
                   "prevalence": _estimate(0.4196, 0.3803, 0.4597, "wilson", 596)},
            external: {"role": "external", "path": "gbsg.csv", "sha256": sha_ext, "n": 686,
                       "n_events": 299, "prevalence": _estimate(0.4359, 0.3992, 0.4733, "wilson", 686)},
        },
        "sections": {
            "performance": {
                "title": "Performance", "status": "pass",
                "evidence": ["performance.ci", "performance.curves"],
                "threshold": 0.5, "confidence": 0.95, "metrics": METRICS,
                "datasets": {test: perf_test, external: perf_ext},
            },
            "fairness": {"title": "Fairness", "status": "not run", "evidence": [],
                         "reason": "not implemented in this version"},
        },
        "findings": [
            {"check": "performance", "severity": "info", "dataset": None,
             "message": "All intervals were computed with 2000 resamples."},
            {"check": "performance", "severity": "warning", "dataset": external, "message": message},
            {"check": "performance", "severity": "error", "dataset": test,
             "message": "F1 is undefined on gbsg: no predicted positives."},
        ],
        "checklists": {},
    }


def make_figures(results: dict) -> dict[str, dict[str, Figure]]:
    perf = results["sections"]["performance"]["datasets"]
    roc = {name: {**d["curves"]["roc"], "auroc": d["metrics"]["auroc"]["value"]} for name, d in perf.items()}
    pr = {
        name: {**d["curves"]["pr"], "auprc": d["metrics"]["auprc"]["value"],
               "prevalence": results["datasets"][name]["prevalence"]["value"]}
        for name, d in perf.items()
    }
    return {"performance": {"roc": roc_figure(roc), "pr": pr_figure(pr)}}


@pytest.fixture(scope="module")
def results() -> dict:
    return make_results()


@pytest.fixture(scope="module")
def html(results) -> str:
    return render_html(results, make_figures(results))


# ------------------------------------------------------------------------- HTML parsing


class Collector(HTMLParser):
    """Every start tag with its attributes, the ids, and the text of <style>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_style = False
        self.style = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}

    def all(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", "".join(parse(html).text))


# ------------------------------------------------------------------------------- tests


def test_resource_dir_finds_reports_and_its_template_in_the_checkout():
    reports = resource_dir("reports")
    assert reports.is_dir()
    assert (reports / "report.html.j2").is_file()
    assert (reports / "style.css").is_file()


def test_resource_dir_rejects_an_unknown_name():
    with pytest.raises(ValueError):
        resource_dir("templates")  # type: ignore[arg-type]


def test_every_src_and_href_is_an_in_page_anchor_or_a_data_uri(html):
    doc = parse(html)
    for tag, attrs in doc.tags:
        for attr in ("src", "href", "srcset", "action", "formaction", "poster", "data"):
            value = attrs.get(attr)
            if value is not None:
                assert value.startswith("#") or value.startswith("data:"), (tag, attr, value[:60])
    assert not doc.all("script")
    assert not doc.all("link")
    assert not doc.all("iframe")
    assert "url(" not in doc.style and "@import" not in doc.style


def test_no_url_appears_outside_the_text_the_user_supplied(html):
    assert re.search(r"https?://", html) is None


def test_the_stylesheet_is_inlined_and_a_content_security_policy_forbids_fetching(html):
    doc = parse(html)
    assert ".badge" in doc.style and "@page" in doc.style
    assert [a.get("media") for a in doc.all("style")] == [None, "print"]  # screen stylesheet, then print
    csp = [a["content"] for a in doc.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]


def test_table_of_contents_links_to_sections_that_exist(html):
    doc = parse(html)
    ids = doc.ids()
    toc_links = [a["href"] for a in doc.all("a") if a.get("href", "").startswith("#")]
    for anchor in ("#summary", "#datasets", "#section-performance", "#not-run", "#provenance"):
        assert anchor in toc_links
    for link in toc_links:
        assert link[1:] in ids, link


def test_sections_appear_in_the_documented_order(html):
    positions = [html.index(f'id="{anchor}"') for anchor in
                 ("summary", "datasets", "section-performance", "not-run", "provenance")]
    assert positions == sorted(positions)


def test_metrics_table_shows_each_estimate_with_its_ci_per_dataset(html):
    text = visible_text(html)
    assert "0.712 (0.670–0.753)" in text  # AUROC on test
    assert "0.662 (0.620–0.703)" in text  # AUROC on gbsg
    assert "AUROC" in text and "Balanced accuracy" in text and "Brier score" in text
    assert "—" in text  # the undefined F1 on gbsg


def test_ci_method_footnotes_name_delong_bca_and_percentile(html):
    text = visible_text(html)
    assert "DeLong" in text
    assert "BCa" in text
    assert "percentile bootstrap" in text
    assert "Threshold" in text and "0.5" in text


def test_both_figures_are_embedded_as_svg_data_uris_with_alt_text(html):
    images = parse(html).all("img")
    assert len(images) == 2
    alts = " ".join(img["alt"] for img in images)
    assert "ROC" in alts and "AUROC 0.712" in alts and "AUPRC" in alts
    for img in images:
        assert img["src"].startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(img["src"].split(",", 1)[1]).decode("utf-8")
        ET.fromstring(svg)  # well-formed


def test_summary_ranks_findings_error_then_warning_then_info(html):
    text = visible_text(html)
    summary = text[text.index("Most serious first"):text.index("Hashes are shortened")]
    assert summary.index("error") < summary.index("warning") < summary.index("info")


def test_status_badges_carry_the_status_as_text(html):
    doc = parse(html)
    classes = " ".join(a.get("class", "") for _, a in doc.tags)
    assert "status-pass" in classes and "status-not-run" in classes
    text = visible_text(html)
    assert "pass" in text and "not run" in text
    assert "not implemented in this version" in text


def test_datasets_table_shows_n_events_prevalence_and_a_shortened_hash(html, results):
    text = visible_text(html)
    assert "596" in text and "250" in text
    assert "42.0% (38.0–46.0%)" in text
    full = results["datasets"]["test"]["sha256"]
    assert short_hash(full) in text
    titles = [a.get("title", "") for _, a in parse(html).tags]
    assert any(full in t for t in titles)


def test_provenance_lists_versions_hashes_and_how_to_reproduce(html, results):
    text = visible_text(html)
    assert "3.11.7" in text and "scikit-learn" in text and "1.9.1" in text
    assert results["provenance"]["files"]["model"]["sha256"] in text
    assert "trustaudit run" in text and "trustaudit reproduce" in text


def test_rendering_is_deterministic(results):
    figures = make_figures(results)
    assert render_html(results, figures) == render_html(results, figures)


def test_an_unknown_section_is_shown_with_its_title_status_and_findings():
    results = make_results()
    results["sections"]["drift"] = {"title": "Data drift", "status": "insufficient evidence",
                                    "evidence": [], "reason": "only 12 cases in gbsg"}
    results["findings"].append({"check": "drift", "severity": "warning", "dataset": "gbsg",
                                "message": "Too few cases to compare distributions."})
    html = render_html(results, {})
    doc = parse(html)
    assert "section-drift" in doc.ids()
    text = visible_text(html)
    assert "Data drift" in text and "insufficient evidence" in text
    assert "only 12 cases in gbsg" in text and "Too few cases to compare distributions." in text
    assert not doc.all("img")  # no figures given, none shown


def test_minimal_results_still_render():
    html = render_html({"schema": "trustaudit/results/1", "spec": {"name": "x"}}, {})
    text = visible_text(html)
    assert "No checks were run." in text and "No findings were raised." in text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_user_values_are_escaped_everywhere(hostile):
    results = make_results(
        name=f"Audit {hostile}",
        test=f"test{hostile}",
        external=f"ext{hostile}",
        column=f"col{hostile}",
        path=f"data/{hostile}.csv",
        message=f"Message {hostile} https://evil.example/x",
    )
    results["sections"]["performance"]["datasets"][f"test{hostile}"]["metrics"]["auroc"]["method"] = hostile
    results["provenance"]["packages"][hostile] = hostile
    html = render_html(results, make_figures(results))
    doc = parse(html)

    assert not doc.all("script")
    assert not [a for _, a in doc.tags if "onerror" in a]
    assert [t for t, _ in doc.tags].count("img") == 2  # only the two figures
    assert hostile not in html  # never as raw markup

    text = visible_text(html)
    for value in (f"Audit {hostile}", f"test{hostile}", f"ext{hostile}", f"col{hostile}",
                  f"data/{hostile}.csv", f"Message {hostile} https://evil.example/x"):
        assert value in text, value
    # the URL from the user is there only as text, never as a link
    for tag, attrs in doc.tags:
        for attr in ("src", "href"):
            if attrs.get(attr) is not None:
                assert attrs[attr].startswith(("#", "data:"))


# ----------------------------------------------------------------------------- filters


def test_fmt_estimate_formats_value_and_interval():
    assert fmt_estimate({"value": 0.712, "ci": [0.668, 0.753], "method": "delong", "n": 596}) == "0.712 (0.668–0.753)"
    assert fmt_estimate({"value": None, "ci": None, "method": "delong", "n": 3}) == "—"
    assert fmt_estimate(None) == "—"
    assert fmt_estimate({"value": 0.5, "ci": None, "method": "x", "n": 1}) == "0.500 (no CI)"
    assert fmt_estimate({"value": 0.5, "ci": [None, 0.6], "method": "x", "n": 1}) == "0.500 (no CI)"
    assert fmt_estimate({"value": 0.42, "ci": [0.38, 0.46]}, 1, pct=True) == "42.0% (38.0–46.0%)"
    assert fmt_estimate(float("nan")) == "—"


def test_percent_and_level_filters():
    assert fmt_pct(0.4196) == "42.0%"
    assert fmt_pct(None) == "—"
    assert fmt_level(0.95) == "95%"
    assert fmt_level(0.975) == "97.5%"


def test_svg_data_uri_round_trips():
    fig = Figure(svg="<svg xmlns='http://www.w3.org/2000/svg'/>", alt="a", title="t")
    uri = svg_data_uri(fig)
    assert base64.b64decode(uri.split(",", 1)[1]).decode() == fig.svg
