"""Figures: deterministic, self-contained SVG with alt text that names what is plotted."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from audit.figure import Figure
from audit.plots import OKABE_ITO, figure_to_svg, forest_figure, pr_figure, roc_figure

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


FOREST_METRICS = ["auroc", "sensitivity", "fnr", "brier"]


def _est(value, half=0.05, n=100, method="bootstrap-bca"):
    if value is None:
        return {"value": None, "ci": None, "method": method, "n": n}
    return {"value": value, "ci": [round(value - half, 3), round(value + half, 3)], "method": method, "n": n}


def _forest_group(label, shift, n=150, status="ok", reason=None, auroc=True):
    base = {"auroc": 0.71, "sensitivity": 0.64, "fnr": 0.36, "brier": 0.21}
    metrics = {m: _est(round(v + shift, 3), n=n) for m, v in base.items()}
    if not auroc:
        metrics["auroc"] = _est(None, n=n, method="delong")
    return {"label": label, "n": n, "n_events": n // 3, "status": status, "reason": reason, "metrics": metrics}


def _partitions() -> list[dict]:
    return [
        {"name": "sex", "kind": "attribute", "attributes": ["sex"], "reference": "F",
         "groups": [_forest_group("F", 0.0, 300), _forest_group("M", -0.04, 250),
                    _forest_group("(missing)", 0.02, 9, "insufficient evidence", "n = 9 < 30")]},
        {"name": "age_band", "kind": "attribute", "attributes": ["age_band"], "reference": "50-69",
         "groups": [_forest_group("<50", -0.05), _forest_group("50-69", 0.0, 280), _forest_group("70+", 0.03)]},
        {"name": "sex × age_band", "kind": "intersection", "attributes": ["sex", "age_band"],
         "reference": "F × 50-69",
         "groups": [_forest_group("F × 50-69", 0.0, 160),
                    _forest_group("M × <50", -0.1, 12, "insufficient evidence", "n = 12 < 30; one class only",
                                  auroc=False)]},
    ]


def _forest(partitions=None, metrics=FOREST_METRICS, dataset="test", overall=True):
    reference = {"auroc": 0.7, "sensitivity": {"value": 0.63, "ci": [0.6, 0.66]}, "fnr": 0.37, "brier": None}
    return forest_figure(_partitions() if partitions is None else partitions, metrics, dataset,
                         reference if overall else None)


@pytest.mark.parametrize("make, curves", [(roc_figure, _roc_curves), (pr_figure, _pr_curves),
                                          (lambda p: _forest(p), _partitions)])
def test_svg_is_byte_identical_when_built_twice(make, curves):
    assert make(curves()).svg == make(curves()).svg


@pytest.mark.parametrize("make, curves", [(roc_figure, _roc_curves), (pr_figure, _pr_curves),
                                          (lambda p: _forest(p), _partitions)])
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
    assert "@font-face" not in fig.svg  # no font is embedded or fetched


@pytest.mark.parametrize("make, curves", [(roc_figure, _roc_curves), (pr_figure, _pr_curves),
                                          (lambda p: _forest(p), _partitions)])
def test_svg_text_is_text_with_a_font_every_system_has(make, curves):
    """Labels stay searchable text; each names DejaVu Sans first and ends on a generic family."""
    root = ET.fromstring(make(curves()).svg)
    texts = [e for e in root.iter(SVG_NS + "text")]
    assert texts, "labels should be <text>, not glyph outlines"
    for text in texts:
        family = re.search(r"font-family: ([^;]+)", text.get("style", "")).group(1)
        assert family.startswith("'DejaVu Sans'") and family.endswith("sans-serif"), family


def test_user_text_in_a_figure_is_escaped_not_markup():
    curves = _roc_curves()
    curves["<script>alert(1)</script> & co"] = curves.pop("test")
    svg = roc_figure(curves).svg
    assert "<script" not in svg
    root = ET.fromstring(svg)
    assert any("<script>alert(1)</script> & co" in "".join(t.itertext()) for t in root.iter(SVG_NS + "text"))
    assert not list(root.iter(SVG_NS + "script"))


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
    _forest()
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


# ------------------------------------------------------------------------ forest plot


def test_forest_alt_text_names_dataset_metrics_group_count_and_insufficient_groups():
    fig = _forest()
    assert fig.alt.startswith("Forest plot of subgroup estimates on dataset test:")
    assert "4 metrics (AUROC, Sensitivity, FNR (underdiagnosis), Brier score)" in fig.alt
    assert "8 groups in 3 partitions (sex, age_band, sex × age_band)" in fig.alt
    assert "insufficient evidence" in fig.alt
    assert "sex: (missing) (n = 9 < 30)" in fig.alt
    assert "sex × age_band: M × <50 (n = 12 < 30; one class only)" in fig.alt
    assert "Not estimable, shown as n/a: sex × age_band: M × <50 (AUROC)" in fig.alt
    assert "dashed vertical line" in fig.alt and "whole dataset" in fig.alt
    assert "95% confidence interval" in fig.alt
    assert fig.title == "Subgroup estimates — test"


def test_forest_without_overall_values_draws_and_mentions_no_reference_line():
    fig = _forest(overall=False)
    assert "dashed vertical line" not in fig.alt
    assert "stroke-dasharray" not in _forest_style_lines(fig.svg, "#777777")


def _forest_style_lines(svg: str, colour: str) -> str:
    return "\n".join(line for line in svg.splitlines() if colour in line)


def test_forest_draws_judged_groups_filled_and_insufficient_groups_hollow_grey():
    svg = _forest().svg
    assert f"fill: {OKABE_ITO[0].lower()}" in svg  # judged groups: filled blue dots
    assert f"fill: {OKABE_ITO[1].lower()}" in svg  # reference groups: filled vermillion squares
    assert re.search(r"fill: #ffffff; stroke: #8c8c8c", svg)  # insufficient evidence: hollow grey
    assert re.search(r"stroke-dasharray: [0-9.,\s]+; stroke-dashoffset: 0; stroke: #8c8c8c", svg)  # dotted CI


def test_forest_draws_one_dashed_overall_line_per_panel_with_an_overall_value():
    root = ET.fromstring(_forest().svg)
    vertical = 0
    for path in root.iter(SVG_NS + "path"):
        style = path.get("style", "")
        if "stroke-dasharray" in style and "#777777" in style:
            points = re.findall(r"[ML] ([-\d.]+) ([-\d.]+)", path.get("d", ""))
            if len(points) == 2 and points[0][0] == points[1][0]:
                vertical += 1
    assert vertical == 3  # AUROC, sensitivity, FNR; the Brier score has no overall value


def test_forest_lays_out_up_to_five_panels_per_row():
    nine = ["auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr", "selection_rate", "brier"]
    parts = _partitions()
    for p in parts:
        for g in p["groups"]:
            g["metrics"] = {m: _est(0.5) for m in nine}
    fig = forest_figure(parts, nine, "gbsg")
    assert "9 metrics" in fig.alt
    width, height = (float(re.search(rf'{k}="([\d.]+)pt"', fig.svg).group(1)) for k in ("width", "height"))
    assert width > height  # two rows of five panels, not one tall column


def test_forest_handles_no_partitions_no_metrics_and_missing_intervals():
    ET.fromstring(forest_figure([], FOREST_METRICS, "empty").svg)
    ET.fromstring(forest_figure(_partitions(), [], "none").svg)
    parts = _partitions()
    parts[0]["groups"][0]["metrics"]["auroc"]["ci"] = None
    parts[0]["groups"][1]["metrics"]["auroc"]["value"] = float("nan")
    fig = forest_figure(parts, FOREST_METRICS, "test")
    assert "sex: M (AUROC)" in fig.alt
    ET.fromstring(fig.svg)


def test_forest_hostile_labels_stay_inside_well_formed_xml():
    name = '<script>alert(1)</script> $x^2$ --> "><img onerror=x>'
    parts = _partitions()
    parts[0]["name"] = name
    parts[0]["groups"][1]["label"] = name
    fig = forest_figure(parts, FOREST_METRICS, name)
    root = ET.fromstring(fig.svg)
    assert not list(root.iter(SVG_NS + "script"))
    assert name in fig.alt


def test_forest_is_fast_enough_for_one_figure_per_dataset():
    import time

    nine = ["auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr", "selection_rate", "brier"]
    parts = _partitions()
    for p in parts:
        for g in p["groups"]:
            g["metrics"] = {m: _est(0.5) for m in nine}
    forest_figure(parts, nine, "warm-up")
    start = time.perf_counter()
    forest_figure(parts, nine, "test", {m: 0.5 for m in nine})
    assert time.perf_counter() - start < 2.0  # typically ~0.3 s; generous for slow CI machines
