"""The audit spec: valid specs load with their defaults; every mistake gives one plain sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import AuditInputError
from audit.spec import KNOWN_CHECKS, AuditSpec, load_spec, resolve


def minimal(**overrides) -> dict:
    """A valid spec dict (prediction column, no model) with top-level keys replaced."""
    spec = {"name": "demo", "data": {"test": "test.csv", "target": "y", "prediction": "p"}}
    spec.update(overrides)
    return spec


def with_data(**data) -> dict:
    """A valid spec dict whose ``data`` section is extended by ``data``."""
    return minimal(data={"test": "test.csv", "target": "y", "prediction": "p", **data})


def write(tmp_path: Path, text: str, name: str = "audit.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- valid specs ------------------------------------------------------------------------------


def test_minimal_dict_loads_with_documented_defaults():
    spec, base = load_spec(minimal())
    assert spec.task == "binary"
    assert spec.checks == ["performance"]
    assert spec.report == ["html"]
    assert spec.settings.seed == 0
    assert spec.settings.n_resamples == 2000
    assert spec.settings.confidence == 0.95
    assert spec.settings.threshold == 0.5
    assert spec.settings.ci_method == "bca"
    assert spec.settings.min_group_size == 30
    assert spec.data.external == {} and spec.data.sensitive == [] and spec.data.features is None
    assert base == Path.cwd()


def test_full_yaml_file_loads_and_base_dir_is_the_spec_folder(tmp_path):
    path = write(
        tmp_path,
        """
name: Rotterdam → GBSG
task: binary
model: {path: model.skops}
data:
  test: rotterdam.csv
  external: {gbsg: gbsg.csv, other: other.parquet}
  target: recur5
  positive_label: yes_recur
  sensitive: [age_band, meno]
  id: pid
