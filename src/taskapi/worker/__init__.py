"""Workers: run handlers for claimed tasks (see ``Worker``), and the public handler surface.

The periodic duties (rescue, retention, lease renewal, progress, cancel check) are built by
``build_duties`` and run by ``run_duties``, in a worker and in a server that runs none alike.
"""

from taskapi.worker._duties import (
    CancelChecker,
    Duty,
    Holder,
    LeaseRenewer,
    ProgressFlusher,
    Pruner,
    Rescuer,
    build_duties,
    every,
    run_duties,
)
from taskapi.worker._options import WorkerOptions, WorkerStats
from taskapi.worker._outcomes import (
    Cancelled,
    Completed,
    Failed,
    HandedBack,
    Lost,
    Outcome,
    StopReason,
    TimedOut,
)
from taskapi.worker._worker import Worker, new_worker_id
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
    "CancelChecker",
    "Cancelled",
    "Completed",
    "Duty",
    "Failed",
    "HandedBack",
    "HandlerSpec",
    "Holder",
    "LeaseRenewer",
    "Lost",
    "NoResources",
    "Outcome",
    "ProgressFlusher",
    "Pruner",
    "Rescuer",
    "ResourceSpec",
    "StopReason",
    "TaskCancelled",
    "TaskContext",
    "TimedOut",
    "Worker",
    "WorkerOptions",
    "WorkerStats",
    "build_duties",
    "every",
    "handler",
    "handler_modules",
    "load_handlers",
    "new_worker_id",
    "params_validators",
    "run_duties",
]
