"""``taskapi watch`` and ``list --watch`` as real processes, beside a real worker, over a real store.

The worker runs ``tests.handlers.gated``: each step of a task waits for a gate file the test opens,
so the test sees every step in the watch's output (waiting on the output with a deadline) before it
lets the next one happen. Terminals are real pseudo-terminals; Ctrl-C is a real SIGINT.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taskapi.service import TaskService
from tests.handlers.gated import open_gate

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENT_FIELDS = {
    "event",
    "id",
    "project_id",
    "task_type",
    "status",
    "progress",
    "total",
    "created_at",
    "error_message",
    "rate",
    "eta_seconds",
}
DEADLINE = 30.0
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    """Terminal output without its colours and cursor moves."""
    return ESCAPES.sub("", text)


# -- processes and their output -----------------------------------------------------------------------


class Output:
    """What a process wrote to one stream so far, gathered by a thread; tests wait on its content."""

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._data = bytearray()
        self._changed = threading.Condition()
        self.closed = False
        threading.Thread(target=self._pump, args=(read,), daemon=True).start()

    def _pump(self, read: Callable[[], bytes]) -> None:
        while True:
            try:
                chunk = read()
            except OSError:  # a pseudo-terminal whose other end closed
                chunk = b""
            with self._changed:
                if not chunk:
                    self.closed = True
                else:
                    self._data += chunk
                self._changed.notify_all()
            if not chunk:
                return

    @property
    def text(self) -> str:
        with self._changed:
            return self._data.decode(errors="replace")

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = DEADLINE) -> str:
        """The output once ``condition`` holds for it; fail if it does not within ``timeout`` s or the
        stream ends first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                text = self._data.decode(errors="replace")
                if condition(text):
                    return text
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    pytest.fail(
                        f"{'stream ended' if self.closed else 'timed out'} waiting for {what}:\n{text}"
                    )
                self._changed.wait(remaining)

    def contains(self, needle: str) -> str:
        return self.wait(lambda text: needle in text, repr(needle))

    def all(self) -> str:
        """Everything, once the stream has ended (the process exited)."""
        return self.wait(lambda _: self.closed, "the end of the output")


@dataclass
class Cli:
    """A ``python -m taskapi`` process; ``stderr`` is ``None`` on a terminal (it shares ``stdout``)."""

    process: subprocess.Popen[bytes]
    stdout: Output
    stderr: Output | None
    keyboard: int | None = None  # the terminal's input, when on a terminal

    def type(self, text: str) -> None:
        assert self.keyboard is not None, "not on a terminal"
        os.write(self.keyboard, text.encode())

    def events(self) -> list[dict[str, Any]]:
        """The complete NDJSON lines written so far."""
        text = self.stdout.text
        return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]

    def wait_event(self, **expected: Any) -> None:
        """Wait for an NDJSON line with the ``expected`` values."""

        def holds(text: str) -> bool:
            complete = text[: text.rfind("\n") + 1].splitlines()
            return any(expected.items() <= json.loads(line).items() for line in complete)

        self.stdout.wait(holds, f"an event with {expected}")

    def exit_code(self) -> int:
        return self.process.wait(timeout=DEADLINE)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.exit_code()


