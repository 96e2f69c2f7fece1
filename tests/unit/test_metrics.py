"""/healthz, /readyz and /metrics in-process; the store collector's families from given figures."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from taskapi.metrics import QueueStats, StoreCollector
from tests.helpers.server import InProcessApi, envelope

TYPES = ["search", "ocr"]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(collector: StoreCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return samples(generate_latest(registry).decode())


def test_healthz_answers_without_the_store(api: InProcessApi) -> None:
    api.store.close()
    assert envelope(api.get("/healthz"), 200) == {"code": 200, "message": "alive", "data": {"status": "ok"}}


def test_readyz_is_200_while_the_store_answers(api: InProcessApi) -> None:
    assert envelope(api.get("/readyz"), 200) == {"code": 200, "message": "ready", "data": {"store": "sqlite"}}


def test_metrics_is_prometheus_text_with_the_worker_metrics(api: InProcessApi) -> None:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    expected = {
        "taskapi_pickup_seconds",
        "taskapi_run_seconds",
        "taskapi_cancel_to_stop_seconds",
        "taskapi_hard_kills",
        "taskapi_rescues",
    }
    assert expected <= names


def test_the_store_collector_counts_active_tasks_by_status_and_type() -> None:
    oldest = datetime.now(UTC) - timedelta(seconds=90)
    stats = QueueStats(
        active={("pending", "search"): 4, ("pending", "ocr"): 1, ("running", "search"): 2},
        oldest_pending_created_at=oldest,
        events={"rescued": 3, "killed": 1},
    )
    got = scrape(StoreCollector(lambda: stats, TYPES))
    assert got[("taskapi_store_up", ())] == 1
    assert got[("taskapi_tasks", (("status", "pending"), ("task_type", "search")))] == 4
    assert got[("taskapi_tasks", (("status", "pending"), ("task_type", "ocr")))] == 1
    assert got[("taskapi_tasks", (("status", "running"), ("task_type", "search")))] == 2
    assert got[("taskapi_tasks", (("status", "running"), ("task_type", "ocr")))] == 0  # present, as 0
    assert got[("taskapi_queue_depth", ())] == 5
    assert 90 <= got[("taskapi_oldest_pending_age_seconds", ())] < 120
    assert got[("taskapi_task_events_total", (("kind", "rescued"),))] == 3
    assert got[("taskapi_task_events_total", (("kind", "killed"),))] == 1
    assert got[("taskapi_task_events_total", (("kind", "lost"),))] == 0


def test_an_empty_queue_has_depth_and_age_zero() -> None:
    got = scrape(StoreCollector(lambda: QueueStats(active={}, oldest_pending_created_at=None), TYPES))
    assert got[("taskapi_queue_depth", ())] == 0
    assert got[("taskapi_oldest_pending_age_seconds", ())] == 0


def test_a_store_that_does_not_answer_gives_store_up_0_and_no_stale_figures() -> None:
    def down() -> QueueStats:
        raise ConnectionError("connection refused")

    got = scrape(StoreCollector(down, TYPES))
    assert got == {("taskapi_store_up", ()): 0}


def test_metrics_shows_the_store_figures(api: InProcessApi) -> None:
    for _ in range(3):
        api.create(task_type="ocr")
    got = samples(api.get("/metrics").text)
    assert got[("taskapi_tasks", (("status", "pending"), ("task_type", "ocr")))] == 3
    assert got[("taskapi_queue_depth", ())] == 3


MIRRORING = """
import sys
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from taskapi.metrics import CollectorMirror

class Hub:  # a change hub's collector, as far as the mirror is concerned
    clients, passes = int(sys.argv[1]), 0
    def collect(self):
        yield GaugeMetricFamily("taskapi_stream_clients", "clients", value=self.clients)
        yield CounterMetricFamily("taskapi_stream_passes", "passes", value=self.passes)
        dropped = CounterMetricFamily("taskapi_stream_dropped_clients", "dropped", labels=["reason"])
        dropped.add_metric(["behind"], self.passes // 2)
        yield dropped

hub = Hub()
mirror = CollectorMirror(hub)
for passes in map(int, sys.argv[2:]):
    hub.passes = passes
    mirror.sync()
"""


def test_the_mirror_sums_the_processes_and_a_dead_ones_counters_stay(tmp_path: Path) -> None:
    pids = []
    for clients, passes in ((2, (3, 7, 7)), (1, (4,))):
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
        process = subprocess.Popen(
            [sys.executable, "-c", MIRRORING, str(clients), *map(str, passes)],
            env=env,
            stderr=subprocess.PIPE,
        )
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors.decode()
        pids.append(process.pid)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(tmp_path))  # type: ignore[no-untyped-call]

    def figures() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return samples(generate_latest(registry).decode())

    summed = figures()
    assert summed[("taskapi_stream_clients", ())] == 3
    assert summed[("taskapi_stream_passes_total", ())] == 7 + 4  # the growth, copied once
    assert summed[("taskapi_stream_dropped_clients_total", (("reason", "behind"),))] == 3 + 2

    mark_process_dead(pids[0], str(tmp_path))  # type: ignore[no-untyped-call]  # as serve does on a death
    after = figures()
    assert after[("taskapi_stream_clients", ())] == 1  # its clients are gone with it
    assert after[("taskapi_stream_passes_total", ())] == 11  # its counts are not: they never go back
