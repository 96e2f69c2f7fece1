"""Prometheus metrics that this process observes itself (its workers' runs, pickups, cancels, kills).

They live in prometheus_client's default registry, so whichever process runs a worker (``serve`` with
its embedded worker, or ``taskapi worker``) can export them. Counts that every host must agree on
(tasks by status, queue depth, oldest pending) are read from the store at scrape time instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("taskapi.metrics")

# From 1 ms to 5 min: pickups and cancels are milliseconds, runs can be minutes.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RUN_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

PICKUP_SECONDS = Histogram(
    "taskapi_pickup_seconds",
    "Time from a task's creation to a worker claiming it (first attempts only)",
    ["task_type"],
    buckets=_LATENCY_BUCKETS,
)
RUN_SECONDS = Histogram(
    "taskapi_run_seconds",
    "Time a handler ran, by how its run ended (completed, failed, cancelled, timeout, lost, shutdown)",
    ["task_type", "outcome"],
    buckets=_RUN_BUCKETS,
)
CANCEL_TO_STOP_SECONDS = Histogram(
    "taskapi_cancel_to_stop_seconds",
    "Time from a worker hearing of a cancel to its handler having stopped",
    ["task_type"],
    buckets=_LATENCY_BUCKETS,
)
HARD_KILLS = Counter(
    "taskapi_hard_kills",
    "Handlers killed because they did not stop within the cancel grace or their timeout",
    ["task_type"],
)
RESCUES = Counter(
    "taskapi_rescues",
    "Tasks whose worker was lost, by where the rescue put them (pending again, or failed)",
    ["outcome"],
)


# -- read from the store at scrape time --------------------------------------------------------------

ACTIVE_STATUSES = ("pending", "running")
RARE_EVENT_KINDS = ("rescued", "lost", "killed", "timed_out")


class StoreFigures(Protocol):
    """What every host must agree on, read from the store (``TaskService.queue_stats``, requested of
    the store's owner; any object with these attributes will do).

    ``active`` counts the pending and running tasks by ``(status, task_type)``; ``events`` counts the
    timeline's rare kinds (rescued, lost, killed, timed_out) over the kept history."""

    @property
    def active(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def oldest_pending_created_at(self) -> datetime | None: ...

    @property
    def events(self) -> Mapping[str, int]: ...


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Store figures as a value (see ``StoreFigures``)."""

    active: Mapping[tuple[str, str], int]
    oldest_pending_created_at: datetime | None
    events: Mapping[str, int] = field(default_factory=dict)


class StoreCollector(Collector):
    """Store-derived metrics, read once per scrape with indexed queries only.

    Only the active statuses are counted: pending and running rows are few next to the finished ones
    and sit in partial indexes, so the count costs the same at ten million finished rows as at ten.
    Finished tasks are not counted per scrape (that is a scan of the table); their rate is
    ``taskapi_run_seconds_count`` by outcome, recorded by the workers. ``taskapi_store_up`` is 0 when
    the store did not answer (the other store metrics are then absent, not stale)."""

    def __init__(self, read: Callable[[], StoreFigures], task_types: Sequence[str]) -> None:
        self._read = read
        self._task_types = tuple(task_types)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("taskapi_store_up", "1 when the task store answered this scrape, else 0")
        try:
            stats = self._read()
        except Exception as exc:  # a scrape must answer even when the store is down
            log.warning("metrics: the store did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._families(stats)

    def _families(self, stats: StoreFigures) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "taskapi_tasks", "Tasks pending or running, by status and type", labels=["status", "task_type"]
        )
        types = sorted({*self._task_types, *(t for _, t in stats.active)})
        for status in ACTIVE_STATUSES:
            for task_type in types:
                tasks.add_metric([status, task_type], stats.active.get((status, task_type), 0))
        yield tasks
        depth = sum(n for (status, _), n in stats.active.items() if status == "pending")
        yield GaugeMetricFamily("taskapi_queue_depth", "Tasks waiting to be claimed (pending)", value=depth)
        age = 0.0
        if stats.oldest_pending_created_at is not None:
            age = max((datetime.now(UTC) - stats.oldest_pending_created_at).total_seconds(), 0.0)
        yield GaugeMetricFamily(
            "taskapi_oldest_pending_age_seconds", "Age of the oldest pending task (0 when none)", value=age
        )
        events = CounterMetricFamily(
            "taskapi_task_events", "Timeline events of the rare kinds, over the kept history", labels=["kind"]
        )
        for kind in RARE_EVENT_KINDS:
            events.add_metric([kind], stats.events.get(kind, 0))
        yield events
