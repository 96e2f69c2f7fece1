"""What a handler sees of its task: ``TaskContext`` and ``TaskCancelled``.

Progress and cancellation go through a ``TaskSlot``: a few numbers that the worker reads on its own
schedule. In a child process the slot lives in shared memory, so ``progress()`` costs a few stores
and never a system call; the worker coalesces what it finds there into a few writes per second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class TaskCancelled(Exception):
    """Raised inside a handler once its task was cancelled (or its run must stop)."""


class TaskSlot(Protocol):
    """Where a running task's progress is left and its cancellation is found."""

    def set_progress(self, done: int, total: int | None) -> None: ...

    @property
    def stop_requested(self) -> bool: ...


class TaskContext:
    """The handler's view of its task (``ctx``): params, ids, progress and cancellation."""

    __slots__ = (
        "_on_noticed",
        "_resources",
        "_slot",
        "attempt",
        "params",
        "project_id",
        "task_id",
        "task_type",
    )

    def __init__(
        self,
        *,
        task_id: int,
        project_id: int,
        task_type: str,
        params: dict[str, Any],
        attempt: int,
        slot: TaskSlot,
        on_noticed: Callable[[], None] | None = None,
        resources: Callable[[], Any] | None = None,
    ) -> None:
        self.task_id = task_id
        self.project_id = project_id
        self.task_type = task_type
        self.params = params
        self.attempt = attempt
        self._slot = slot
        # Told when the handler has seen its stop: from then on it is stopping by itself, and must
        # not be interrupted (in a child process) in the middle of its clean-up.
        self._on_noticed = on_noticed
        self._resources = resources

    @property
    def resources(self) -> Any:
        """What the composition root gives handlers (the built-in pipeline: the papers library, the
        file store, the sources' settings), opened once per process on first use."""
        if self._resources is None:
            raise RuntimeError("this worker has no handler resources configured")
        return self._resources()

    @property
    def cancelled(self) -> bool:
        """True once cancellation was asked (or the run must stop: timeout, shutdown, lost lease)."""
        if self._slot.stop_requested:
            if self._on_noticed is not None:
                self._on_noticed()
            return True
        return False

    def check_cancelled(self) -> None:
        """Raise ``TaskCancelled`` if the task was cancelled; call it between steps of long work."""
        if self.cancelled:
            raise TaskCancelled(f"task {self.task_id} was cancelled")

    def progress(self, done: int, total: int | None = None) -> None:
        """Report ``done`` of ``total`` steps; cheap to call often. Also a cancellation check."""
        if isinstance(done, bool) or not isinstance(done, int) or done < 0:
            raise ValueError(f"progress must be a non-negative integer, got {done!r}")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise ValueError(f"total must be a non-negative integer, got {total!r}")
        self._slot.set_progress(done, total)
        self.check_cancelled()

    def __repr__(self) -> str:
        return f"TaskContext(task_id={self.task_id}, task_type={self.task_type!r}, attempt={self.attempt})"