class Processes:
    """Starts the CLI and the worker in ``cwd`` over ``database_url``; stops whatever is left."""

    def __init__(self, cwd: Path, database_url: str) -> None:
        self.cwd = cwd
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        )
        self.env["TASKAPI_DATABASE_URL"] = database_url
        self.started: list[subprocess.Popen[bytes]] = []
        self._terminals: list[int] = []

    def popen(self, args: tuple[str, ...], **streams: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "taskapi", *args], cwd=self.cwd, env=self.env, **streams
        )
        self.started.append(process)
        return process

    def cli(self, *args: str) -> Cli:
        """The command with its stdout and stderr piped, as in a script."""
        process = self.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None and process.stderr is not None
        out, err = process.stdout.fileno(), process.stderr.fileno()
        return Cli(process, Output(lambda: os.read(out, 65536)), Output(lambda: os.read(err, 65536)))

    def terminal(self, *args: str, rows: int = 40, columns: int = 150) -> Cli:
        """The command on a pseudo-terminal of ``rows`` by ``columns``, as a person runs it."""
        main, side = pty.openpty()
        fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # The size in the environment too: a pty that answers 0x0 while busy makes Rich assume 25 rows.
        env = {**self.env, "TERM": "xterm-256color", "LINES": str(rows), "COLUMNS": str(columns)}
        env.pop("NO_COLOR", None)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "taskapi", *args],
                cwd=self.cwd,
                env=env,
                stdin=side,
                stdout=side,
                stderr=side,
            )
        finally:
            os.close(side)
        self.started.append(process)
        self._terminals.append(main)
        return Cli(process, Output(lambda: os.read(main, 65536)), None, keyboard=main)

    def worker(self, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as sink:
            return self.popen(
                (
                    "worker",
                    "--handlers",
                    "tests.handlers.gated",
                    "--concurrency",
                    "8",
                    "--shutdown-timeout",
                    "1",
                ),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        for fd in self._terminals:
            with suppress(OSError):
                os.close(fd)


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def any_database_url(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """A fresh store of this test: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield database_url
        return
    from tests.integration.pg import cloned_database

    with cloned_database() as url:
        yield url


@pytest.fixture
def procs(tmp_path: Path, database_url: str) -> Iterator[Processes]:
    opened = Processes(tmp_path, database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    path = tmp_path / "gates"
    path.mkdir()
    return path


def create(url: str, project_id: int, task_type: str, **params: Any) -> int:
    with TaskService.open(url) as service:
        return service.create(project_id, task_type, params).id


def step_through(watch: Cli, gates: Path, task_id: int, steps: int) -> None:
    """Open the task's gates one by one, the next only once the watch has shown the step."""
    for step in range(1, steps + 1):
        open_gate(gates, task_id, step)
        watch.wait_event(id=task_id, progress=step)


# -- one task, in JSON and in lines ---------------------------------------------------------------------


def test_watch_json_follows_one_task_with_rising_progress_to_completed_and_exits_0(
    tmp_path: Path, any_database_url: str, gates: Path
) -> None:
    procs = Processes(tmp_path, any_database_url)
    try:
        task = create(any_database_url, 1, "ocr", steps=4, gates=str(gates))
        procs.worker(tmp_path / "worker.log")
        watch = procs.cli("watch", str(task), "--json", "--interval", "0.1")
        watch.wait_event(status="running")
        step_through(watch, gates, task, 4)
        assert watch.exit_code() == 0
        assert watch.stderr is not None and watch.stderr.all() == ""
    finally:
        procs.close()
    events = watch.events()
    assert all(set(event) == EVENT_FIELDS and event["id"] == task for event in events)
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and {1, 2, 3, 4} <= set(progress)
    assert any(event["rate"] and event["rate"] > 0 for event in events)
    assert any(event["eta_seconds"] is not None for event in events)
    assert events[-1] | {"created_at": "-"} == {
        "event": "completed",
        "id": task,
        "project_id": 1,
        "task_type": "ocr",
        "status": "completed",
        "progress": 4,
        "total": 4,
        "created_at": "-",
        "error_message": "",
        "rate": None,
        "eta_seconds": None,
    }


def test_watch_in_a_pipe_prints_a_line_per_change_and_exits_1_when_the_task_fails(
    procs: Processes, database_url: str, gates: Path, tmp_path: Path
) -> None:
    task = create(database_url, 1, "ocr", steps=2, gates=str(gates), fail="scan unreadable")
    procs.worker(tmp_path / "worker.log")
    watch = procs.cli("watch", str(task), "--interval", "0.1")
    for step in (1, 2):
        watch.stdout.contains(f"task {task} ocr running {step - 1}/2")
        open_gate(gates, task, step)
    assert watch.exit_code() == 1
    lines = watch.stdout.all().splitlines()
    assert "\x1b" not in "".join(lines)  # no colours or cursor moves in a pipe
    assert re.fullmatch(rf"task {task} ocr failed 2/2 100%: .*scan unreadable", lines[-2]), lines
    assert lines[-1] == "1 task: 1 failed"
    assert f"task {task} ocr running 1/2 50%" in lines


def test_a_task_cancelled_while_watched_ends_the_watch_with_1(
    procs: Processes, database_url: str, gates: Path, tmp_path: Path
) -> None:
    task = create(database_url, 1, "ocr", steps=3, gates=str(gates))
    procs.worker(tmp_path / "worker.log")
    watch = procs.cli("watch", str(task), "--json", "--interval", "0.1")
    open_gate(gates, task, 1)
    watch.wait_event(progress=1)
    cancel = procs.cli("cancel", str(task))
    assert cancel.exit_code() == 0
    assert watch.exit_code() == 1
    last = watch.events()[-1]
    assert (last["event"], last["status"], last["progress"]) == ("cancelled", "cancelled", 1)


# -- a project --------------------------------------------------------------------------------------------


def test_watch_project_follows_its_tasks_and_new_ones_until_none_is_active(
    tmp_path: Path, any_database_url: str, gates: Path
) -> None:
    url = any_database_url
    procs = Processes(tmp_path, url)
    try:
        with TaskService.open(url) as service:
            over = service.create(1, "search").id
            service.cancel(over)  # ended before the watch: not shown
        good = create(url, 1, "ocr", steps=2, gates=str(gates))
        bad = create(url, 1, "ocr", steps=1, gates=str(gates), fail="bad scan")
        other = create(url, 2, "ocr", steps=1, gates=str(gates))
        procs.worker(tmp_path / "worker.log")
        watch = procs.cli("watch", "--project", "1", "--json", "--interval", "0.1")
        for task in (good, bad):
            watch.wait_event(id=task, status="running")
        late = create(url, 1, "ocr", steps=1, gates=str(gates))
        watch.wait_event(id=late, project_id=1)
        step_through(watch, gates, good, 2)
        step_through(watch, gates, bad, 1)
        assert watch.process.poll() is None  # the new task still runs
        step_through(watch, gates, late, 1)
        assert watch.exit_code() == 1
        open_gate(gates, other, 1)
    finally:
        procs.close()
    events = watch.events()
    assert {event["id"] for event in events} == {good, bad, late}
    final = {event["id"]: event for event in events if event["event"] in ("completed", "failed", "cancelled")}
    assert {task: event["status"] for task, event in final.items()} == {
        good: "completed",
        bad: "failed",
        late: "completed",
    }
    assert "bad scan" in final[bad]["error_message"]
    assert events[-1]["id"] == late  # the watch ended with the last active task


# -- bad input, Ctrl-C ------------------------------------------------------------------------------


def test_an_unknown_task_or_no_target_exits_2_with_a_clear_message(procs: Processes) -> None:
    unknown, neither = procs.cli("watch", "999", "--json"), procs.cli("watch")
    for cli, message in (
        (unknown, "error: Task 999 not found\n"),
        (neither, "error: give a task ID or --project"),
    ):
        assert cli.exit_code() == 2
        assert cli.stderr is not None and cli.stderr.all().startswith(message)
        assert cli.stdout.all() == ""


@pytest.mark.parametrize("on_terminal", [False, True], ids=["pipe", "terminal"])
def test_ctrl_c_ends_watch_with_130_and_no_traceback(
    procs: Processes, database_url: str, on_terminal: bool
) -> None:
    task = create(database_url, 1, "ocr", steps=1, gates="/nonexistent")  # no worker: pending forever
    if on_terminal:
        watch = procs.terminal("watch", "--project", "1", "--interval", "0.1")
        watch.stdout.contains("pending")
    else:
        watch = procs.cli("watch", str(task), "--json", "--interval", "0.1")
        watch.wait_event(status="pending")
    assert watch.interrupt() == 130
    everything = watch.stdout.all() + (watch.stderr.all() if watch.stderr is not None else "")
    assert (
        "Traceback" not in everything
        and "KeyboardInterrupt" not in everything
        and "Aborted" not in everything
    )


# -- terminals: bars and a live list ------------------------------------------------------------------------


def test_on_a_terminal_watch_draws_a_bar_with_rate_eta_and_the_final_status(
    procs: Processes, database_url: str, gates: Path, tmp_path: Path
) -> None:
    task = create(database_url, 1, "ocr", steps=3, gates=str(gates))
    procs.worker(tmp_path / "worker.log")
    watch = procs.terminal("watch", str(task), "--interval", "0.1")
    watch.stdout.contains("running")
    for step in (1, 2):
        open_gate(gates, task, step)
        watch.stdout.contains(f"{step}/3")
    watch.stdout.wait(lambda text: re.search(r"\d+\.\d/s", text) is not None, "a rate")
    watch.stdout.wait(lambda text: re.search(r"0:00:\d\d", text) is not None, "an ETA")
    open_gate(gates, task, 3)
    assert watch.exit_code() == 0
    screen = watch.stdout.all()
    assert "\x1b[2K" in screen  # the bar is redrawn in place (line erased)
    lines = [line.strip() for line in re.split(r"[\r\n]", plain(screen)) if line.strip()]
    bar = [line for line in lines if line.startswith(f"task {task} ocr")][-1]
    assert re.fullmatch(rf"task {task} ocr ━+ +3/3 100% -/s 0:00:00 completed", bar), bar
    assert lines[-1] == "1 task: 1 completed"


def test_on_a_small_terminal_a_project_shows_its_totals_and_the_bars_that_fit(
    procs: Processes, database_url: str, gates: Path, tmp_path: Path
) -> None:
    tasks = [create(database_url, 1, "ocr", steps=1, gates=str(gates)) for _ in range(6)]
    procs.worker(tmp_path / "worker.log")
    watch = procs.terminal("watch", "--project", "1", "--interval", "0.1", rows=8)  # room for 5 bars
    watch.stdout.wait(lambda text: re.search(r"project 1 .* 0/6 ", plain(text)) is not None, "the totals")
    for task in tasks:
        open_gate(gates, task, 1)
    assert watch.exit_code() == 0
    lines = [line.strip() for line in re.split(r"[\r\n]", plain(watch.stdout.all())) if line.strip()]
    assert lines[-1] == "6 tasks: 6 completed"
    # The last frame starts at the last totals line (earlier frames were redrawn over in place).
    last_totals = max(n for n, line in enumerate(lines) if line.startswith("project 1 "))
    final_frame = lines[last_totals:-1]
    assert re.fullmatch(r"project 1 +━+ +6/6 100% .* 6 completed \(1 not shown\)", final_frame[0]), (
        final_frame
    )
    shown = [int(line.split()[1]) for line in final_frame[1:]]
    assert len(shown) == 5 and set(shown) < set(tasks)  # the five that ended last
    assert all(line.endswith("completed") for line in final_frame[1:])


@pytest.mark.parametrize("on_terminal", [False, True], ids=["pipe", "terminal"])
def test_list_watch_shows_a_task_created_after_it_started_until_ctrl_c(
    procs: Processes, database_url: str, on_terminal: bool
) -> None:
    create(database_url, 5, "search")
    args = ("list", "--watch", "--project", "5", "--interval", "0.1")
    listing = procs.terminal(*args) if on_terminal else procs.cli(*args)
    first = listing.stdout.contains("search")
    assert "keyword_expand" not in first
    create(database_url, 5, "keyword_expand")
    screen = listing.stdout.contains("keyword_expand")
    if on_terminal:
        assert "\x1b[" in screen[len(first) :]  # the frame is redrawn in place (cursor moves)
    else:
        assert screen.count("search") >= 2  # a pipe gets the whole table again
    assert listing.interrupt() == 130
    rest = listing.stdout.all() + (listing.stderr.all() if listing.stderr is not None else "")
    assert "Traceback" not in rest


def test_a_reader_that_goes_away_ends_watch_json_quietly(
    procs: Processes, database_url: str, gates: Path, tmp_path: Path
) -> None:
    """``taskapi watch -p 1 --json | head -1``: the next write fails (EPIPE); exit 141, no traceback."""
    task = create(database_url, 1, "ocr", steps=2, gates=str(gates))
    procs.worker(tmp_path / "worker.log")
    process = procs.popen(
        ("watch", "--project", "1", "--json", "--interval", "0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    readable, _, _ = select.select([process.stdout], [], [], DEADLINE)
    assert readable, "no first event"
    assert json.loads(process.stdout.readline())["id"] == task
    process.stdout.close()  # as head does after its line
    open_gate(gates, task, 1)  # a change the watch must now write
    assert process.wait(timeout=DEADLINE) == 141
    assert process.stderr.read() == b""


def test_a_confirmed_bulk_cancel_stops_a_projects_running_tasks_and_ends_its_watch(
    procs: Processes, database_url: str, gates: Path, tmp_path: Path
) -> None:
    tasks = [create(database_url, 1, "ocr", steps=2, gates=str(gates)) for _ in range(3)]
    spared = create(database_url, 2, "ocr", steps=1, gates=str(gates))
    procs.worker(tmp_path / "worker.log")
    watch = procs.cli("watch", "--project", "1", "--json", "--interval", "0.1")
    for task in tasks:
        open_gate(gates, task, 1)
        watch.wait_event(id=task, progress=1)
    cancel = procs.terminal("cancel", "--project", "1", "--status", "running")
    cancel.stdout.contains("Cancel every running task of project 1? [y/N]")
    cancel.type("y\n")
    assert cancel.exit_code() == 0
    assert "3 tasks of project 1 cancelled" in cancel.stdout.all()
    assert watch.exit_code() == 1
    final = {event["id"]: event["status"] for event in watch.events() if event["event"] == "cancelled"}
    assert final == dict.fromkeys(tasks, "cancelled")
    timeline = procs.cli("events", str(tasks[0]), "--json")
    assert timeline.exit_code() == 0
    rows = json.loads(timeline.stdout.all())
    assert [(row["kind"], row["actor"].split()[0]) for row in rows] == [
        ("created", "api"),
        ("claimed", "worker"),
        ("cancelled", "cli"),
    ]
    with TaskService.open(database_url) as service:
        assert service.get(spared).status != "cancelled"  # another project's
