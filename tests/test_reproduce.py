"""trustaudit reproduce: the recorded audit re-run gives every number again, and a change is named."""

import json

import pytest

from audit.cli import main
from audit.reproduce import compare
from test_cli import prediction_spec, write_spec  # noqa: F401 - the fixture


def _audit(directory, spec):
    spec = {**spec, "checks": ["performance", "calibration"], "settings": {"n_resamples": 100, "seed": 4}}
    assert main(["run", str(write_spec(directory, spec)), "--out", str(directory / "out"), "--quiet"]) == 0
    return directory / "out" / "results.json"


def test_reproduce_matches_every_recorded_number(prediction_spec, capsys):  # noqa: F811
    directory, _, spec = prediction_spec
    results = _audit(directory, spec)
    assert main(["reproduce", str(results), "--base-dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "reproduced: every one of" in out and "differs" not in out


def test_reproduce_names_a_changed_input_file_and_the_numbers_that_moved(prediction_spec, capsys):  # noqa: F811
    directory, frame, spec = prediction_spec
    results = _audit(directory, spec)
    frame.assign(risk=frame["risk"] * 0.9).to_csv(directory / "test.csv", index=False)
    assert main(["reproduce", str(results), "--base-dir", str(directory)]) == 3
    out = capsys.readouterr().out
    assert "input changed: data:test (test.csv)" in out
    assert "NOT reproduced" in out and "differs: datasets.test.sha256" in out
    from audit.reproduce import reproduce

    outcome = reproduce(results, directory)
    paths = {d["path"] for d in outcome.differences}
    assert "sections.calibration.datasets.test.metrics.calibration_intercept.value" in paths
    assert "datasets.test.n" not in paths  # same patients, other predictions


def test_reproduce_without_the_input_files_is_a_plain_error(prediction_spec, tmp_path, capsys):  # noqa: F811
    directory, _, spec = prediction_spec
    results = _audit(directory, spec)
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    assert main(["reproduce", str(results), "--base-dir", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "data:test" in err and "--base-dir" in err and "Traceback" not in err


def test_compare_reports_paths_of_differing_leaves_and_honours_a_tolerance():
    a = {"x": {"value": 1.0, "ci": [0.5, 1.5]}, "y": [1, 2], "z": "same"}
    b = {"x": {"value": 1.0 + 1e-12, "ci": [0.5, 1.6]}, "y": [1, 2, 3], "z": "same"}
    diffs, count = compare(a, b)
    assert [d["path"] for d in diffs] == ["x.value", "x.ci[1]", "y"] and count == 5
    assert [d["path"] for d in compare(a, b, tolerance=1e-9)[0]] == ["x.ci[1]", "y"]
