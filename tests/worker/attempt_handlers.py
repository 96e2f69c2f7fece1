"""A handler whose attempts a test drives one by one: ``search`` (async, so it runs in the test's
process) waits for a go file of its own attempt, so attempt 1 and attempt 2 of one task can be held
by one worker at the same moment, each released when the test says.

Params: ``dir``, where the markers and go files live (``<task_id>.<attempt>.<event>``, as
``tests.handlers.basic`` names them); ``progress``, whether it reports progress as it starts.
Markers: ``started`` as it starts, ``stopped`` when its run was cancelled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from taskapi import TaskContext, handler
from tests.handlers.waiting import until_exists, write_marker

MODULE = "tests.worker.attempt_handlers"


def _path(ctx: TaskContext, event: str) -> Path:
    return Path(ctx.params["dir"]) / f"{ctx.task_id}.{ctx.attempt}.{event}"


@handler("search")
async def attempts(ctx: TaskContext) -> Any:
    write_marker(_path(ctx, "started"))
    if ctx.params.get("progress"):
        ctx.progress(1, 2)
    try:
        await until_exists(_path(ctx, "go"))
    except asyncio.CancelledError:
        write_marker(_path(ctx, "stopped"))
        raise
    return {"attempt": ctx.attempt}
