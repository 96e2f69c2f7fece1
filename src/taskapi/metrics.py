"""Prometheus metrics that this process observes itself (its workers' runs, pickups, cancels, kills).

They live in prometheus_client's default registry, so whichever process runs a worker (``serve`` with
its embedded worker, or ``taskapi worker``) can export them. Counts that every host must agree on
(tasks by status, queue depth, oldest pending) are read from the store at scrape time instead.

Under ``serve --processes N`` prometheus_client runs in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
set by ``taskapi.serving``): every process writes its values to files, and ``process_registry`` sums
them for whichever process answers the scrape. The live stream's figures, kept by each process's change
hub, are copied there too (``CollectorMirror``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
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


# -- several API processes: multiprocess mode ---------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, when this process is in it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@functools.cache
def process_registry() -> CollectorRegistry:
    """What ``/metrics`` exports besides the store's figures: this process's registry, or in
    multiprocess mode the sum over every process (a dead one's counters included, so that they never
    go back; per-process figures such as CPU time and memory are left out there, as they cannot add)."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    return registry


_MIRRORED: dict[tuple[str, str, tuple[str, ...]], Gauge | Counter] = {}
"""The metrics ``CollectorMirror`` writes, by family name, type and label names: one object per
process for each (two would overwrite each other's values in the shared files). Not registered: they
are exported through the multiprocess files only."""


class CollectorMirror:
    """Copies a per-process collector's figures (the change hub's ``HubCollector``) into the
    multiprocess metrics, so that whichever process answers a scrape reports their sum.

    Gauges become live sums (a dead process's leave the sum); counters grow by what they grew since
    the last copy, so they never go back, and a dead process's stay counted. Other kinds of family
    are not expected from such a collector and are left out."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._copied: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def sync(self) -> None:
        for family in self.collector.collect():
            if family.type not in ("gauge", "counter"):
                continue
            for sample in family.samples:
                if family.type == "counter" and not sample.name.endswith("_total"):
                    continue  # ``_created``: a time, not a count
                metric = _mirrored(family, tuple(sample.labels))
                child = metric.labels(**sample.labels) if sample.labels else metric
                if isinstance(child, Gauge):
                    child.set(sample.value)
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                grown = sample.value - self._copied.get(key, 0.0)
                if grown > 0:
                    child.inc(grown)
                    self._copied[key] = sample.value


def _mirrored(family: Metric, labels: tuple[str, ...]) -> Gauge | Counter:
    key = (family.name, family.type, labels)
    if key not in _MIRRORED:
        if family.type == "gauge":
            _MIRRORED[key] = Gauge(
                family.name, family.documentation, labels, multiprocess_mode="livesum", registry=None
            )
        else:
            _MIRRORED[key] = Counter(family.name, family.documentation, labels, registry=None)
    return _MIRRORED[key]


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
