"""Announcements that a task was created or cancelled, and the list of in-process listeners.

The store publishes them after its commits through its notifier (``taskapi.store.notify``), which
delivers this process's directly through a ``Signals`` and hears other processes' (host datagrams on
SQLite, NOTIFY on PostgreSQL); the payload format is ``taskapi.store.codec``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskSignal:
    kind: Literal["created", "cancelled"]
    task_id: int
    task_type: str | None = None
    worker_id: str | None = None


Listener = Callable[[TaskSignal], None]


class Signals:
    """A thread-safe list of listeners, called in the publisher's thread; they must not block."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; answer the function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, signal: TaskSignal) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(signal)
            except Exception:  # a listener's bug must not fail the API call that published
                log.exception("signal listener failed for %s", signal)
