"""What a worker is told (``WorkerOptions``) and what it counts (``WorkerStats``).

Apart from the worker so that the duties, which a server without a worker also runs, read the same
options without importing the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker behaves; the defaults are the service's."""

    concurrency: int = 8
    lease_seconds: float = 30.0
    cancel_grace: float = 5.0
    shutdown_timeout: float = 30.0
    poll_interval: float = 0.25
    rescue_interval: float = 5.0
    progress_interval: float = 0.25
    listen: bool = True  # hear other processes' creates and cancels (PostgreSQL NOTIFY); else poll only
    retention_seconds: float = 0.0  # prune finished tasks older than this; 0 keeps them all
    prune_interval: float = 300.0


@dataclass(slots=True)
class WorkerStats:
    """Counts since start, for logs, tests and benchmarks."""

    claimed: int = 0
    completed: int = 0
    failed: int = 0
    stopped: int = 0
    killed: int = 0
    released: int = 0
    dropped_writes: int = 0
    heard: int = 0  # announcements (creates, cancels) heard: each one once, whichever way it came
    by_reason: dict[str, int] = field(default_factory=dict)
