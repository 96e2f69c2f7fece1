"""Prometheus metrics that this process observes itself (its workers' runs, pickups, cancels, kills).

They live in prometheus_client's default registry, so whichever process runs a worker (``serve`` with
its embedded worker, or ``taskapi worker``) can export them. Counts that every host must agree on
(tasks by status, queue depth, oldest pending) are read from the store at scrape time instead.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# From 1 ms to 5 min: pickups and cancels are milliseconds, runs can be minutes.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RUN_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

PICKUP_SECONDS = Histogram(
    "taskapi_pickup_seconds",
    "Time from a task's creation (or its return to pending) to a worker claiming it",
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
