"""The task seam (issue 18, Part 1 step 1): the binary task behind ``audit.tasks``, the runner reading
``spec.task``, and checks declaring the tasks they are defined for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import audit
from audit.checks import CHECK_TASKS, CHECKS
from audit.errors import AuditInputError
from audit.spec import AuditSpec
from audit.stats import BinaryMetrics
from audit.stats.metrics import METRICS
from audit.tasks import TASKS, BinaryTask, Prediction, Target, get_task


def test_every_task_the_spec_accepts_has_a_module_and_every_check_declares_its_tasks():
    from typing import get_args

    assert set(get_args(AuditSpec.model_fields["task"].annotation)) == set(TASKS)
    assert set(CHECK_TASKS) == set(CHECKS)
    for name, tasks in CHECK_TASKS.items():
        assert tasks and set(tasks) <= set(TASKS), name


def test_the_binary_task_reads_labels_checks_probabilities_and_builds_the_kernel():
    task = get_task("binary")
    assert isinstance(task, BinaryTask) and task.metrics == tuple(METRICS)
    frame = pd.DataFrame({"y": ["Poor", "Good", "Poor"], "p": [0.9, 0.2, 0.6]})
    data = type("Data", (), {"target": "y", "positive_label": "Poor", "prediction": "p"})()
    target = task.read_target(frame, data, "dataset 'test'")
    assert target.values.tolist() == [1, 0, 1]
    prediction = task.check_prediction([0.9, 1 + 1e-12, -1e-12], 3, "test", "dataset 'test'")
    assert prediction.values.tolist() == [0.9, 1.0, 0.0]  # rounding noise clipped
    with pytest.raises(AuditInputError, match="returned 1 value outside"):
        task.check_prediction([0.9, 1.2, 0.1], 3, "test", "dataset 'test'")
    with pytest.raises(AuditInputError, match="returned 2 predictions for 3 rows"):
        task.check_prediction([0.9, 0.1], 3, "test", "dataset 'test'")
    kernel = task.kernel(Target(np.array([1, 0, 1], np.int8)), Prediction(np.array([0.9, 0.2, 0.6])),
                         type("S", (), {"threshold": 0.5})(), ("auroc", "sensitivity"))
    assert isinstance(kernel, BinaryMetrics)
    assert task.summary(Target(np.array([1, 0, 1])), 0.95)["n_events"] == 2


def test_a_check_not_defined_for_the_task_is_not_run_with_the_reason(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    y = (rng.random(120) < 0.4).astype(int)
    pd.DataFrame({"y": y, "p": np.clip(0.4 + 0.3 * (y - 0.4) + rng.normal(0, 0.1, 120), 0.01, 0.99)}).to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.setitem(CHECK_TASKS, "utility", ("multiclass",))  # as a check of a task the spec does not ask for would
    result = audit.run({"name": "x", "data": {"test": str(tmp_path / "t.csv"), "target": "y", "prediction": "p"},
                        "settings": {"n_resamples": 50}, "checks": ["performance", "utility"]})
    assert result.sections["performance"]["status"] != "not run"
    assert result.sections["utility"]["status"] == "not run"
    assert result.sections["utility"]["reason"] == "not defined for binary outcomes"


# ------------------------------------------------------------------------------ the one metric vocabulary


def test_every_metric_is_declared_once_and_every_table_is_read_from_that_declaration():
    from audit import labels
    from audit.stats.metrics import METRICS, PERFORMANCE_METRICS

    names = [m.name for m in labels.METRIC_TABLE]
    assert len(names) == len(set(names))
    assert set(METRICS) | set(PERFORMANCE_METRICS) <= set(names)  # every metric a kernel computes is declared
    for m in labels.METRIC_TABLE:
        assert labels.METRIC_LABELS[m.name] == m.label and labels.SHORT_METRIC_LABELS[m.name] == (m.short or m.label)
        assert labels.METRIC_DIRECTION.get(m.name) == m.direction
        assert labels.EQUIVALENCE_MARGINS.get(m.name) == m.margin
        assert labels.METRIC_BETTER.get(m.name) == m.better
        assert m.interval and set(m.tasks) <= set(TASKS)
    assert labels.HIGHER_IS_BETTER.isdisjoint(labels.LOWER_IS_BETTER)


def test_checks_report_and_benchmark_read_the_vocabulary_instead_of_their_own_tables():
    from audit import benchmark, labels, report
    from audit.checks import fairness

    assert fairness.HIGHER_IS_BETTER is labels.HIGHER_IS_BETTER and fairness.LOWER_IS_BETTER is labels.LOWER_IS_BETTER
    assert benchmark.LOWER_IS_BETTER is labels.LOWER_IS_BETTER and report.METRIC_BETTER is labels.METRIC_BETTER


# ------------------------------------------------------------------------------ one subgroup module


def test_every_check_reads_its_groups_from_the_one_subgroup_module():
    """No check builds partitions, labels groups or judges their size itself, and none imports checks.fairness for it."""
    import inspect
    import re

    from audit import groups
    from audit.checks import calibration, fairness, robustness, uncertainty, utility

    for module in (calibration, fairness, robustness, uncertainty, utility):
        source = inspect.getsource(module)
        assert not re.search(r"from \. import fairness\b|from \.fairness import", source), module.__name__
        assert not re.search(r"[<>]=?\s*settings\.min_group_(size|events)", source), module.__name__  # the rule is groups.too_small
        assert 'fillna("(missing)")' not in source, module.__name__
    assert groups.too_small(29, 10, type("S", (), {"min_group_size": 30, "min_group_events": 5})()) == ["n = 29 < 30"]
    assert groups.too_small(40, 4, type("S", (), {"min_group_size": 30, "min_group_events": 5})()) == ["4 with the outcome < 5"]
