"""taskapi: background tasks of the literature-research pipeline.

The public surface for handler authors and pipelines::

    from taskapi import handler, TaskContext, TaskCancelled, TaskService

Each name is imported on first use (PEP 562): ``import taskapi.client`` runs this module first, and
the HTTP client must not load the service, the store and the worker it never uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskapi._lazy import lazy_names

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


__getattr__ = lazy_names(__name__, _HOMES, globals())
