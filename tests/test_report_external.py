"""The external-validation and data-profile parts of the report show the check's numbers, escaped."""

import re

import numpy as np

from audit.checks import data_profile, external
from audit.report import render_html
from test_external import cohort, two_site_context


def _render(sections):
    results = {"spec": {"name": "ext", "settings": {"confidence": 0.95}}, "sections": {s.name: s.to_dict() for s in sections},
               "findings": [f.to_dict() for s in sections for f in s.findings]}
    return render_html(results, {s.name: s.figures for s in sections})


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_external_report_shows_gap_table_shift_recalibration_and_figures():
    a, b = cohort(800, 11), cohort(700, 12, age_shift=8.0)
    section = external.run(two_site_context(a, b))
    html = _render([section])
    text = _text(html)
    gap = section.data["datasets"]["site_b"]["gaps"]["auroc"]["difference"]
    assert f"{gap['value']:.3f}" in text and f"{gap['ci'][0]:.3f}" in text
    top = section.data["datasets"]["site_b"]["domain_classifier"]["top_features"][0]
    assert top["feature"] == "age" and f"{top['importance']:.3f}" in text
    assert "What recalibration recovers" in text and "Intercept updated" in text
    recal = section.data["datasets"]["site_b"]["recalibration"]["intercept_updated"]
    assert f"{recal['brier']:.3f}" in text
    for title in ("External − internal differences", "Predicted-risk distributions", "Which features shifted"):
        assert f"<figcaption>{title}</figcaption>" in html
    alts = re.findall(r'<img src="data:image/svg\+xml;base64,[^"]+" alt="([^"]+)"', html)
    assert len(alts) >= 3 and all(len(alt) > 40 for alt in alts)


def test_feature_names_from_the_user_are_escaped_in_the_external_and_profile_tables():
    a, b = cohort(600, 13), cohort(600, 14, age_shift=5.0)
    evil = "<script>alert(1)</script>"
    a, b = a.rename(columns={"age": evil}), b.rename(columns={"age": evil})
    ctx = two_site_context(a, b)
    html = _render([data_profile.run(ctx), external.run(ctx)])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_profile_report_puts_datasets_side_by_side_and_lists_only_columns_with_missing_values():
    a, b = cohort(500, 15), cohort(400, 16)
    b.loc[b.index[:40], "marker"] = np.nan
    section = data_profile.run(two_site_context(a, b))
    html = _render([section])
    text = _text(html)
    assert "Missing values per column" in text
    row = re.search(r"<code>marker</code></th><td class=\"num\">([^<]*)<span[^>]*>\(([^)]*)\)</span></td><td class=\"num\">([^<]*)<span[^>]*>\(([^)]*)\)", html)
    assert row and row.group(1).strip() == "0" and row.group(3).strip() == "40" and row.group(4) == "10.0%"
    assert "<code>sex</code>" not in html.split("Missing values per column")[1].split("</table>")[0]
    numeric = section.data["datasets"]["site_b"]["numeric"]
    assert "y" not in numeric  # the target is summarised by its prevalence
    assert f"{numeric['age']['mean']:.2f}" in text
