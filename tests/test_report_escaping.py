"""Every string a user typed reaches the report as text, never as markup."""

import json
import re

import numpy as np
import pandas as pd
import yaml
from scipy.special import expit

from audit import cli

EVIL = '<script>alert("x")</script>'


def _table(n, seed, attribute, group_values, target, prediction, feature):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = expit(-0.3 + 1.2 * x)
    return pd.DataFrame({
        feature: x,
        attribute: rng.choice(group_values, n),
        target: (rng.random(n) < p).astype(int),
        prediction: p,
    })


def test_script_tags_typed_anywhere_by_the_user_never_survive_as_markup(tmp_path):
    attribute, target, prediction, feature = EVIL + "sex", EVIL + "died", EVIL + "p", EVIL + "age"
    groups = [EVIL + "F", EVIL + "M", "<img src=x onerror=alert(1)>"]
    _table(500, 1, attribute, groups, target, prediction, feature).to_csv(tmp_path / "test.csv", index=False)
    _table(400, 2, attribute, groups, target, prediction, feature).to_csv(tmp_path / "ext.csv", index=False)
    spec = {
        "name": EVIL + " audit",
        "description": EVIL + " description",
        "intended_use": EVIL + " use",
        "data": {"test": "test.csv", "external": {EVIL + "site": "ext.csv"}, "target": target, "prediction": prediction,
                 "sensitive": [attribute]},
        "settings": {"n_resamples": 50, "seed": 3},
        "checks": ["profile", "performance", "fairness", "calibration", "utility", "uncertainty", "external", "robustness"],
        "checklists": ["future-ai", "tripod-ai"],
        "attestations": {"future-ai": {"Fairness-1": {"text": EVIL + " attested", "source": EVIL + " source"}},
                         "tripod-ai": {"TRIPOD-6c": {"na": EVIL + " reason"}}},
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    assert cli.main(["run", str(tmp_path / "audit.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert not re.search(r"<script", html, flags=re.I)
    assert not re.search(r'<img(?! src="data:image/svg\+xml;base64,)', html)  # only our own figures are images
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html, flags=re.I)  # no event-handler attribute in any tag
    escaped = html.count("&lt;script&gt;")
    # name, description, use, site, attribute, groups, columns, attestation text, source and reason all appear escaped
    for text in (" audit", " description", " use", "site", "sex", "F", "died", " attested", " source", " reason"):
        assert f"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;{text}" in html, text
    assert escaped >= 10 and "&lt;img src=x onerror=alert(1)&gt;" in html
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["spec"]["name"] == EVIL + " audit"  # results.json keeps what the user typed
