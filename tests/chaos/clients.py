"""The chaos run's clients, each a thread with its own HTTP connection: creators (single and batch),
a lister, a canceller (single and bulk) and stream clients that resume with ``Last-Event-ID``.

They do not judge: they record what they were told (``Journal``) for the checker. An answer that is not
the ``{"code", "message", "data"}`` envelope, or a 5xx other than 503 (the store is down), is recorded
as a bad answer; a refused connection (``serve`` is restarting) is counted and tried again later.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.chaos.handlers import TYPES

TASKS = "/api/v1/tasks"
PROJECTS = (1, 2, 3)
BULK_PROJECT = 3
"""Bulk cancels target this project only, so the other projects' tasks mostly run to an end."""
STREAM_PROJECT = 2
"""One stream client watches this project alone (the other watches everything)."""


@dataclass(frozen=True, slots=True)
class Seen:
    """A task as an answer showed it: where (``list``, ``detail``, ``stream``), status and progress."""

    where: str
    task_id: int
    status: str
    progress: int
    total: int


@dataclass(frozen=True, slots=True)
class StreamEvent:
    event_id: int
    task_id: int
    project_id: int
    kind: str


@dataclass
class StreamLog:
    """What one stream client received, in order."""

    project_id: int | None
    events: list[StreamEvent] = field(default_factory=list)
    resets: list[tuple[int, int]] = field(default_factory=list)  # (after, until): skipped as told
    connects: int = 0
    hang_ups: int = 0
    last_id: int = 0


@dataclass
class Journal:
    """Everything the clients did and saw; one lock, since threads append at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: list[int] = field(default_factory=list)
    batches: int = 0
    cancelled_ok: list[int] = field(default_factory=list)  # single cancels answered 200
    cancel_refused: list[int] = field(default_factory=list)  # answered 400 (already ended)
    bulk_cancelled: int = 0
    bulk_calls: int = 0
    lists: int = 0
    seen: list[Seen] = field(default_factory=list)
    streams: list[StreamLog] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    refused: int = 0  # connections refused or cut (serve restarting)
    timeouts: int = 0  # no answer within 20 s
    bad_answers: list[str] = field(default_factory=list)

    def answer(self, response: httpx.Response, expected: tuple[int, ...]) -> dict[str, Any] | None:
        """The envelope of ``response`` when its status is expected or 503; otherwise recorded as bad."""
        with self.lock:
            self.answers[response.status_code] += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        where = f"{response.request.method} {response.request.url.path}"
        envelope = isinstance(body, dict) and set(body) == {"code", "message", "data"}
        if not envelope or body["code"] != response.status_code:
            self._bad(f"{where}: not an envelope: {response.text[:200]}")
            return None
        if response.status_code not in (*expected, 503):
            self._bad(f"{where}: {response.status_code} {response.text[:200]}")
            return None
        return body if response.status_code in expected else None

    def _bad(self, text: str) -> None:
        with self.lock:
            self.bad_answers.append(text)

    def saw(self, where: str, row: dict[str, Any]) -> None:
        with self.lock:
            self.seen.append(
                Seen(where, int(row["id"]), str(row["status"]), int(row["progress"]), int(row["total"]))
            )


@dataclass(eq=False)
class Client:
    """A thread looping over ``step()`` until ``stop`` is set; transport errors (serve restarting) are
    counted, then it tries again."""

    base_url: str
    journal: Journal
    stop: threading.Event
    rng: random.Random
    pause: float = 0.05

    read_timeout = 20.0

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.run, name=type(self).__name__, daemon=True)
        self.http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(20.0, read=self.read_timeout))

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> bool:
        """Answer whether the thread ended within ``timeout`` seconds."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                except httpx.TransportError as exc:
                    with self.journal.lock:
                        if isinstance(exc, httpx.TimeoutException):
                            self.journal.timeouts += 1
                        else:
                            self.journal.refused += 1
                    self.stop.wait(0.1)  # serve is restarting: back off a little
                    continue
                self.stop.wait(self.rng.expovariate(1 / self.pause) if self.pause else 0)
        finally:
            self.http.close()

    def step(self) -> None:
        raise NotImplementedError


