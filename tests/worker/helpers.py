"""What the worker tests share: waiting on conditions, workers in a thread, markers, latency figures."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from taskapi.domain import Task
from taskapi.store.base import Store
from taskapi.worker import Worker, WorkerOptions, load_handlers
from tests.conftest import wait_until as shared_wait_until

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
BASIC = "tests.handlers.basic"
TIMEOUTS = "tests.handlers.timeouts"


def wait_until(condition: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """The suite's ``wait_until``, with the longer default that real workers need."""
    return shared_wait_until(condition, timeout=timeout, interval=0.002, what=what)


def fast_options(**overrides: Any) -> WorkerOptions:
    """Worker options for tests: every loop ticks in tens of milliseconds."""
    values: dict[str, Any] = {
        "concurrency": 4,
        "lease_seconds": 10.0,
        "cancel_grace": 0.5,
        "shutdown_timeout": 2.0,
        "poll_interval": 0.02,
        "rescue_interval": 0.05,
        "progress_interval": 0.02,
    }
    values.update(overrides)
    return WorkerOptions(**values)


def make_worker(
    store: Store,
    modules: tuple[str, ...] = (BASIC,),
    *,
    types: set[str] | None = None,
    worker_id: str | None = None,
    **options: Any,
) -> Worker:
    """A worker with only the handlers of ``modules`` (no built-in pipeline), optionally fewer ``types``."""
    handlers = load_handlers(modules, builtin=False)
    if types is not None:
        handlers = {name: spec for name, spec in handlers.items() if name in types}
    return Worker(
        store,
        handlers,
        modules=list(modules),
        options=fast_options(**options),
        worker_id=worker_id,
    )


def drain(worker: Worker) -> None:
    """Burst mode: run every task the worker can claim, then return."""
    asyncio.run(worker.run(burst=True))


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """The worker runs on its own thread and event loop for the block; stopped (forced) afterwards."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(worker.run())
        except BaseException as exc:  # surfaced in the test's thread below
            failure.append(exc)

    thread = threading.Thread(target=main, name="test-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.request_stop(force=True)
        thread.join(timeout=30)
        assert not thread.is_alive(), "the worker did not stop"
    if failure:
        raise failure[0]


def status_of(store: Store, task_id: int) -> str:
    task = store.task_get(task_id)
    assert task is not None
    return task.status.value


def get(store: Store, task_id: int) -> Task:
    task = store.task_get(task_id)
    assert task is not None
    return task


def wait_task(
    store: Store, task_id: int, condition: Callable[[Task], bool], *, timeout: float = 10.0, what: str = ""
) -> Task:
    """The task as soon as ``condition(task)`` holds (fails the test after ``timeout`` s)."""
    found: list[Task] = []

    def check() -> bool:
        task = get(store, task_id)
        if condition(task):
            found.append(task)
            return True
        return False

    wait_until(check, timeout=timeout, what=what or f"task {task_id}")
    return found[0]


def wait_final(store: Store, task_id: int, *, timeout: float = 10.0) -> Task:
    """The task once it reached a final state."""
    return wait_task(
        store, task_id, lambda t: t.status.is_final, timeout=timeout, what=f"task {task_id} final"
    )


def wait_marker(directory: Path, task_id: int, event: str, attempt: int = 1, *, timeout: float = 10.0) -> str:
    """The text of a handler's marker once it exists."""
    found: list[str] = []

    def check() -> bool:
        text = read_marker(directory, task_id, event, attempt)
        if text is not None:
            found.append(text)
        return text is not None

    wait_until(check, timeout=timeout, what=f"marker {task_id}.{attempt}.{event}")
    return found[0]


def marker(directory: Path, task_id: int, event: str, attempt: int = 1) -> Path:
    return directory / f"{task_id}.{attempt}.{event}"


def read_marker(directory: Path, task_id: int, event: str, attempt: int = 1) -> str | None:
    path = marker(directory, task_id, event, attempt)
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie burns no CPU and is only a table entry)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def cpu_ticks(pid: int) -> int:
    """User plus system CPU ticks ``pid`` has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a real process: ``tests.handlers`` importable, no stray ``TASKAPI_*``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKAPI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), str(REPO / "src"), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def report(name: str, samples_ms: list[float]) -> str:
    """One line of latency figures (printed; ``pytest -s`` shows them)."""
    ordered = sorted(samples_ms)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    line = (
        f"{name}: n={len(ordered)} median={statistics.median(ordered):.1f} ms "
        f"p95={p95:.1f} ms max={ordered[-1]:.1f} ms"
    )
    print(f"\n[latency] {line}")
    return line


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]
