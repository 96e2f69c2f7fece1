"""The chaos run's handlers (loaded with ``--handlers tests.chaos.handlers``): two ``async def`` types
and two ``def`` types (child processes), each taking a random short time in a few progress steps.

``params``: ``runs`` (a directory), ``ms`` (the run's length), ``steps`` (progress reports), ``fail``
(raise instead of returning). Just before a handler returns it appends ``<task_id> <attempt> <pid>`` to
``<runs>/runs-<pid>.log`` in one ``write`` on an ``O_APPEND`` descriptor, so a process killed at any
moment leaves whole lines only. The checker compares these completed runs with the store's timelines:
a run can complete only inside a claim, and the timeline must say how that claim ended.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from taskapi import TaskContext, handler


def record_completed_run(ctx: TaskContext) -> None:
    """Append this run to the process's run log (one atomic append)."""
    path = Path(str(ctx.params["runs"])) / f"runs-{os.getpid()}.log"
    line = f"{ctx.task_id} {ctx.attempt} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _plan(ctx: TaskContext) -> tuple[int, float]:
    steps = max(1, int(ctx.params.get("steps", 1)))
    return steps, float(ctx.params.get("ms", 0)) / 1000.0 / steps


def _finish(ctx: TaskContext, steps: int) -> dict[str, Any]:
    if ctx.params.get("fail"):
        raise RuntimeError(f"chaos: task {ctx.task_id} fails as asked")
    record_completed_run(ctx)
    return {"steps": steps, "attempt": ctx.attempt}


async def _run_async(ctx: TaskContext) -> dict[str, Any]:
    steps, pause = _plan(ctx)
    for done in range(1, steps + 1):
        await asyncio.sleep(pause)
        ctx.progress(done, steps)
    return _finish(ctx, steps)


def _run_sync(ctx: TaskContext) -> dict[str, Any]:
    steps, pause = _plan(ctx)
    for done in range(1, steps + 1):
        time.sleep(pause)
        ctx.progress(done, steps)
    return _finish(ctx, steps)


@handler("search")
async def search(ctx: TaskContext) -> dict[str, Any]:
    return await _run_async(ctx)


@handler("ocr")
async def ocr(ctx: TaskContext) -> dict[str, Any]:
    return await _run_async(ctx)


@handler("crawl")
def crawl(ctx: TaskContext) -> dict[str, Any]:
    return _run_sync(ctx)


@handler("dedup")
def dedup(ctx: TaskContext) -> dict[str, Any]:
    return _run_sync(ctx)


TYPES = ("search", "ocr", "crawl", "dedup")
"""The task types these handlers run (the chaos clients create only these)."""