settings: {seed: 7, n_resamples: 500, confidence: 0.9, threshold: 0.3, ci_method: percentile}
checks: [profile, performance, fairness, calibration, utility, uncertainty, robustness, external]
checklists: [future-ai, claim-2024]
attestations: {claim-2024: {CLAIM-7: "Patients operated 1978-1993"}}
report: [html, pdf]
""",
    )
    spec, base = load_spec(path)
    assert base == tmp_path.resolve()
    assert list(spec.data.external) == ["gbsg", "other"]
    assert spec.model.path == "model.skops" and spec.model.trust is False
    assert spec.settings.ci_method == "percentile"
    assert spec.attestations["claim-2024"]["CLAIM-7"].text.startswith("Patients")
    assert set(spec.checks) == set(KNOWN_CHECKS)


def test_load_spec_accepts_a_path_string_and_an_auditspec(tmp_path):
    path = write(tmp_path, "name: x\ndata: {test: t.csv, target: y, prediction: p}\n")
    spec, base = load_spec(str(path))
    assert base == tmp_path.resolve()
    same, base2 = load_spec(spec)
    assert same is spec and base2 == Path.cwd()


def test_model_path_shorthand_is_a_model_spec():
    spec, _ = load_spec(minimal(model="m.skops", data={"test": "t.csv", "target": "y"}))
    assert spec.model.path == "m.skops" and spec.model.trust is False


@pytest.mark.parametrize("label", ["yes", 2, True])
def test_positive_label_accepts_a_string_an_int_or_a_bool(label):
    spec, _ = load_spec(with_data(positive_label=label))
    assert spec.data.positive_label == label and type(spec.data.positive_label) is type(label)


def test_resolve_keeps_absolute_paths_and_joins_relative_ones(tmp_path):
    assert resolve(tmp_path, "a/b.csv") == tmp_path / "a" / "b.csv"
    assert resolve(tmp_path, tmp_path / "c.csv") == tmp_path / "c.csv"


def test_known_checks_lists_the_eight_checks():
    assert KNOWN_CHECKS == ("profile", "performance", "fairness", "calibration", "utility", "uncertainty", "robustness", "external")


# ---- the file itself --------------------------------------------------------------------------


def test_missing_spec_file_is_named(tmp_path):
    with pytest.raises(AuditInputError, match=r"nope\.yaml.*does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\ndata:\n  test: a.csv\n  target: [y\n")
    with pytest.raises(AuditInputError, match=r"audit\.yaml is not valid YAML at line \d+"):
        load_spec(path)


def test_yaml_that_is_a_list_is_refused(tmp_path):
    with pytest.raises(AuditInputError, match="must be a YAML mapping.*list"):
        load_spec(write(tmp_path, "- name\n- data\n"))


def test_empty_yaml_file_is_refused(tmp_path):
    with pytest.raises(AuditInputError, match="audit.yaml is empty"):
        load_spec(write(tmp_path, "# nothing\n"))


def test_key_given_twice_is_refused(tmp_path):
    path = write(tmp_path, "name: x\ndata:\n  test: a.csv\n  external: {s: b.csv, s: c.csv}\n  target: y\n")
    with pytest.raises(AuditInputError, match=r"audit\.yaml gives the key 's' twice in the same mapping at line 4"):
        load_spec(path)


# ---- unknown keys -----------------------------------------------------------------------------


def test_unknown_nested_key_names_its_dotted_location_and_suggests_the_closest(tmp_path):
    path = write(tmp_path, "name: x\ndata: {test: t.csv, target: y, prediction: p}\nsettings: {n_resample: 100}\n")
    with pytest.raises(AuditInputError) as info:
        load_spec(path)
    assert str(info.value) == "unknown key 'settings.n_resample' in audit.yaml; did you mean 'n_resamples'?"


def test_unknown_model_key_suggests_trust():
    spec = minimal(model={"path": "m.skops", "trusted": True}, data={"test": "t.csv", "target": "y"})
    with pytest.raises(AuditInputError, match=r"unknown key 'model\.trusted'.*did you mean 'trust'"):
        load_spec(spec)


def test_unknown_key_without_close_match_lists_valid_keys():
    with pytest.raises(AuditInputError, match=r"unknown key 'zzz'.*valid keys here include name, task, description.*in all, see the README"):
        load_spec(minimal(zzz=1))


# ---- wrong values -----------------------------------------------------------------------------


def test_wrong_type_names_key_value_and_expectation():
    with pytest.raises(AuditInputError, match=r"'settings\.seed' in the spec is 'abc', but it should be a whole number"):
        load_spec(minimal(settings={"seed": "abc"}))


@pytest.mark.parametrize(
    ("settings", "pattern"),
    [
        ({"n_resamples": 10}, r"'settings\.n_resamples'.* is 10, .*greater than or equal to 50"),
        ({"confidence": 1.5}, r"'settings\.confidence'.* is 1\.5, .*less than or equal to 0\.999"),
        ({"confidence": 0}, r"'settings\.confidence'.* is 0, .*greater than or equal to 0\.5"),
        ({"threshold": -0.1}, r"'settings\.threshold'.* is -0\.1, .*greater than or equal to 0"),
        ({"min_group_size": 0}, r"'settings\.min_group_size'.* is 0, .*greater than or equal to 1"),
        ({"ci_method": "bootstrap"}, r"'settings\.ci_method'.*one of 'bca', 'percentile'"),
    ],
)
def test_out_of_range_settings_are_named(settings, pattern):
    with pytest.raises(AuditInputError, match=pattern):
        load_spec(minimal(settings=settings))


def test_unknown_check_suggests_the_closest_name():
    with pytest.raises(AuditInputError, match=r"'checks\[1\]'.*'fairnes'.*did you mean 'fairness'"):
        load_spec(minimal(checks=["performance", "fairnes"]))


def test_checks_given_as_a_string_asks_for_a_list():
    with pytest.raises(AuditInputError, match=r"'checks' in the spec is 'performance', but it should be a list"):
        load_spec(minimal(checks="performance"))


def test_unknown_report_format_and_task_are_named():
    with pytest.raises(AuditInputError, match=r"'report\[0\]'.*'docx'.*one of 'html', 'pdf'"):
        load_spec(minimal(report=["docx"]))
    with pytest.raises(AuditInputError, match=r"'task' in the spec is 'detection', but it should be one of 'binary', 'multiclass'"):
        load_spec(minimal(task="detection"))


def test_attestation_text_must_be_text():
    with pytest.raises(AuditInputError, match=r"'attestations\.claim\.C-1'.* is 5, but it should be text"):
        load_spec(minimal(attestations={"claim": {"C-1": 5}}))


def test_positive_label_must_be_a_single_value():
    with pytest.raises(AuditInputError, match=r"data\.positive_label is \[1, 2\].*single label"):
        load_spec(with_data(positive_label=[1, 2]))


def test_section_given_as_a_scalar_asks_for_a_mapping():
    with pytest.raises(AuditInputError, match=r"'settings'.* is 5, but it should be a mapping"):
        load_spec(minimal(settings=5))


# ---- missing keys and rules across keys ------------------------------------------------------


def test_missing_required_key_is_named():
    with pytest.raises(AuditInputError, match=r"data\.target is missing; name the outcome column"):
        load_spec(minimal(data={"test": "t.csv", "prediction": "p"}))
    with pytest.raises(AuditInputError, match=r"missing required key 'name'"):
        load_spec({"data": {"test": "t.csv", "target": "y", "prediction": "p"}})


def test_neither_model_nor_prediction_names_both_options():
    with pytest.raises(AuditInputError, match=r"neither model nor data\.prediction.*model: \{path"):
        load_spec(minimal(data={"test": "t.csv", "target": "y"}))


def test_both_model_and_prediction_names_both_options():
    with pytest.raises(AuditInputError, match=r"both model and data\.prediction"):
        load_spec(minimal(model={"path": "m.skops"}))


def test_model_object_from_python_needs_no_model_source():
    spec, _ = load_spec(minimal(data={"test": "t.csv", "target": "y"}), model_object=True)
    assert spec.model is None and spec.data.prediction is None


def test_external_site_named_test_is_refused():
    with pytest.raises(AuditInputError, match=r"data\.external.*'test'.*reserved"):
        load_spec(with_data(external={"test": "other.csv"}))


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (with_data(sensitive=["age", "sex", "age"]), "data.sensitive"),
        (with_data(features=["a", "a"]), "data.features"),
        (minimal(checks=["performance", "performance"]), "checks"),
        (minimal(checklists=["claim-2024", "claim-2024"]), "checklists"),
        (minimal(report=["html", "html"]), "report"),
    ],
)
def test_duplicate_list_entries_are_refused(spec, key):
    with pytest.raises(AuditInputError, match=rf"^{key} lists '\w[\w-]*' more than once"):
        load_spec(spec)


def test_target_cannot_be_a_feature_or_the_prediction():
    with pytest.raises(AuditInputError, match=r"data\.features includes the target column 'y'"):
        load_spec(with_data(features=["a", "y"]))
    with pytest.raises(AuditInputError, match=r"data\.prediction and data\.target are both 'y'"):
        load_spec(with_data(prediction="y"))


def test_several_problems_give_one_message_with_a_summary_line():
    spec = minimal(settings={"seed": "x", "n_resample": 3}, checks=["nope"])
    with pytest.raises(AuditInputError) as info:
        load_spec(spec)
    message = str(info.value)
    assert message.startswith("the spec has 3 problems; fix each of them: (1) ") and "\n" not in message
    assert "settings.seed" in message and "settings.n_resample" in message and "checks[0]" in message


def test_messages_never_show_pydantic_wording():
    with pytest.raises(AuditInputError) as info:
        load_spec(minimal(settings={"seed": [1]}, extra_key=1))
    text = str(info.value)
    assert "pydantic" not in text and "validation error" not in text.lower() and "Input should" not in text


def test_auditspec_can_be_built_directly_in_python():
    spec = AuditSpec(name="x", data={"test": "t.csv", "target": "y", "prediction": "p"})
    assert load_spec(spec)[0] is spec


@pytest.mark.parametrize("threshold", [2**64, 10**400, -(2**70)])
def test_a_threshold_integer_too_large_for_numpy_is_one_plain_message(threshold):
    """Found by the fuzz test: np.isfinite(2**64) raised a TypeError (an internal error) instead of the message."""
    with pytest.raises(AuditInputError, match="settings.threshold"):
        load_spec({"name": "x", "data": {"test": "t.csv", "target": "y", "prediction": "p"}, "settings": {"threshold": threshold}})
