"""The chaos run's checker catches each kind of violation it claims to (a checker that passes
everything would make the chaos run worthless), and passes a consistent history."""

from __future__ import annotations

from tests.chaos.checks import EventRow, StoreView, TaskRow, check, unfinished
from tests.chaos.clients import Journal, Seen, StreamEvent, StreamLog


def _history() -> tuple[StoreView, Journal, list[tuple[int, int]]]:
    """Task 1 completed at its second attempt after a rescue; task 2 cancelled while pending; one
    stream client saw all of it."""
    tasks = {
        1: TaskRow(1, 1, "completed", 3, 3, 2, False),
        2: TaskRow(2, 2, "cancelled", 0, 0, 0, False),
    }
    kinds = [
        (1, "created", 0),
        (2, "created", 0),
        (1, "claimed", 1),
        (1, "rescued", 1),
        (2, "cancelled", 0),
        (1, "claimed", 2),
        (1, "completed", 2),
    ]
    events = [EventRow(i, task, kind, attempt, "") for i, (task, kind, attempt) in enumerate(kinds, 1)]
    journal = Journal(created=[1, 2], cancelled_ok=[2])
    journal.seen = [Seen("list", 1, "running", 1, 3), Seen("stream", 2, "cancelled", 0, 0)]
    stream = StreamLog(None, last_id=len(events))
    stream.events = [StreamEvent(e.id, e.task_id, tasks[e.task_id].project_id, e.kind) for e in events]
    journal.streams = [stream]
    # attempt 1 completed its run too, but its worker was lost before it could say so
    return StoreView(tasks, events), journal, [(1, 1), (1, 2)]


def _violated(view: StoreView, journal: Journal, runs: list[tuple[int, int]]) -> dict[str, list[str]]:
    return {name: found for name, found in check(view, journal, runs).items() if found}


def test_a_consistent_history_passes() -> None:
    assert _violated(*_history()) == {}


def test_a_cancelled_task_shown_completed_is_caught() -> None:
    view, journal, runs = _history()
    journal.seen.append(Seen("detail", 2, "completed", 0, 0))
    assert _violated(view, journal, runs) == {
        "no cancelled task shown completed; cancels hold": ["cancelled task 2 was shown completed by detail"]
    }


def test_a_cancel_answered_200_that_did_not_stick_is_caught() -> None:
    view, journal, runs = _history()
    journal.cancelled_ok.append(1)
    assert list(_violated(view, journal, runs)) == ["no cancelled task shown completed; cancels hold"]


def test_a_second_completion_is_caught() -> None:
    view, journal, runs = _history()
    view.events.append(EventRow(8, 1, "completed", 2, ""))
    journal.streams[0].events.append(StreamEvent(8, 1, 1, "completed"))
    journal.streams[0].last_id = 8
    found = _violated(view, journal, runs)
    assert list(found) == ["no task completed twice; timeline matches status"]
    assert "task 1 completed 2 times" in found["no task completed twice; timeline matches status"]


def test_a_completion_without_a_run_and_a_run_without_an_end_are_caught() -> None:
    view, journal, _ = _history()
    assert _violated(view, journal, [(1, 1)]) == {
        "every completed handler run is in a timeline": [
            "task 1 completed in attempt 2 without a completed run"
        ]
    }
    view.events.remove(view.events[3])  # the rescue of attempt 1
    journal.streams[0].events.pop(3)
    found = _violated(view, journal, [(1, 1), (1, 2)])
    assert found["every completed handler run is in a timeline"] == [
        "task 1's attempt 1 completed a run but its timeline never ends it"
    ]


def test_a_missed_stream_event_is_caught_unless_a_reset_skipped_it() -> None:
    view, journal, runs = _history()
    journal.streams[0].events.pop(4)
    found = _violated(view, journal, runs)
    assert found == {"stream clients missed no change": ["stream(all): missed 1 changes, e.g. event ids [5]"]}
    journal.streams[0].resets.append((4, 5))
    assert _violated(view, journal, runs) == {}


def test_a_stream_behind_the_log_or_out_of_order_is_caught() -> None:
    view, journal, runs = _history()
    stream = journal.streams[0]
    stream.last_id = 6
    stream.events.pop()
    assert _violated(view, journal, runs) == {
        "stream clients missed no change": ["stream(all): stopped at event 6, the log's last is 7"]
    }
    stream.events.append(stream.events[0])
    stream.last_id = 7
    found = _violated(view, journal, runs)["stream clients missed no change"]
    assert found == [
        "stream(all): event ids not increasing (1 repeated)",
        "stream(all): missed 1 changes, e.g. event ids [7]",
    ]


def test_a_project_stream_expects_only_its_project() -> None:
    view, journal, runs = _history()
    stream = StreamLog(2, last_id=7)
    stream.events = [StreamEvent(e.id, e.task_id, 2, e.kind) for e in view.events if e.task_id == 2]
    journal.streams = [stream]
    assert _violated(view, journal, runs) == {}


def test_an_expired_lease_and_progress_past_total_are_caught() -> None:
    view, journal, runs = _history()
    view.tasks[3] = TaskRow(3, 1, "running", 5, 4, 1, False)
    view.events.extend([EventRow(8, 3, "created", 0, ""), EventRow(9, 3, "claimed", 1, "")])
    journal.streams = []
    found = _violated(view, journal, runs)
    assert found == {
        "final or pending/running under a live lease": [
            "task 3 is running under an expired lease (attempt 1)"
        ],
        "progress <= total": ["task 3 has progress 5 > total 4 in the store"],
    }


def test_an_answer_outside_the_envelope_is_reported() -> None:
    view, journal, runs = _history()
    journal.bad_answers.append("GET /api/v1/tasks: 500 Internal Server Error")
    assert list(_violated(view, journal, runs)) == ["every answer an envelope, no 5xx but 503"]


def test_a_lost_create_and_a_bulk_count_beyond_the_store_are_caught() -> None:
    view, journal, runs = _history()
    journal.created.append(3)
    journal.bulk_cancelled = 1
    assert _violated(view, journal, runs) == {
        "no acknowledged create lost": ["1 acknowledged tasks are not in the store, e.g. [3]"],
        "no cancelled task shown completed; cancels hold": [
            "2 cancels answered (single and bulk) but only 1 tasks cancelled"
        ],
    }


def test_tasks_left_after_the_drain_are_described() -> None:
    view, _, _ = _history()
    view.tasks[3] = TaskRow(3, 1, "running", 0, 0, 2, True, "vm:42:abc")
    view.tasks[4] = TaskRow(4, 1, "pending", 0, 0, 1, False)
    assert unfinished(view) == [
        "task 3 running, attempt 2, held by worker vm:42:abc (lease live)",
        "task 4 pending, attempt 1",
    ]
