"""The fairness section of the report: subgroup tables, gaps, disparities and the forest plot."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import pytest

from audit.plots import forest_figure
from audit.report import render_html

from test_report import HOSTILE, make_figures, make_results, parse, visible_text

# ------------------------------------------------------------------------------ fixture

FAIR_METRICS = ["auroc", "sensitivity", "specificity", "ppv", "npv", "fnr", "fpr", "selection_rate", "brier"]

#: Base values of each metric on the whole dataset; groups shift them a little.
BASE = {"auroc": 0.71, "sensitivity": 0.64, "specificity": 0.68, "ppv": 0.59, "npv": 0.72,
        "fnr": 0.36, "fpr": 0.32, "selection_rate": 0.45, "brier": 0.21}


def est(value, lo, hi, method="bootstrap-bca", n=None):
    return {"value": value, "ci": [lo, hi] if lo is not None else None, "method": method, "n": n}


def _group(label, n, n_events, shift, status="ok", reason=None, width=0.06):
    """One group: every metric shifted by ``shift`` (FNR the other way), CIs widen as n falls."""
    exact = status == "insufficient evidence"
    half = round(width * (200 / max(n, 1)) ** 0.5, 3)
    metrics = {}
    for m in FAIR_METRICS:
        v = round(BASE[m] + (-shift if m in ("fnr", "brier") else shift), 3)
        method = "clopper-pearson" if exact and m != "auroc" and m != "brier" else (
            "delong" if m == "auroc" else "bootstrap-bca")
        metrics[m] = est(v, round(max(v - half, 0.0), 3), round(min(v + half, 1.0), 3), method, n)
    prevalence = round(n_events / n, 3)
    return {
        "label": label, "n": n, "n_events": n_events, "status": status, "reason": reason,
        "prevalence": est(prevalence, round(max(prevalence - half, 0), 3), round(min(prevalence + half, 1), 3),
                          "clopper-pearson" if exact else "wilson", n),
        "metrics": metrics,
    }


def _gaps(groups, reference, *, significant=None, worst=None, n=None):
    """Comparisons of every non-reference group with the reference, per metric."""
    ref = next(g for g in groups if g["label"] == reference)
    out = {}
    for m in FAIR_METRICS:
        comparisons, values = [], []
        for g in groups:
            gv, rv = g["metrics"][m]["value"], ref["metrics"][m]["value"]
            if gv is not None:
                values.append(gv)
            if g["label"] == reference:
                continue
            if gv is None:
                comparisons.append({"group": g["label"], "difference": est(None, None, None, "bootstrap-bca", n),
                                    "ratio": est(None, None, None, "bootstrap-bca", n),
                                    "p_value": None, "p_adjusted": None, "significant": None})
                continue
            d, r = round(gv - rv, 3), round(gv / rv, 3)
            sig = significant is not None and (g["label"], m) == significant
            half_d, half_r = (0.04, 0.06) if sig else (0.07, 0.11)  # a significant gap's CI excludes 0
            comparisons.append({
                "group": g["label"],
                "difference": est(d, round(d - half_d, 3), round(d + half_d, 3), "bootstrap-bca", n),
                "ratio": est(r, round(r - half_r, 3), round(r + half_r, 3), "bootstrap-bca", n),
                "p_value": 0.0004 if sig else 0.21,
                "p_adjusted": 0.0031 if sig else 0.63,
                "significant": sig,
            })
        gap = round(max(values) - min(values), 3)
        out[m] = {"worst": worst.get(m) if worst else None,
                  "max_min": est(gap, round(max(gap - 0.08, 0), 3), round(gap + 0.08, 3), "bootstrap-bca", n),
                  "comparisons": comparisons}
    return out


def _disparities(n):
    return {"demographic_parity_difference": est(0.083, 0.021, 0.151, "bootstrap-bca", n),
            "equalized_odds_difference": est(0.121, 0.043, 0.198, "bootstrap-bca", n),
            "equal_opportunity_difference": est(0.121, 0.043, 0.198, "bootstrap-bca", n)}


def make_partitions(n_total: int, *, age="age_band", meno="meno", young="<50", insufficient_label=None) -> list[dict]:
    age_groups = [_group(young, 120, 60, -0.06), _group("50-69", 301, 128, 0.0), _group("70+", 175, 62, 0.03)]
    meno_groups = [_group("pre", 231, 98, -0.02), _group("post", 357, 150, 0.01),
                   _group("(missing)", 8, 2, 0.0, "insufficient evidence", "n = 8 < 30; 2 events < 5")]
    small = insufficient_label or f"{young} × post"
    small_group = _group(small, 12, 1, -0.1, "insufficient evidence", "n = 12 < 30; 1 event < 5; one class only")
    small_group["metrics"]["auroc"] = est(None, None, None, "delong", 12)
    inter_groups = [_group(f"{young} × pre", 108, 59, -0.07), small_group,
                    _group("50-69 × pre", 88, 31, 0.01), _group("50-69 × post", 213, 97, 0.0),
                    _group("70+ × post", 175, 62, 0.03)]
    return [
        {"name": age, "kind": "attribute", "attributes": [age], "reference": "50-69", "groups": age_groups,
         "gaps": _gaps(age_groups, "50-69", significant=(young, "sensitivity"),
                       worst={"sensitivity": young, "auroc": young, "fnr": young}, n=n_total),
         "disparities": _disparities(n_total)},
        {"name": meno, "kind": "attribute", "attributes": [meno], "reference": "post", "groups": meno_groups,
         "gaps": _gaps(meno_groups, "post", n=n_total), "disparities": _disparities(n_total)},
        {"name": f"{age} × {meno}", "kind": "intersection", "attributes": [age, meno],
         "reference": "50-69 × post", "groups": inter_groups,
         "gaps": _gaps(inter_groups, "50-69 × post", n=n_total), "disparities": _disparities(n_total)},
    ]


def _overall(n):
    return {m: est(BASE[m], round(BASE[m] - 0.04, 3), round(BASE[m] + 0.04, 3),
                   "delong" if m == "auroc" else "bootstrap-bca", n) for m in FAIR_METRICS}


def fairness_section(test="test", external="gbsg", multiplicity="holm", **names) -> dict:
    return {
        "title": "Subgroup fairness", "status": "warning",
        "evidence": ["fairness.gaps", "fairness.intersectional", "fairness.subgroups"],
        "threshold": 0.5, "confidence": 0.95, "reference": "largest", "multiplicity": multiplicity,
        "min_group_size": 30, "min_group_events": 5, "margins": {"auroc": 0.05, "sensitivity": 0.05, "brier": 0.02},
        "metrics": list(FAIR_METRICS),
        "datasets": {
            test: {"overall": _overall(596), "partitions": make_partitions(596, **names)},
            external: {"overall": _overall(686), "partitions": make_partitions(686, **names)},
        },
    }


def make_fairness_results(test="test", external="gbsg", multiplicity="holm", **names) -> dict:
    results = make_results(test=test, external=external)
    results["spec"]["checks"] = ["performance", "fairness"]
    results["sections"]["fairness"] = fairness_section(test, external, multiplicity, **names)
    results["findings"].append({
        "check": "fairness", "severity": "warning", "dataset": test,
        "message": "Sensitivity is 0.06 lower for age_band <50 than for 50-69 (significant after Holm adjustment).",
    })
    return results


def make_fairness_figures(results: dict) -> dict:
    figures = make_figures(results)
    section = results["sections"]["fairness"]
    figures["fairness"] = {
        f"forest_{name}": forest_figure(d["partitions"], section["metrics"], name,
                                        {m: e["value"] for m, e in d["overall"].items()},
                                        confidence=section["confidence"])
        for name, d in section["datasets"].items()
    }
    return figures


@pytest.fixture(scope="module")
def results() -> dict:
    return make_fairness_results()


@pytest.fixture(scope="module")
def figures(results) -> dict:
    return make_fairness_figures(results)


@pytest.fixture(scope="module")
def html(results, figures) -> str:
    return render_html(results, figures)


@pytest.fixture(scope="module")
def text(html) -> str:
    return visible_text(html)


def _between(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


# ------------------------------------------------------------------------------- tests


def test_fairness_section_keeps_the_generic_title_status_findings_and_evidence(html, text):
    doc = parse(html)
    assert "section-fairness" in doc.ids()
    assert "Subgroup fairness" in text
    assert "Sensitivity is 0.06 lower for age_band <50 than for 50-69" in text
    assert "fairness.gaps" in text and "fairness.intersectional" in text and "fairness.subgroups" in text
    assert "Threshold" in text and "FNR (underdiagnosis)" in text


def test_a_group_table_per_dataset_and_partition_shows_estimates_with_cis(html, text):
    captions = re.findall(r"<caption>(.*?)</caption>", html)
    for ds in ("test", "gbsg"):
        for p in ("age_band", "meno", "age_band × meno"):
            assert f"{p} on {ds}: estimates by group (95% CI)" in captions
            assert f"{p} on {ds}: gaps between groups (95% simultaneous CI; max − min with its one-sided upper bound), each group compared with the reference group " \
                   in " ".join(captions)
    # <50: AUROC 0.71 − 0.06 with a half-width of 0.06·√(200/120) ≈ 0.077
    assert "0.650 (0.573–0.727)" in text
    # the whole-dataset row, n, events and a prevalence with its interval
    assert "All patients" in text and "0.710 (0.670–0.750)" in text
    age = _between(text, "age_band on test: estimates by group", "age_band on test: gaps")
    assert "<50" in age and " 120 " in age and " 60 " in age and "0.500 (0.423–0.577)" in age
    for metric in ("AUROC", "Sensitivity (recall)", "Specificity", "PPV (precision)", "NPV",
                   "FNR (underdiagnosis)", "FPR (overdiagnosis)", "Selection rate", "Brier score"):
        assert metric in age


def test_the_insufficient_group_is_shown_marked_with_its_reason_and_its_null_auroc_as_a_dash(html, text):
    inter = _between(text, "age_band × meno on test: estimates by group", "age_band × meno on test: gaps")
    assert "<50 × post" in inter
    assert "insufficient evidence" in inter
    assert "n = 12 < 30; 1 event < 5; one class only" in inter
    row = _between(inter, "<50 × post", "50-69 × pre")
    assert "—" in row  # the AUROC that could not be estimated
    assert "0.540 (" in row  # the other metrics are still shown, with their exact intervals
    classes = [a.get("class", "") for t, a in parse(html).tags if t == "tr"]
    assert sum("row-insufficient" in c for c in classes) >= 4  # (missing) and <50 × post, both datasets
    assert "n = 8 < 30; 2 events < 5" in text  # the (missing) group, never hidden


def test_the_reference_group_of_each_partition_is_marked(html, text):
    age = _between(text, "age_band on test: estimates by group", "age_band on test: gaps")
    assert "50-69 reference" in age
    inter = _between(text, "age_band × meno on test: estimates by group", "age_band × meno on test: gaps")
    assert "50-69 × post reference" in inter
    assert "Reference group: 50-69." in text
    assert "the largest group of each partition" in text


def test_gaps_table_lists_difference_ratio_adjusted_p_and_flags_the_significant_comparison(html, text):
    gaps = _between(text, "age_band on test: gaps between groups", "age_band on test: fairness disparities")
    assert "Significant after Holm adjustment" in gaps
    sens = _between(gaps, "Sensitivity (recall)", "Specificity")
    # max − min gap with CI, the worst group, then <50 vs 50-69: difference, ratio, p, adjusted p, flag
    assert "0.090 (0.010–0.170) <50 <50 -0.060 (-0.100 to -0.020) 0.906 (0.846–0.966) <0.001 0.003 significant" in sens
    assert "70+ 0.030 (-0.040 to 0.100)" in sens and "0.630 no" in sens
    flagged = re.findall(r'<td class="sig cmp"><span class="sig-flag">significant</span>', html)
    assert len(flagged) == 2  # the one significant comparison, on each dataset
    assert '<tr class="row-significant">' in html


def test_disparities_are_shown_with_their_cis_and_meaning(text):
    disparities = _between(text, "age_band on gbsg: fairness disparities", "meno on gbsg")
    assert "Demographic parity difference 0.083 (0.021–0.151)" in disparities
    assert "Equalized odds difference 0.121 (0.043–0.198)" in disparities
    assert "Equal opportunity difference 0.121 (0.043–0.198)" in disparities
    assert "selection rate" in disparities and "true positive rate" in disparities


def test_how_to_read_explains_gaps_small_groups_missing_values_and_the_adjustment(text):
    intro = _between(text, "How to read this. Each table lists the subgroups", "Subgroups on test")
    assert "confidence interval" in intro and "contains 0 means the data do not show a gap" in intro
    assert "fewer than 30 patients or fewer than 5 events" in intro and "score or exact intervals" in intro
    assert "insufficient evidence" in intro and "take part in no comparison, gap or disparity" in intro
    assert "(missing)" in intro
    assert "Holm's step-down procedure" in intro and "family-wise error rate" in intro


def test_how_to_read_says_gap_intervals_are_simultaneous_and_spreads_are_one_sided_upper_bounds():
    html = render_html(make_fairness_results(multiplicity="max-t"), {})
    intro = _between(visible_text(html), "How to read this. Each table lists the subgroups", "Subgroups on test")
    assert "simultaneous" in intro and "biased upward" in intro and "one-sided upper bound" in intro
    assert "max-T bootstrap" in intro and "exactly when its interval excludes 0" in intro


@pytest.mark.parametrize("multiplicity, words, header", [
    ("holm", "Holm's step-down procedure, which controls the family-wise error rate", "Significant after Holm adjustment"),
    ("fdr_bh", "Benjamini–Hochberg procedure, which controls the false discovery rate",
     "Significant after Benjamini–Hochberg adjustment"),
])
def test_the_multiplicity_adjustment_is_named_in_words(multiplicity, words, header):
    text = visible_text(render_html(make_fairness_results(multiplicity=multiplicity), {}))
    assert words in text
    assert header in text


def test_each_dataset_gets_its_forest_plot_embedded_with_alt_text_and_not_twice(html):
    images = parse(html).all("img")
    assert len(images) == 4  # ROC, PR, and one forest plot per dataset
    forest = [img for img in images if img["alt"].startswith("Forest plot")]
    assert [re.search(r"on dataset (\w+):", img["alt"]).group(1) for img in forest] == ["test", "gbsg"]
    for img in forest:
        assert img["src"].startswith("data:image/svg+xml;base64,")
        ET.fromstring(base64.b64decode(img["src"].split(",", 1)[1]).decode("utf-8"))
        assert "AUROC" in img["alt"] and "11 groups in 3 partitions" in img["alt"]
        assert "<50 × post (n = 12 < 30; 1 event < 5; one class only)" in img["alt"]
    # each forest plot sits after its dataset's tables
    assert html.index("age_band × meno on test: fairness disparities") < html.index(forest[0]["src"][:200])
    assert html.index(forest[0]["src"][:200]) < html.index("age_band on gbsg: estimates by group")


def test_every_link_is_in_page_and_every_id_is_unique(html):
    doc = parse(html)
    ids = [a["id"] for _, a in doc.tags if a.get("id")]
    assert len(ids) == len(set(ids))
    for tag, attrs in doc.tags:
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value is not None:
                assert value.startswith(("#", "data:")), value
                if value.startswith("#"):
                    assert value[1:] in ids, value
    assert not doc.all("script") and not doc.all("link")
    assert re.search(r"https?://", html) is None


def test_print_styles_put_fairness_on_landscape_pages_and_tables_scroll_on_screen(html):
    style = parse(html).style
    assert "@page wide" in style and "landscape" in style
    assert re.search(r"\.check-wide\s*\{\s*page:\s*wide", style)
    assert ".table-wrap { overflow-x: auto" in style
    assert 'class="check check-wide"' in html
    assert html.count('<div class="table-wrap">\n<table class="fairness-table groups">') == 6


def test_fairness_without_figures_or_gaps_still_renders():
    results = make_fairness_results()
    section = results["sections"]["fairness"]
    part = section["datasets"]["gbsg"]["partitions"][1]
    part["gaps"] = {}
    part["disparities"] = {}
    part["reference"] = None
    section["datasets"]["gbsg"]["partitions"][0]["gaps"]["auroc"]["comparisons"] = []
    section["datasets"]["gbsg"]["partitions"][0]["gaps"]["auroc"]["max_min"] = None
    section["datasets"]["gbsg"]["partitions"][0]["gaps"]["auroc"]["worst"] = None
    section["multiplicity"] = None
    html = render_html(results, {})
    text = visible_text(html)
    assert not parse(html).all("img")
    assert "Reference group: none recorded." in text
    assert "No comparison with the reference group." in text
    assert "no adjustment" in text and "Significant (unadjusted)" in text


def test_rendering_is_deterministic(results, figures):
    assert render_html(results, figures) == render_html(results, figures)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_labels_partition_attribute_and_dataset_names_are_escaped(hostile):
    names = dict(age=f"age{hostile}", meno=f"meno{hostile}", young=f"young{hostile}",
                 insufficient_label=f"tiny{hostile}")
    results = make_fairness_results(test=f"test{hostile}", external=f"ext{hostile}", **names)
    section = results["sections"]["fairness"]
    for ds in section["datasets"].values():
        ds["partitions"][0]["gaps"]["sensitivity"]["worst"] = f"young{hostile}"
        ds["partitions"][2]["groups"][1]["reason"] = f"reason{hostile}"
        ds["partitions"][2]["kind"] = hostile
    section["multiplicity"] = hostile
    section["reference"] = hostile
    html = render_html(results, make_fairness_figures(results))
    doc = parse(html)

    assert not doc.all("script")
    assert not [a for _, a in doc.tags if "onerror" in a]
    assert [t for t, _ in doc.tags].count("img") == 4  # only the figures
    assert hostile not in html  # never as raw markup

    text = visible_text(html)
    for value in (f"age{hostile}", f"meno{hostile}", f"age{hostile} × meno{hostile}", f"young{hostile}",
                  f"tiny{hostile}", f"reason{hostile}", f"test{hostile}", f"ext{hostile}"):
        assert value in text, value
    forest = [img for img in doc.all("img") if img["alt"].startswith("Forest plot")]
    assert f"tiny{hostile}" in forest[0]["alt"] and f"test{hostile}" in forest[0]["alt"]
    for img in forest:
        ET.fromstring(base64.b64decode(img["src"].split(",", 1)[1]).decode("utf-8"))


def test_fmt_p_and_negative_intervals():
    from audit.report import estimate_parts, fmt_estimate, fmt_p

    assert fmt_p(0.0004) == "<0.001"
    assert fmt_p(0.0312) == "0.031"
    assert fmt_p(None) == "—"
    assert fmt_estimate({"value": -0.06, "ci": [-0.13, -0.01]}) == "-0.060 (-0.130 to -0.010)"
    assert estimate_parts({"value": 0.7, "ci": [0.6, 0.8]}) == ("0.700", "(0.600–0.800)")
    assert estimate_parts(None) == ("—", "")
    assert estimate_parts({"value": 0.5, "ci": None}) == ("0.500", "(no CI)")
