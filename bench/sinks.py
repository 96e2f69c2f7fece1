"""Sink files and percentiles: stdlib only, shared by the bench and the peers' drivers (own venvs).

Handlers report what they did by appending JSON lines to a sink file: ``time.time()`` is one clock for
every process on this machine, so a handler's timestamp can be compared with the bench's.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (inclusive method: fine for the 50-sample runs here)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[round(pct) - 1]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.001) -> None:
    """Poll ``condition`` until it holds; a bench that hangs says what it waited for."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Sink:
    """A JSON-lines file that handlers append to; read incrementally by the bench."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")
        self._offset = 0
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """The events appended since the last poll (complete lines only)."""
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        new = [json.loads(line) for line in data[:end].splitlines() if line]
        self.events.extend(new)
        return new

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        """The first event (seen so far or to come) that ``match`` accepts."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if match(event):
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            if not self.poll():
                time.sleep(0.0005)

    def wait_event(self, event: str, timeout: float, **match: Any) -> dict[str, Any]:
        """The first ``event`` whose fields equal ``match`` (e.g. ``task=5`` or ``tag="ab12"``)."""
        return self.wait(
            lambda e: e.get("event") == event and all(e.get(k) == v for k, v in match.items()),
            timeout,
            f"{event} event of {match}",
        )

    def count(self, kind: str) -> int:
        self.poll()
        return sum(1 for event in self.events if event.get("event") == kind)


def sink_write(path: str, **event: Any) -> None:
    """Append one event line (one ``write`` of a short line under O_APPEND: never interleaved)."""
    line = (json.dumps(event) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:4]
    except OSError:
        return False


def idle_gap() -> None:
    """A pause between pickup samples, random over 20..270 ms: a fixed one would lock the samples to
    the phase of a polling worker (each task created just after a poll, waiting a whole period)."""
    time.sleep(random.uniform(0.02, 0.27))


def wait_gone(pid: int, timeout: float) -> float:
    """Poll until process ``pid`` is gone; answer ``time.time()`` when it was first seen gone."""
    wait_for(lambda: not pid_alive(pid), timeout, f"process {pid} to end", interval=0.0005)
    return time.time()
