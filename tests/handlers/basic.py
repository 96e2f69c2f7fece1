"""Handlers the worker tests drive through their params: ``search`` is async, ``crawl`` is sync.

``params["mode"]`` picks a behaviour; ``params["dir"]`` is where a handler leaves marker files that the
test reads (``<task_id>.<attempt>.<event>``), since a sync handler runs in another process:

- ``started`` holds the handler's pid, written as it starts;
- ``stopped`` holds ``time.monotonic()`` when the handler saw its cancellation (a clock every process
  on the machine shares), written just before it gives up;
- ``done`` is written just before a handler returns normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from taskapi import TaskCancelled, TaskContext, handler
from tests.handlers.waiting import write_marker

TICK = 0.002


def mark(ctx: TaskContext, event: str, text: str = "") -> None:
    """Leave ``<task_id>.<attempt>.<event>`` in the task's marker directory (when it has one)."""
    directory = ctx.params.get("dir")
    if directory is not None:
        path = Path(directory) / f"{ctx.task_id}.{ctx.attempt}.{event}"
        write_marker(path, text)


def _gate_open(ctx: TaskContext) -> bool:
    gate = ctx.params.get("gate")
    return gate is not None and Path(gate).exists()


# -- behaviours both kinds share --------------------------------------------------------------------


def _return(ctx: TaskContext) -> Any:
    return ctx.params.get("value")


def _raise(ctx: TaskContext) -> Any:
    raise RuntimeError(ctx.params.get("message", "boom"))


def _nonjson(ctx: TaskContext) -> Any:
    return {"not_json": {1, 2, 3}}


def _report(ctx: TaskContext) -> Any:
    steps = int(ctx.params["n"])
    for done in range(1, steps + 1):
        ctx.progress(done, steps)
    return {"n": steps}


COMMON: dict[str, Callable[[TaskContext], Any]] = {
    "return": _return,
    "raise": _raise,
    "nonjson": _nonjson,
    "report": _report,
}


# -- async: ``search`` ------------------------------------------------------------------------------


async def _async_loop(ctx: TaskContext) -> Any:
    """Never looks at ctx: only cancellation at an await stops it."""
    try:
        while True:
            await asyncio.sleep(TICK)
    except asyncio.CancelledError:
        mark(ctx, "stopped", repr(time.monotonic()))
        raise


async def _async_ignore(ctx: TaskContext) -> Any:
    """Swallows its cancellation and returns anyway."""
    try:
        while True:
            await asyncio.sleep(TICK)
    except asyncio.CancelledError:
        with contextlib.suppress(TaskCancelled):
            ctx.progress(999, 999)
        return {"late": True}


async def _async_gate(ctx: TaskContext) -> Any:
    ctx.progress(1, 3)
    while not _gate_open(ctx):
        await asyncio.sleep(TICK)
    return {"gated": True}


async def _async_hog(ctx: TaskContext) -> Any:
    """A bad handler: blocks the worker's event loop (no await) until the gate opens."""
    while not _gate_open(ctx):
        time.sleep(TICK)
    return {"hogged": True}


class RaceLeash:
    """How far ``race`` handlers may run ahead of a test's canceller: a task whose id is above
    ``last_id`` waits (still running, so still cancellable) until the canceller moves it up. Without it
    a fast worker on an idle machine, or a starved canceller on a loaded one, leaves every cancel on
    the same side of the race."""

    last_id: int | None = None


async def _async_race(ctx: TaskContext) -> Any:
    """A few random tiny awaits: finishes at a random moment, racing a cancel."""
    rng = random.Random(ctx.task_id)
    for _ in range(rng.randint(0, 3)):
        await asyncio.sleep(rng.choice((0, 0, 0.001, 0.005)))
    while RaceLeash.last_id is not None and ctx.task_id > RaceLeash.last_id:
        await asyncio.sleep(0.001)
    return {"raced": ctx.task_id}


async def _async_sleep(ctx: TaskContext) -> Any:
    await asyncio.sleep(float(ctx.params["seconds"]))
    return {"slept": True}


ASYNC_MODES: dict[str, Callable[[TaskContext], Awaitable[Any]]] = {
    "loop": _async_loop,
    "ignore": _async_ignore,
    "gate": _async_gate,
    "hog": _async_hog,
    "race": _async_race,
    "sleep": _async_sleep,
}


@handler("search")
async def search(ctx: TaskContext) -> Any:
    mark(ctx, "started", str(os.getpid()))
    mode = ctx.params.get("mode", "return")
    result = COMMON[mode](ctx) if mode in COMMON else await ASYNC_MODES[mode](ctx)
    mark(ctx, "done")
    return result


# -- sync: ``crawl`` (runs in a child process) -------------------------------------------------------


def _sync_loop(ctx: TaskContext) -> Any:
    """Reports progress in a loop; stops at its next progress() call or wherever the interrupt lands
    (``crawl`` marks ``stopped``)."""
    step = 0
    while True:
        step += 1
        ctx.progress(step)
        time.sleep(TICK)


def _sync_stubborn(ctx: TaskContext) -> Any:
    """Stops for nothing: spins, swallows the interrupt as a broad ``except`` would; only a kill stops it."""
    while True:
        with contextlib.suppress(TaskCancelled):
            while True:
                pass


def _sync_sleeper(ctx: TaskContext) -> Any:
    """Never looks at ctx: sleeps (blocked in a system call) until the stop interrupts it."""
    time.sleep(60)
    return {"slept": 60}


def _sync_ignore(ctx: TaskContext) -> Any:
    """Sees its cancellation (or is interrupted by it), reports progress and returns anyway."""
    with contextlib.suppress(TaskCancelled):  # the interrupt, wherever it lands in the loop
        while not ctx.cancelled:
            time.sleep(TICK)
    with contextlib.suppress(TaskCancelled):
        ctx.progress(999, 999)
    return {"late": True}


def _sync_gate(ctx: TaskContext) -> Any:
    ctx.progress(1, 3)
    while not _gate_open(ctx):
        time.sleep(TICK)
        ctx.check_cancelled()
    return {"gated": True}


def _sync_first_attempt_hangs(ctx: TaskContext) -> Any:
    """Attempt 1 waits (cooperatively) for ever; a later attempt finishes at once."""
    while ctx.attempt == 1:
        time.sleep(TICK)
        ctx.check_cancelled()
    return {"attempt": ctx.attempt}


def _sync_sleep(ctx: TaskContext) -> Any:
    time.sleep(float(ctx.params["seconds"]))
    return {"slept": True}


SYNC_MODES: dict[str, Callable[[TaskContext], Any]] = {
    "loop": _sync_loop,
    "stubborn": _sync_stubborn,
    "sleeper": _sync_sleeper,
    "ignore": _sync_ignore,
    "gate": _sync_gate,
    "first_attempt_hangs": _sync_first_attempt_hangs,
    "sleep": _sync_sleep,
}


@handler("crawl")
def crawl(ctx: TaskContext) -> Any:
    # The stop may interrupt a sync handler anywhere (even between these lines), as Ctrl-C would:
    # whatever the mode, a TaskCancelled leaving it is marked here.
    try:
        mark(ctx, "started", str(os.getpid()))
        mode = ctx.params.get("mode", "return")
        result = COMMON[mode](ctx) if mode in COMMON else SYNC_MODES[mode](ctx)
    except TaskCancelled:
        mark(ctx, "stopped", repr(time.monotonic()))
        raise
    mark(ctx, "done")
    return result
