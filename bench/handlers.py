"""Our handlers for the bench (loaded with ``--handlers bench.handlers``).

``index`` is the ``async def`` handler, ``ocr`` the ``def`` one (run in a child process), ``crawl`` a
stubborn ``def`` one that never looks at its context and swallows the ``TaskCancelled`` the worker
raises in it. What they do comes from the task's params:

- ``{}``: nothing (drain);
- ``{"sink": PATH}``: append a ``start`` event with ``time.time()`` (pickup);
- ``{"sink": PATH, "loop": true}``: ``start``, then loop in 10 ms sleeps calling ``ctx.progress()``
  until cancelled, then a ``stop`` event (cancel-to-stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from bench.common import sink_write
from taskapi import TaskCancelled, TaskContext, handler


def _started(ctx: TaskContext) -> str | None:
    sink = ctx.params.get("sink")
    if sink:
        sink_write(sink, event="start", task=ctx.task_id, t=time.time(), pid=os.getpid())
    return sink if isinstance(sink, str) else None


@handler("index")
async def async_handler(ctx: TaskContext) -> Any:
    sink = _started(ctx)
    if not (sink and ctx.params.get("loop")):
        return None
    step = 0
    try:
        while True:
            await asyncio.sleep(0.01)
            step += 1
            ctx.progress(step)
    finally:
        sink_write(sink, event="stop", task=ctx.task_id, t=time.time())


@handler("ocr")
def sync_handler(ctx: TaskContext) -> Any:
    sink = _started(ctx)
    if not (sink and ctx.params.get("loop")):
        return None
    step = 0
    try:
        while True:
            time.sleep(0.01)
            step += 1
            ctx.progress(step)
    finally:
        sink_write(sink, event="stop", task=ctx.task_id, t=time.time())


@handler("crawl")
def stubborn_handler(ctx: TaskContext) -> Any:
    """Ignores cancel, even the ``TaskCancelled`` the worker raises in it: only the kill after
    ``--cancel-grace`` stops it."""
    _started(ctx)
    while True:
        with contextlib.suppress(TaskCancelled):
            time.sleep(0.01)
