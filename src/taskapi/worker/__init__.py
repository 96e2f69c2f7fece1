"""Workers: run handlers for claimed tasks (see ``Worker``), and the public handler surface."""

from taskapi.worker._duties import LeaseRenewer, Pruner, Rescuer, every
from taskapi.worker._runner import StopReason
from taskapi.worker._worker import Worker, WorkerOptions, WorkerStats, new_worker_id
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import (
    HandlerSpec,
    handler,
    handler_modules,
    load_handlers,
    params_validators,
)
from taskapi.worker.resources import NoResources, ResourceSpec

__all__ = [
    "HandlerSpec",
    "LeaseRenewer",
    "NoResources",
    "Pruner",
    "Rescuer",
    "ResourceSpec",
    "StopReason",
    "TaskCancelled",
    "TaskContext",
    "Worker",
    "WorkerOptions",
    "WorkerStats",
    "every",
    "handler",
    "handler_modules",
    "load_handlers",
    "new_worker_id",
    "params_validators",
]
