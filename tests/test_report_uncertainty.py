"""The uncertainty section of the report: conformal coverage tables per dataset, level and group, and the figure."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from audit.checks import uncertainty
from audit.plots import coverage_figure
from audit.report import render_html

from test_fairness import context
from test_report import make_figures, make_results, parse, visible_text
from test_uncertainty import population

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def section():
    rng = np.random.default_rng(2)
    y, p, g = population(1600, rng)
    g = np.where(g == "B", HOSTILE, g).astype(object)
    g[:40] = "tiny"  # a small group, greyed and not judged
    frame = pd.DataFrame({"y": y, "p": p, "grp": g})
    return uncertainty.run(context(frame, p, ["grp"], coverage=[0.8, 0.9], min_group_size=50))


@pytest.fixture(scope="module")
def results(section):
    results = make_results()
    results["spec"]["checks"] = ["performance", "uncertainty"]
    results["spec"]["settings"]["min_group_size"] = 50  # as in the context the section was run with
    results["sections"]["uncertainty"] = section.to_dict()
    results["findings"] += [{"check": "uncertainty", "severity": f.severity, "dataset": f.dataset, "message": f.message}
                            for f in section.findings]
    return results


@pytest.fixture(scope="module")
def html(results, section):
    figures = make_figures(results)
    figures["uncertainty"] = section.figures
    return render_html(results, figures)


@pytest.fixture(scope="module")
def text(html):
    return visible_text(html)


def _between(text, start, end):
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def test_how_to_read_names_exchangeability_mondrian_and_the_calibration_set(section, text):
    intro = _between(text, "How to read this. For each patient, conformal prediction", "Method:")
    assert "exchangeable with the calibration set" in intro
    assert "Mondrian coverage calibrates each group separately" in intro
    assert f"50% of the test set, n = {section.data['calibration']['n']:,}" in intro
    assert "fewer than 50 patients are marked small" in intro


def test_a_table_per_dataset_and_target_level_with_overall_and_every_group(section, html, text):
    captions = re.findall(r"<caption>(.*?)</caption>", html)
    assert "Conformal prediction sets on test at target coverage 80% (95% CI)" in captions
    assert "Conformal prediction sets on test at target coverage 90% (95% CI)" in captions
    level = section.data["datasets"]["test"]["levels"][1]
    table = _between(text, "Conformal prediction sets on test at target coverage 90%", "Conformal coverage by group")
    for header in ("Coverage", "Mondrian coverage", "Mean set size", "Empty sets", "Both classes", " n "):
        assert header in table
    cov = level["overall"]["coverage"]
    size = level["overall"]["mean_set_size"]
    overall = (f"All patients {cov['value'] * 100:.1f}% ({cov['ci'][0] * 100:.1f}–{cov['ci'][1] * 100:.1f}%) — "
               f"{size['value']:.2f} ({size['ci'][0]:.2f}–{size['ci'][1]:.2f})")
    assert overall in table
    groups = {g["group"]: g for g in level["groups"]}
    b = groups[HOSTILE]
    row = _between(table, f"grp={HOSTILE}", f"{b['n']:,}")
    m, mo = b["marginal"]["coverage"], b["mondrian"]["coverage"]
    assert f"{m['value'] * 100:.1f}% ({m['ci'][0] * 100:.1f}–{m['ci'][1] * 100:.1f}%)" in row
    assert f"{mo['value'] * 100:.1f}% ({mo['ci'][0] * 100:.1f}–{mo['ci'][1] * 100:.1f}%)" in row
    assert "grp=tiny small group" in table and "grp=A" in table
    assert html.count('<table class="uncertainty-table">') == 2


def test_the_coverage_figure_is_embedded_once_with_alt_text_naming_the_under_covered_group(html):
    images = [img for img in parse(html).all("img") if img["alt"].startswith("Conformal prediction-set coverage")]
    assert len(images) == 1
    alt = images[0]["alt"]
    assert "1 dataset (test)" in alt and "target coverage 0.9" in alt
    assert f"lies wholly below the target: grp={HOSTILE} on test" in alt
    assert "grp=A" not in alt.split("wholly below")[1]
    ET.fromstring(base64.b64decode(images[0]["src"].split(",", 1)[1]).decode("utf-8"))
    assert len(parse(html).all("img")) == 3  # ROC, PR and coverage: not shown twice


def test_hostile_group_label_is_escaped(html, text):
    doc = parse(html)
    assert not doc.all("script")
    assert HOSTILE not in html
    assert f"grp={HOSTILE}" in text


def test_the_coverage_svg_is_deterministic_and_greys_small_groups(section):
    datasets = section.data["datasets"]
    a, b = coverage_figure(datasets, 0.95), coverage_figure(datasets, 0.95)
    assert a.svg == b.svg and a.alt == b.alt
    assert a.svg == section.figures["coverage"].svg
    assert "#8c8c8c" in a.svg  # the small group
    assert "Mondrian" in a.alt


def test_a_hand_written_section_without_groups_or_mondrian_renders():
    est = lambda v, lo, hi, n: {"value": v, "ci": [lo, hi], "method": "wilson", "n": n}  # noqa: E731
    level = {"target": 0.9, "groups": [], "overall": {
        "coverage": est(0.91, 0.88, 0.93, 300), "mean_set_size": {"value": 1.2, "ci": [1.1, 1.3], "method": "wald", "n": 300},
        "empty": est(0.0, 0.0, 0.01, 300), "both": est(0.2, 0.16, 0.25, 300)}}
    datasets = {"gbsg": {"n_evaluated": 300, "levels": [level],
                         "metrics": {"coverage": level["overall"]["coverage"]}}}
    results = make_results()
    results["sections"]["uncertainty"] = {"title": "Conformal uncertainty", "status": "pass", "evidence": [],
                                          "calibration": {"dataset": "test", "share": 0.5, "n": 298},
                                          "mondrian": False, "confidence": 0.95, "datasets": datasets}
    fig = coverage_figure(datasets)
    html = render_html(results, {"uncertainty": {"coverage": fig}})
    text = visible_text(html)
    assert "All patients 91.0% (88.0–93.0%) — 1.20 (1.10–1.30) 0.0% (0.0–1.0%) 20.0% (16.0–25.0%) 300" in text
    assert "No group's interval lies wholly below the target." in fig.alt
    assert "Mondrian coverage calibrates" not in text