@dataclass(eq=False)
class Creator(Client):
    """Creates tasks of the chaos types: mostly one at a time, sometimes a batch."""

    runs_dir: Path = Path()
    max_ms: int = 120
    fail_share: float = 0.05
    max_tasks: int = 1_000_000  # the run is bounded in count too: no creates past this many

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "runs": str(self.runs_dir),
            # mostly short, one in ten long enough to be running when its worker dies or a cancel comes
            "ms": self.rng.randint(0, self.max_ms)
            if self.rng.random() < 0.9
            else self.rng.randint(500, 2000),
            "steps": self.rng.randint(1, 5),
        }
        if self.rng.random() < self.fail_share:
            params["fail"] = True
        return params

    def item(self) -> dict[str, Any]:
        return {
            "project_id": self.rng.choice(PROJECTS),
            "task_type": self.rng.choice(TYPES),
            "params": self.params(),
        }

    def step(self) -> None:
        if len(self.journal.created) >= self.max_tasks:
            return
        if self.rng.random() < 0.2:
            body = {"tasks": [self.item() for _ in range(self.rng.randint(2, 20))]}
            answer = self.journal.answer(self.http.post(f"{TASKS}/batch", json=body), (201,))
            if answer is not None:
                with self.journal.lock:
                    self.journal.created.extend(answer["data"]["ids"])
                    self.journal.batches += 1
            return
        answer = self.journal.answer(self.http.post(TASKS, json=self.item()), (201,))
        if answer is not None:
            with self.journal.lock:
                self.journal.created.append(int(answer["data"]["id"]))


@dataclass(eq=False)
class Lister(Client):
    """Lists with random filters and reads single tasks, recording every task it is shown."""

    def step(self) -> None:
        if self.rng.random() < 0.3 and self.journal.created:
            task_id = self.rng.choice(self.journal.created[-200:])
            answer = self.journal.answer(self.http.get(f"{TASKS}/{task_id}"), (200,))
            if answer is not None:
                self.journal.saw("detail", answer["data"])
            return
        query: dict[str, Any] = {"limit": self.rng.choice((10, 50, 200))}
        if self.rng.random() < 0.5:
            query["project_id"] = self.rng.choice(PROJECTS)
        if self.rng.random() < 0.5:
            query["status"] = self.rng.choice(("pending", "running", "completed", "cancelled"))
        answer = self.journal.answer(self.http.get(TASKS, params=query), (200,))
        if answer is not None:
            for row in answer["data"]:
                self.journal.saw("list", row)
            with self.journal.lock:
                self.journal.lists += 1


@dataclass(eq=False)
class Canceller(Client):
    """Cancels recent tasks one by one, and now and then every pending or running task of a project."""

    def step(self) -> None:
        if self.rng.random() < 0.05:
            body = {"project_id": BULK_PROJECT}
            answer = self.journal.answer(self.http.post(f"{TASKS}/cancel", json=body), (200,))
            if answer is not None:
                with self.journal.lock:
                    self.journal.bulk_cancelled += int(answer["data"]["cancelled"])
                    self.journal.bulk_calls += 1
            return
        if not self.journal.created:
            return
        task_id = self.rng.choice(self.journal.created[-50:])
        response = self.http.post(f"{TASKS}/{task_id}/cancel")
        if self.journal.answer(response, (200, 400)) is not None:
            with self.journal.lock:
                (
                    self.journal.cancelled_ok if response.status_code == 200 else self.journal.cancel_refused
                ).append(task_id)


@dataclass(eq=False)
class Streamer(Client):
    """Holds ``GET /api/v1/tasks/events`` (everything, or one project); when the stream ends or breaks,
    and also by itself now and then (about every ``hold`` seconds, as a closed tab would), it
    reconnects with ``Last-Event-ID``: the id of the last event it received whole."""

    project_id: int | None = None
    hold: float = 4.0
    log: StreamLog = field(default_factory=lambda: StreamLog(None))
    read_timeout = 60.0  # the server sends a keep-alive comment every second

    def __post_init__(self) -> None:
        super().__post_init__()
        self.log = StreamLog(self.project_id)

    def step(self) -> None:
        query = {} if self.project_id is None else {"project_id": self.project_id}
        headers = {"Last-Event-ID": str(self.log.last_id)}
        with self.http.stream("GET", f"{TASKS}/events", params=query, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                self.journal.answer(response, (200,))
                return
            self.log.connects += 1
            self._read(response)

    def _read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        hang_up_at = time.monotonic() + self.rng.expovariate(1 / self.hold)
        for line in response.iter_lines():
            if self.stop.is_set():
                return
            if not fields and time.monotonic() >= hang_up_at:
                self.log.hang_ups += 1
                return  # between two messages; closing the response drops the connection
            if line:
                if not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                self._event(fields)
            fields = {}

    def _event(self, fields: dict[str, str]) -> None:
        if fields.get("event") == "reset":
            until = int(fields["id"])
            self.log.resets.append((self.log.last_id, until))
            self.log.last_id = until
            return
        data = json.loads(fields["data"])
        self.journal.saw("stream", data)
        if "id" in fields:
            event_id = int(fields["id"])
            self.log.events.append(
                StreamEvent(event_id, int(data["id"]), int(data["project_id"]), str(data["event"]))
            )
            self.log.last_id = event_id
