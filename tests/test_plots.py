"""Figures: deterministic, self-contained SVG with alt text that names what is plotted."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from audit.checks.base import Figure
from audit.plots import OKABE_ITO, figure_to_svg, pr_figure, roc_figure

SVG_NS = "{http://www.w3.org/2000/svg}"


def _roc_curves() -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for name, auroc in (("test", 0.712), ("gbsg", 0.662), ("Site Ü-3", 0.6)):
        fpr = np.sort(rng.random(200))
        out[name] = {"fpr": [0.0, *fpr.tolist(), 1.0], "tpr": [0.0, *np.sqrt(fpr).tolist(), 1.0], "auroc": auroc}
    return out


def _pr_curves() -> dict:
    recall = np.linspace(0, 1, 150)
    return {
        "test": {"recall": recall.tolist(), "precision": (1 - 0.55 * recall).tolist(), "auprc": 0.552, "prevalence": 0.42},
        "gbsg": {"recall": recall.tolist(), "precision": (1 - 0.6 * recall).tolist(), "auprc": 0.502, "prevalence": 0.436},
    }


@pytest.mark.parametrize("make, curves", [(roc_figure, _roc_curves), (pr_figure, _pr_curves)])
def test_svg_is_byte_identical_when_built_twice(make, curves):
    assert make(curves()).svg == make(curves()).svg


@pytest.mark.parametrize("make, curves", [(roc_figure, _roc_curves), (pr_figure, _pr_curves)])
def test_svg_parses_as_xml_and_refers_to_nothing_outside_itself(make, curves):
    fig = make(curves())
    assert isinstance(fig, Figure)
    root = ET.fromstring(fig.svg)
    assert root.tag == SVG_NS + "svg"
    for element in root.iter():
        assert element.tag != SVG_NS + "script"
        assert element.tag != SVG_NS + "image"
        for attr, value in element.attrib.items():
            if attr.endswith("href"):
                assert value.startswith("#"), value
    assert "<!DOCTYPE" not in fig.svg
    assert "url(http" not in fig.svg and "@import" not in fig.svg
    assert "<text" not in fig.svg  # glyphs are paths: no font is needed to show the figure


def test_roc_alt_text_names_each_dataset_with_its_auroc():
    fig = roc_figure(_roc_curves())
    for name, auroc in (("test", "0.712"), ("gbsg", "0.662"), ("Site Ü-3", "0.600")):
        assert f"{name} (AUROC {auroc})" in fig.alt
    assert "ROC" in fig.alt and "chance" in fig.alt
    assert fig.title == "ROC curve"


def test_pr_alt_text_names_each_dataset_with_its_auprc_and_prevalence():
    fig = pr_figure(_pr_curves())
    assert "test (AUPRC 0.552, prevalence 0.420)" in fig.alt
    assert "gbsg (AUPRC 0.502, prevalence 0.436)" in fig.alt
    assert "prevalence" in fig.alt and "dashed" in fig.alt


def test_lines_use_okabe_ito_colours_and_distinct_dash_patterns():
    svg = roc_figure(_roc_curves()).svg
    colours = {c.upper() for c in re.findall(r"stroke: (#[0-9a-fA-F]{6})", svg)}
    assert {OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2]} <= colours
    dash_patterns = set(re.findall(r"stroke-dasharray: ([0-9.,\s]+);", svg))
    assert len(dash_patterns) >= 3  # chance line + the two non-solid dataset lines


def test_pr_figure_draws_a_dashed_prevalence_line_per_dataset():
    root = ET.fromstring(pr_figure(_pr_curves()).svg)
    # axhline at y = prevalence is a two-point horizontal path
    horizontal = 0
    for path in root.iter(SVG_NS + "path"):
        style = path.get("style", "")
        if "stroke-dasharray" in style:
            points = re.findall(r"[ML] ([-\d.]+) ([-\d.]+)", path.get("d", ""))
            if len(points) == 2 and points[0][1] == points[1][1]:
                horizontal += 1
    assert horizontal >= 2


def test_missing_or_undefined_curves_do_not_crash_and_are_described():
    fig = roc_figure({"test": {"fpr": [], "tpr": [], "auroc": None},
                      "gbsg": {"fpr": [0, 0.5, 1], "tpr": [0, float("nan"), 1], "auroc": 0.5}})
    assert "test (no curve available, AUROC n/a)" in fig.alt
    assert "gbsg (AUROC 0.500)" in fig.alt
    ET.fromstring(fig.svg)
    pr = pr_figure({"only": {"recall": None, "precision": None, "auprc": None, "prevalence": None}})
    assert "only (no curve available" in pr.alt


def test_hostile_dataset_names_stay_inside_well_formed_xml():
    name = '<script>alert(1)</script> --> "><img onerror=x>'
    fig = roc_figure({name: {"fpr": [0, 1], "tpr": [0, 1], "auroc": 0.5}})
    root = ET.fromstring(fig.svg)
    assert not list(root.iter(SVG_NS + "script"))
    assert name in fig.alt


def test_no_pyplot_figures_are_left_open():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    roc_figure(_roc_curves())
    pr_figure(_pr_curves())
    assert plt.get_fignums() == before


def test_figure_to_svg_drops_the_date_and_creator_metadata():
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    svg = figure_to_svg(fig)
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert svg == figure_to_svg(_same_plot())


def _same_plot():
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig
