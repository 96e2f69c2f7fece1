"""The change hub's reading rules, over a change log whose commit order the test controls.

Here the test decides which events are visible when, so each rule (start at the head, continue from
the last id read, slow clients dropped without holding up others, a client's queue bounded in batches
and bytes, a cap on clients, progress only when it changed, resume from the log) is checked exactly.
The hub over real stores and servers (late-committing ids on PostgreSQL included) is tested in
tests/e2e/test_events_stream*.py and tests/e2e/test_stream_*.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from taskapi.api.hub import ChangeHub, HubCollector, HubOptions, Message, Replay, StreamsFull, Subscription
from taskapi.domain import Task, TaskStatus

T0 = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    id: int
    task_id: int
    kind: str


@dataclass
class ControlledLog:
    """A change log where ``commit`` makes an event visible, in whatever order the test chooses."""

    visible: dict[int, Event] = field(default_factory=dict)
    tasks: dict[int, Task] = field(default_factory=dict)
    running: list[tuple[int, int, int]] = field(default_factory=list)
    reads_after: list[int] = field(default_factory=list)
    down: bool = False

    def task(self, task_id: int, project_id: int = 1, status: TaskStatus = TaskStatus.PENDING) -> None:
        self.tasks[task_id] = Task(task_id, project_id, "search", status, 0, 0, {}, None, "", T0, None, None)

    def commit(self, event_id: int, task_id: int, kind: str = "created") -> None:
        if task_id not in self.tasks:
            self.task(task_id)
        self.visible[event_id] = Event(event_id, task_id, kind)

    def changes(self, after_event_id: int, limit: int) -> list[Event]:
        self.reads_after.append(after_event_id)
        return [self.visible[i] for i in sorted(self.visible) if i > after_event_id][:limit]

    def get_many(self, ids: Sequence[int]) -> list[Task]:
        if self.down:
            raise ConnectionError("the store is down")
        return [self.tasks[i] for i in ids if i in self.tasks]

    def running_progress(self) -> list[tuple[int, int, int]]:
        return list(self.running)

    def latest_event_id(self) -> int:
        return max(self.visible, default=0)


def drain(subscription: Subscription) -> list[Message | None]:
    """The messages queued for a client, as its reader takes them (``[None]``: its stream ended)."""
    taken = subscription.take_nowait()
    return [None] if taken is None else list(taken)


def ids(items: Sequence[Message | None]) -> list[int | None]:
    return [None if m is None else m.event_id for m in items]


def data(item: Message | None) -> dict[str, Any]:
    assert item is not None
    decoded: dict[str, Any] = json.loads(item.data)
    return decoded


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_new_client_gets_changes_from_now_on_not_the_history() -> None:
    log = ControlledLog()
    log.commit(1, 10)

    async def scenario() -> list[int | None]:
        hub = ChangeHub(log, HubOptions())
        await hub.run_once()
        client = hub.subscribe(None, None)
        log.commit(2, 11)
        await hub.run_once()
        return ids(drain(client))

    assert run(scenario()) == [2]


def test_messages_carry_the_snapshot_and_what_happened_and_respect_filters() -> None:
    log = ControlledLog()
    log.task(10, project_id=1)
    log.task(11, project_id=2)

    async def scenario() -> tuple[list[Message | None], ...]:
        hub = ChangeHub(log, HubOptions())
        await hub.run_once()
        everything, project_2, task_10 = (
            hub.subscribe(None, None),
            hub.subscribe(2, None),
            hub.subscribe(None, 10),
        )
        log.commit(1, 10)
        log.commit(2, 11)
        log.commit(3, 10, "cancelled")
        await hub.run_once()
        return drain(everything), drain(project_2), drain(task_10)

    everything, project_2, task_10 = run(scenario())
    assert ids(everything) == [1, 2, 3] and ids(project_2) == [2] and ids(task_10) == [1, 3]
    first = everything[0]
    assert first is not None and first.wire == f"event: task\ndata: {first.data}\nid: 1\n\n".encode()
    assert data(first) == {
        "id": 10,
        "project_id": 1,
        "task_type": "search",
        "status": "pending",
        "progress": 0,
        "total": 0,
        "created_at": "2025-03-12T10:00:00",
        "started_at": None,
        "completed_at": None,
        "error_message": "",
        "event": "created",
    }
    assert data(everything[2])["event"] == "cancelled"


def test_each_pass_continues_from_the_last_id_read() -> None:
    log = ControlledLog()
    log.commit(1, 10)

    async def scenario() -> list[int]:
        hub = ChangeHub(log, HubOptions(page=2))
        await hub.run_once()
        for event_id in (2, 3, 4):
            log.commit(event_id, 10 + event_id)
        await hub.run_once()
        await hub.run_once()
        return log.reads_after

    assert run(scenario()) == [1, 1, 3, 4]  # from the head; a full page is followed at once


def test_a_page_whose_tasks_could_not_be_read_is_sent_at_the_next_pass() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[list[int | None], list[int | None]]:
        hub = ChangeHub(log, HubOptions())
        await hub.run_once()
        client = hub.subscribe(None, None)
        log.commit(1, 10)
        log.down = True
        with pytest.raises(ConnectionError):
            await hub.run_once()
        during = ids(drain(client))
        log.down = False
        await hub.run_once()
        return during, ids(drain(client))

    assert run(scenario()) == ([], [1])


def test_a_slow_client_is_dropped_and_the_others_get_everything() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[Subscription, list[int | None], Subscription, dict[str, int]]:
        hub = ChangeHub(log, HubOptions(backlog=2, page=500))
        await hub.run_once()
        slow, fast = hub.subscribe(None, None), hub.subscribe(None, None)
        got: list[int | None] = []
        for event_id in range(1, 5):  # one pass each: a batch each
            log.commit(event_id, 10 + event_id)
            await hub.run_once()  # completes though the slow client's queue is full
            got += ids(drain(fast))
        for event_id in range(5, 600):  # a page bigger than the backlog is one batch
            log.commit(event_id, 10 + event_id)
        await hub.run_once()
        return slow, got + ids(drain(fast)), fast, hub.dropped

    slow, fast_ids, fast, dropped = run(scenario())
    assert slow.dropped and slow.reason == "behind" and not fast.dropped
    assert dropped == {"behind": 1, "stalled": 0}
    assert fast_ids == list(range(1, 600))
    assert drain(slow) == [None]  # what it had queued is let go; its reader finds the end


def test_progress_is_sent_when_it_changed_and_only_then() -> None:
    log = ControlledLog()
    log.task(10, status=TaskStatus.RUNNING)

    async def scenario() -> list[list[tuple[int, int]]]:
        hub = ChangeHub(log, HubOptions(progress_interval=0.0))
        await hub.run_once()
        client = hub.subscribe(None, None)
        seen = []
        for progress in [(0, 10), (3, 10), (3, 10), (7, 10)]:
            log.running = [(10, *progress)]
            await hub.run_once()
            seen.append([(data(m)["progress"], data(m)["total"]) for m in drain(client)])
        return seen

    assert run(scenario()) == [[], [(3, 10)], [], [(7, 10)]]


def test_progress_messages_have_no_event_id_and_say_progress() -> None:
    log = ControlledLog()
    log.task(10, status=TaskStatus.RUNNING)
    log.running = [(10, 4, 9)]

    async def scenario() -> list[Message | None]:
        hub = ChangeHub(log, HubOptions(progress_interval=0.0))
        client = hub.subscribe(None, None)
        await hub.run_once()
        return drain(client)

    (item,) = run(scenario())
    assert item is not None and item.event_id is None and b"\nid:" not in item.wire
    assert data(item)["event"] == "progress" and data(item)["status"] == "running"


def test_closing_the_streams_ends_every_client_even_a_full_one() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[Subscription, Subscription, Subscription]:
        hub = ChangeHub(log, HubOptions(backlog=1))
        await hub.run_once()
        idle, full = hub.subscribe(None, None), hub.subscribe(None, None)
        log.commit(1, 10)
        await hub.run_once()
        drain(idle)
        hub.close_streams()
        late = hub.subscribe(None, None)
        return idle, full, late

    idle, full, late = run(scenario())
    assert idle.closed and full.closed and late.closed
    assert drain(idle) == [None]


def test_replay_reads_the_missed_range_and_says_when_it_was_cut_short() -> None:
    log = ControlledLog()
    for event_id in range(1, 8):
        log.commit(event_id, 10 + event_id)

    async def scenario(limit: int) -> tuple[list[int | None], bool]:
        replay = Replay(log, after=2, until=6, page=2, limit=limit)
        got = [m.event_id async for page in replay.pages() for m in page]
        return got, replay.cut_short

    assert run(scenario(limit=100)) == ([3, 4, 5, 6], False)
    assert run(scenario(limit=3)) == ([3, 4, 5], True)


def test_events_of_pruned_tasks_are_left_out() -> None:
    log = ControlledLog()

    async def scenario() -> list[int | None]:
        hub = ChangeHub(log, HubOptions())
        await hub.run_once()
        client = hub.subscribe(None, None)
        log.commit(1, 10)
        log.commit(2, 11)
        del log.tasks[10]
        await hub.run_once()
        return ids(drain(client))

    assert run(scenario()) == [2]


def test_a_client_is_dropped_when_its_queue_would_pass_the_byte_bound_not_before() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[list[int | None], Subscription, list[int | None], int]:
        hub = ChangeHub(log, HubOptions(backlog=100))
        await hub.run_once()
        probe = hub.subscribe(None, None)
        log.commit(1, 11)
        await hub.run_once()
        (first,) = drain(probe)
        assert first is not None
        size = len(first.wire)  # every message of this log is as long as this one
        hub.unsubscribe(probe)
        hub = ChangeHub(log, HubOptions(backlog=100, client_buffer=3 * size))
        await hub.run_once()
        reading, stalled = hub.subscribe(None, None), hub.subscribe(None, None)
        got: list[int | None] = []
        for event_id in range(2, 6):  # a batch of one message a pass
            log.commit(event_id, 10 + event_id)
            await hub.run_once()
            got += ids(drain(reading))
        return got, stalled, ids(drain(stalled)), hub.dropped["behind"]

    got, stalled, left, dropped = run(scenario())
    assert got == [2, 3, 4, 5]
    assert stalled.dropped and stalled.reason == "behind" and dropped == 1
    assert left == [None] and stalled.queued_bytes == 0  # three fitted; the fourth dropped it


def test_an_empty_queue_takes_a_batch_bigger_than_the_byte_bound() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[Subscription, list[int | None]]:
        hub = ChangeHub(log, HubOptions(client_buffer=1, page=500))
        await hub.run_once()
        client = hub.subscribe(None, None)
        for event_id in range(1, 301):
            log.commit(event_id, 10 + event_id)
        await hub.run_once()  # one page: one batch of 300 messages, far over one byte
        return client, ids(drain(client))

    client, got = run(scenario())
    assert not client.dropped and got == list(range(1, 301))


def test_take_gives_everything_waiting_in_order_and_frees_the_bytes() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[list[int | None], int, list[Message] | None, list[Message] | None]:
        hub = ChangeHub(log, HubOptions())
        await hub.run_once()
        client = hub.subscribe(None, None)
        for event_id in range(1, 4):
            log.commit(event_id, 10 + event_id)
            await hub.run_once()
        assert client.queue.qsize() == 3 and client.queued_bytes > 0
        taken = await client.take(5.0)
        assert taken is not None
        after_take = client.queued_bytes
        quiet = await client.take(0.01)
        hub.drop(client, "stalled")
        ended = await client.take(5.0)
        return [m.event_id for m in taken], after_take, quiet, ended

    taken, after_take, quiet, ended = run(scenario())
    assert taken == [1, 2, 3] and after_take == 0
    assert quiet == [] and ended is None


def test_streams_past_the_cap_are_refused_and_counted_until_one_leaves() -> None:
    log = ControlledLog()

    async def scenario() -> tuple[int, int, str, bool]:
        hub = ChangeHub(log, HubOptions(max_clients=2))
        await hub.run_once()
        first, _second = hub.subscribe(None, None), hub.subscribe(1, None)
        with pytest.raises(StreamsFull) as refused:
            hub.subscribe(None, 7)
        with pytest.raises(StreamsFull):
            hub.subscribe(None, None)
        hub.unsubscribe(first)
        hub.subscribe(None, None)  # a place was freed
        hub.close_streams()
        late = hub.subscribe(None, None)  # at shutdown: answered (closed at once), not refused
        return hub.clients, hub.refused, str(refused.value), late.closed

    clients, refused, message, late_closed = run(scenario())
    assert clients == 3 and refused == 2 and late_closed
    assert "limit of 2 clients" in message


def test_dropping_counts_and_logs_a_client_once(caplog: pytest.LogCaptureFixture) -> None:
    log = ControlledLog()

    async def scenario() -> dict[str, int]:
        hub = ChangeHub(log, HubOptions())
        client = hub.subscribe(None, None, "10.0.0.7:5123")
        hub.drop(client, "stalled")
        hub.drop(client, "stalled")
        hub.drop(client, "behind")
        return hub.dropped

    with caplog.at_level("INFO", logger="taskapi.api.hub"):
        assert run(scenario()) == {"behind": 0, "stalled": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "10.0.0.7:5123" in lines[0] and "cut" in lines[0]


def test_metrics_show_clients_dropped_by_reason_refused_and_bytes_queued() -> None:
    log = ControlledLog()

    async def scenario() -> str:
        hub = ChangeHub(log, HubOptions(max_clients=2, backlog=1))
        await hub.run_once()
        behind, reading = hub.subscribe(None, None), hub.subscribe(None, None)
        with pytest.raises(StreamsFull):
            hub.subscribe(None, None)
        log.commit(1, 11)
        await hub.run_once()
        drain(reading)
        log.commit(2, 12)
        await hub.run_once()  # ``behind`` still holds event 1: dropped; ``reading`` holds event 2
        assert behind.dropped and not reading.dropped
        registry = CollectorRegistry(auto_describe=False)
        registry.register(HubCollector(hub))
        return generate_latest(registry).decode()

    text = run(scenario())
    assert 'taskapi_stream_dropped_clients_total{reason="behind"} 1.0' in text
    assert 'taskapi_stream_dropped_clients_total{reason="stalled"} 0.0' in text
    assert "taskapi_stream_refused_total 1.0" in text
    assert "taskapi_stream_clients 2.0" in text
    queued = next(line for line in text.splitlines() if line.startswith("taskapi_stream_queued_bytes "))
    assert float(queued.split()[1]) > 0  # event 2, queued for the reading client


def test_a_client_whose_write_has_waited_past_the_send_timeout_is_dropped_and_cut_at_the_next_pass() -> None:
    log = ControlledLog()
    cuts: list[str] = []

    async def scenario() -> tuple[Subscription, Subscription, Subscription, dict[str, int]]:
        hub = ChangeHub(log, HubOptions(send_timeout=5.0))
        stuck, writing, idle = hub.subscribe(None, None), hub.subscribe(None, None), hub.subscribe(None, None)
        stuck.cut, writing.cut, idle.cut = (
            (lambda: cuts.append("stuck")),
            (lambda: cuts.append("writing")),
            None,
        )
        stuck.writing_since = time.monotonic() - 6.0  # a write that began six seconds ago
        writing.writing_since = time.monotonic() - 1.0
        await hub.run_once()
        await hub.run_once()  # counted and cut once
        return stuck, writing, idle, hub.dropped

    stuck, writing, idle, dropped = run(scenario())
    assert stuck.dropped and stuck.reason == "stalled" and drain(stuck) == [None]
    assert not writing.dropped and not idle.dropped
    assert cuts == ["stuck"] and dropped == {"behind": 0, "stalled": 1}


def test_a_client_dropped_for_falling_behind_is_cut_too() -> None:
    log = ControlledLog()
    cuts: list[int] = []

    async def scenario() -> Subscription:
        hub = ChangeHub(log, HubOptions(backlog=1))
        await hub.run_once()
        client = hub.subscribe(None, None)
        client.cut = lambda: cuts.append(1)
        for event_id in (1, 2):
            log.commit(event_id, 10 + event_id)
            await hub.run_once()
        return client

    client = run(scenario())
    assert client.reason == "behind" and cuts == [1]
