"""``taskapi watch``: follow tasks live (and the ticks ``list --watch`` redraws on).

On a database (no server needed) no other process can notify the CLI, so it polls: one indexed list
query per tick for a project (plus one ``get`` for each task that ends failed, for its error message),
one ``get`` per tick for a single task. Against a server the same sources read the tasks once (and
again whenever the stream reconnects without resuming) and then take each change from the live
stream (``absorb``; ``taskapi.cli.stream``). What is read goes through a ``Follower``, which keeps a
Rich ``Progress`` task per watched task: Rich estimates the rate (and so the ETA) from the successive
progress readings, whether the bars are shown (a terminal) or one line or JSON object is printed per
change (a pipe, ``--json``). On a terminal, a project's ``Board`` adds a line of totals and shows only
the bars that fit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.text import Text

from taskapi.cli.reading import TaskReader
from taskapi.domain import FINAL_STATUSES, MAX_LIST_LIMIT, ListedTask, Task, TaskStatus

if TYPE_CHECKING:
    from taskapi.client import TaskChange

SLACK = timedelta(seconds=5)
"""How far before the newest task seen a project's window reaches back, so that a task whose creation
committed late (its ``created_at`` older than a task already seen) is still found."""
RATE_WINDOW = 10.0
"""Seconds of progress readings the rate is estimated from (a stalled task's rate fades after it)."""

TOTALS_ORDER = (
    TaskStatus.RUNNING,
    TaskStatus.PENDING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)
STATUS_STYLES = {
    TaskStatus.PENDING: "yellow",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "dim",
}

# -- what one tick reads ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One task as a tick saw it; ``error_message`` is read only once a task has failed."""

    task: ListedTask
    error_message: str = ""

    @property
    def state(self) -> tuple[TaskStatus, int, int]:
        return self.task.status, self.task.progress, self.task.total


def reading_of(task: Task) -> Reading:
    listed = ListedTask(
        id=task.id,
        project_id=task.project_id,
        task_type=task.task_type,
        status=task.status,
        progress=task.progress,
        total=task.total,
        created_at=task.created_at,
    )
    return Reading(listed, task.error_message)


def listed_of(change: TaskChange) -> ListedTask:
    """The task as a message of the stream shows it."""
    return ListedTask(
        id=change.task_id,
        project_id=change.project_id,
        task_type=change.task_type,
        status=change.status,
        progress=change.progress,
        total=change.total,
        created_at=change.created_at,
    )


class Source(Protocol):
    """The tasks a watch follows: ``poll()`` reads them (once per tick on a database), ``absorb()``
    takes a change from the stream; until ``done``."""

    def poll(self) -> list[Reading]: ...

    def absorb(self, change: TaskChange) -> list[Reading]: ...

    @property
    def done(self) -> bool: ...


class OneTask:
    """A single task, read by id each tick; ``TaskNotFound`` from the first poll if there is none."""

    def __init__(self, service: TaskReader, task_id: int) -> None:
        self.service = service
        self.task_id = task_id
        self._status: TaskStatus | None = None

    def poll(self) -> list[Reading]:
        reading = reading_of(self.service.get(self.task_id))
        self._status = reading.task.status
        return [reading]

    def absorb(self, change: TaskChange) -> list[Reading]:
        if change.task_id != self.task_id:
            return []
        self._status = change.status
        return [Reading(listed_of(change), change.error_message)]

    @property
    def done(self) -> bool:
        return self._status is not None and self._status.is_final


class ProjectTasks:
    """The pending and running tasks of a project, and those created while watching.

    The first poll finds the active tasks (by status, with the indexes on project and status). Then
    each tick reads one window, ``list(project_id, created_after=floor)`` newest first, where the floor
    is the oldest task still active (or ``SLACK`` before the newest seen): the window holds every task
    being followed, with its status and progress, and every new one. Tasks already ended when the watch
    began are left out. The watch is done when none of the followed tasks is pending or running.
    """

    def __init__(self, service: TaskReader, project_id: int) -> None:
        self.service = service
        self.project_id = project_id
        self._started = False
        self._active: dict[int, ListedTask] = {}
        self._ended: set[int] = set()
        self._before: set[int] = set()  # ended before the watch began: never shown
        self._newest: datetime | None = None

    @property
    def done(self) -> bool:
        return self._started and not self._active

    def poll(self) -> list[Reading]:
        if not self._started:
            return self._first()
        return self._absorb(self._window())

    def _first(self) -> list[Reading]:
        active = self._all(status=TaskStatus.RUNNING) + self._all(status=TaskStatus.PENDING)
        self._active = {task.id: task for task in active}
        newest = self.service.task_page(project_id=self.project_id, limit=1).items
        self._newest = newest[0].created_at if newest else None
        self._started = True
        window = self._window()
        self._before = {task.id for task in window if task.status.is_final and task.id not in self._active}
        return self._absorb(window)

    def _all(self, **filters: Any) -> list[ListedTask]:
        """Every task matching ``filters`` (the project's, newest first), page by page."""
        found: list[ListedTask] = []
        after = None
        while True:
            page = self.service.task_page(
                project_id=self.project_id, after=after, limit=MAX_LIST_LIMIT, **filters
            )
            found += page.items
            after = page.next_cursor
            if after is None:
                return found

    def _floor(self) -> datetime | None:
        moments = [task.created_at for task in self._active.values()]
        if self._newest is not None:
            moments.append(self._newest - SLACK)
        return min(moments) - timedelta(microseconds=1) if moments else None

    def _window(self) -> list[ListedTask]:
        return self._all(created_after=self._floor())

    def _absorb(self, window: Sequence[ListedTask]) -> list[Reading]:
        seen = {task.id: task for task in window}
        missing = self._active.keys() - seen.keys()
        if missing:  # a followed task is always in the window, unless its row was deleted
            found = {task.id: reading_of(task).task for task in self.service.get_many(sorted(missing))}
            for gone in missing - found.keys():
                del self._active[gone]  # never wait for a task that no longer exists
            seen.update(found)
        readings = []
        for task_id in sorted(seen):
            task = seen[task_id]
            if task_id in self._before or task_id in self._ended:
                continue
            if self._newest is None or task.created_at > self._newest:
                self._newest = task.created_at
            if task.status.is_final:
                self._active.pop(task_id, None)
                self._ended.add(task_id)
                failed = task.status == TaskStatus.FAILED
                readings.append(reading_of(self.service.get(task_id)) if failed else Reading(task))
            else:
                self._active[task_id] = task
                readings.append(Reading(task))
        return readings

    def absorb(self, change: TaskChange) -> list[Reading]:
        """A change from the stream: a followed task's, or a new task's (its error comes with it)."""
        task = listed_of(change)
        if not self._started or task.project_id != self.project_id:
            return []
        if task.id in self._before or task.id in self._ended:
            return []
        if self._newest is None or task.created_at > self._newest:
            self._newest = task.created_at
        if task.status.is_final:
            self._active.pop(task.id, None)
            self._ended.add(task.id)
            failed = task.status == TaskStatus.FAILED
            return [Reading(task, change.error_message if failed else "")]
        self._active[task.id] = task
        return [Reading(task)]


# -- what changed, with rate and ETA ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """A task whose status or progress changed; ``event`` is its new status, or ``progress``."""

    event: str
    reading: Reading
    rate: float | None  # progress units per second, from the recent readings
    eta_seconds: float | None


@dataclass
class Follower:
    """Turns readings into changes; a Rich ``Progress`` task per watched task holds the readings
    that the rate and ETA are estimated from (and draws the bars, when it is displayed)."""

    progress: Progress
    _bars: dict[int, TaskID] = field(default_factory=dict)
    _shown: dict[int, ProgressTask] = field(default_factory=dict)
    _states: dict[int, tuple[TaskStatus, int, int]] = field(default_factory=dict)
    _ended: list[int] = field(default_factory=list)  # task ids in the order they ended
    new_bars_visible: bool = True  # a Board shows them once it knows they fit

    def see(self, reading: Reading) -> Change | None:
        task = reading.task
        before = self._states.get(task.id)
        if before == reading.state:
            return None
        self._states[task.id] = reading.state
        bar = self._bar(reading, before)
        final = task.status.is_final
        if final:
            self.progress.stop_task(bar)
            self._ended.append(task.id)
        event = "progress" if before is not None and before[0] == task.status else task.status.value
        shown = self._shown[task.id]
        rate = None if final else shown.speed
        eta = None if final or shown.total is None else shown.time_remaining
        return Change(event, reading, rate, eta)

    def _bar(self, reading: Reading, before: tuple[TaskStatus, int, int] | None) -> TaskID:
        """The task's bar, updated; a new bar when its progress went back (a new attempt) or its
        total became unknown, since Rich's rate would mix both runs."""
        task = reading.task
        total = task.total if task.total > 0 else None
        bar = self._bars.get(task.id)
        restarted = before is not None and (task.progress < before[1] or (before[2] > 0 and total is None))
        if bar is not None and restarted:
            self.progress.remove_task(bar)
            bar = None
        if bar is None:
            # Added at 0 and then moved: the first reading is the baseline Rich measures the rate from.
            bar = self.progress.add_task(
                f"task {task.id} {task.task_type}",
                total=total,
                completed=0,
                visible=self.new_bars_visible,
                status=task.status,
                error="",
            )
            self._bars[task.id] = bar
            self._shown[task.id] = next(shown for shown in self.progress.tasks if shown.id == bar)
        self.progress.update(
            bar, total=total, completed=task.progress, status=task.status, error=reading.error_message
        )
        return bar

    def outcomes(self) -> dict[TaskStatus, int]:
        """How many watched tasks are in each status now."""
        counts: dict[TaskStatus, int] = {}
        for status, _, _ in self._states.values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    def ranked(self) -> list[TaskID]:
        """The bars by how much a person wants to see them: running, then pending (the next to run
        first), then ended (the latest first)."""
        states = sorted(self._states.items())
        running = [task_id for task_id, (status, _, _) in states if status == TaskStatus.RUNNING]
        pending = [task_id for task_id, (status, _, _) in states if status == TaskStatus.PENDING]
        order = running + pending + self._ended[::-1]
        return [self._bars[task_id] for task_id in order]


class Board:
    """A project's bars on a terminal: first a line of totals (the tasks ended of those followed,
    with their rate and ETA), then as many task bars as the terminal has rows for, the most
    interesting first (``Follower.ranked``); Rich would otherwise cut the newest off the bottom."""

    def __init__(self, follower: Follower, title: str, rows: Callable[[], int]) -> None:
        self.follower = follower
        self.rows = rows
        follower.new_bars_visible = False
        self._totals = follower.progress.add_task(title, total=None, status="")

    def show(self) -> None:
        """Refresh the totals and which bars are shown; called after each tick."""
        progress = self.follower.progress
        ranked = self.follower.ranked()
        room = max(1, self.rows() - 3)  # the totals, the summary printed at the end, a spare line
        for index, bar in enumerate(ranked):
            progress.update(bar, visible=index < room)
        outcomes = self.follower.outcomes()
        ended = sum(outcomes.get(status, 0) for status in FINAL_STATUSES)
        words = ", ".join(
            f"{outcomes[status]} {status.value}" for status in TOTALS_ORDER if outcomes.get(status)
        )
        if len(ranked) > room:
            words += f" ({len(ranked) - room} not shown)"
        progress.update(self._totals, total=sum(outcomes.values()) or None, completed=ended, status=words)


# -- the bars and the lines ---------------------------------------------------------------------------


class RateColumn(ProgressColumn):
    """Progress units per second, as Rich estimates them from the readings (``-`` until known)."""

    def render(self, task: ProgressTask) -> Text:
        if task.stop_time is not None or not task.speed:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{task.speed:.1f}/s", style="progress.data.speed")


class StatusColumn(ProgressColumn):
    """The task's status (styled), and the error message of a failed one (never read as markup)."""

    def render(self, task: ProgressTask) -> Text:
        status: TaskStatus | str = task.fields["status"]
        if not isinstance(status, TaskStatus):  # the totals of a project
            return Text(status)
        text = Text(status.value, style=STATUS_STYLES[status])
        if task.fields.get("error"):
            text.append(f": {task.fields['error']}", style="red")
        return text


def bars(console: Console) -> Progress:
    """The live bars: what, how far, how fast, how long still, and in which state."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        StatusColumn(),
        console=console,
        speed_estimate_period=RATE_WINDOW,
    )


def hidden_bars() -> Progress:
    """Bars never drawn: they only estimate rates for the line and JSON output."""
    return Progress(disable=True, speed_estimate_period=RATE_WINDOW)


def line_of(change: Change) -> str:
    """``task 5 ocr running 30/100 30% 2.5/s eta 0:00:28`` (a failed one ends with its error)."""
    task = change.reading.task
    words = [f"task {task.id}", task.task_type, task.status.value, f"{task.progress}/{task.total}"]
    if task.total > 0:
        words.append(f"{task.progress * 100 // task.total}%")
    if change.rate:
        words.append(f"{change.rate:.1f}/s")
    if change.eta_seconds is not None:
        words.append(f"eta {timedelta(seconds=round(change.eta_seconds))}")
    line = " ".join(words)
    return f"{line}: {change.reading.error_message}" if change.reading.error_message else line


def json_of(change: Change) -> dict[str, Any]:
    """The task as the list endpoint shows it, plus the event, its error, rate and ETA."""
    from taskapi.api.schemas import TaskSchema

    return {
        "event": change.event,
        **TaskSchema.of(change.reading.task).model_dump(mode="json"),
        "error_message": change.reading.error_message,
        "rate": None if change.rate is None else round(change.rate, 3),
        "eta_seconds": change.eta_seconds,
    }


def json_line(change: Change) -> str:
    return json.dumps(json_of(change), ensure_ascii=False)


def summary(outcomes: dict[TaskStatus, int]) -> str:
    """``3 tasks: 2 completed, 1 failed``."""
    count = sum(outcomes.values())
    parts = [f"{outcomes[status]} {status.value}" for status in TaskStatus if outcomes.get(status)]
    return f"{count} task{'s' if count != 1 else ''}: {', '.join(parts)}"


def exit_code(outcomes: dict[TaskStatus, int]) -> int:
    """0 when every watched task completed, 1 when any failed or was cancelled."""
    return 1 if outcomes.get(TaskStatus.FAILED) or outcomes.get(TaskStatus.CANCELLED) else 0


# -- the loops --------------------------------------------------------------------------------------


def ticks(interval: float, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """A tick every ``interval`` seconds, on a fixed beat (a slow read does not push later ticks)."""
    beat = time.monotonic()
    while True:
        yield
        beat += interval
        delay = beat - time.monotonic()
        if delay > 0:
            sleep(delay)
        else:
            beat = time.monotonic()


def polled(source: Source, interval: float) -> Generator[list[Reading]]:
    """What ``source`` reads, each tick (a database: nothing notifies the CLI)."""
    for _ in ticks(interval):
        yield source.poll()


def follow(
    source: Source,
    readings: Iterable[list[Reading]],
    follower: Follower,
    emit: Callable[[Change], None] | None,
    board: Board | None = None,
) -> None:
    """Take each batch of ``readings`` of ``source`` and ``emit`` what changed (if anything listens),
    until the source is done."""
    for batch in readings:
        for reading in batch:
            change = follower.see(reading)
            if change is not None and emit is not None:
                emit(change)
        if board is not None:
            board.show()
        if source.done:
            return


@contextmanager
def displayed(progress: Progress, show: bool) -> Iterator[Progress]:
    """The bars drawn live while the block runs (and left on screen after), when ``show``."""
    if not show:
        yield progress
        return
    with progress:
        yield progress
