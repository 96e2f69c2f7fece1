"""taskapi: background tasks of the literature-research pipeline.

The public surface for handler authors and pipelines::

    from taskapi import handler, TaskContext, TaskCancelled, TaskService
"""

from taskapi.domain import Task, TaskNotCancellable, TaskNotFound, TaskStatus, TaskType
from taskapi.service import TaskService
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import handler

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
