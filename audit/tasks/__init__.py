"""Tasks: one module per kind of outcome, behind one seam (``audit.tasks.base.Task``).

``TASKS`` maps the spec's ``task:`` to the task; :func:`get_task` looks one up.
"""

from __future__ import annotations

from .base import Prediction, Target, Task
from .binary import BinaryTask
from .multiclass import MulticlassTask
from .multilabel import MultilabelTask
from .segmentation import SegmentationTask
from .survival import SurvivalTask

TASKS: dict[str, Task] = {task.name: task for task in (BinaryTask(), MulticlassTask(), MultilabelTask(), SurvivalTask(), SegmentationTask())}


def get_task(name: str) -> Task:
    """The task called ``name`` (the spec validates the name, so a miss is a bug of ours)."""
    return TASKS[name]


__all__ = ["TASKS", "BinaryTask", "MulticlassTask", "MultilabelTask", "Prediction", "SegmentationTask", "SurvivalTask", "Target", "Task", "get_task"]
