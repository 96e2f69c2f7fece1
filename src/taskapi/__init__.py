"""taskapi: background tasks of the literature-research pipeline.

The public surface for handler authors and pipelines::

    from taskapi import handler, TaskContext, TaskCancelled, TaskService

Each name is imported on first use (PEP 562): ``import taskapi.client`` runs this module first, and
the HTTP client must not load the service, the store and the worker it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskapi.domain import Task, TaskNotCancellable, TaskNotFound, TaskStatus, TaskType
    from taskapi.service import TaskService
    from taskapi.worker.context import TaskCancelled, TaskContext
    from taskapi.worker.registry import handler

_HOMES = {
    "Task": "taskapi.domain",
    "TaskCancelled": "taskapi.worker.context",
    "TaskContext": "taskapi.worker.context",
    "TaskNotCancellable": "taskapi.domain",
    "TaskNotFound": "taskapi.domain",
    "TaskService": "taskapi.service",
    "TaskStatus": "taskapi.domain",
    "TaskType": "taskapi.domain",
    "handler": "taskapi.worker.registry",
}

__all__ = [
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskNotCancellable",
    "TaskNotFound",
    "TaskService",
    "TaskStatus",
    "TaskType",
    "handler",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'taskapi' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
