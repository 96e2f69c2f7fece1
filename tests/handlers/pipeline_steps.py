"""Fast stand-ins for the six pipeline steps, for the pipeline runs' tests (``--handlers`` module).

Each type's handler does what its task's params say (a run gives a step the params of
``params.<step>``, plus ``pipeline_run``):

- nothing special: reports progress ``1..n`` (``n``, default 3) and returns ``{"step", "run", "attempt"}``;
- ``"fail": "message"``: raises ``RuntimeError(message)`` after its progress;
- ``"gate": PATH``: waits (cancellable) until the file ``PATH`` exists, then completes;
- ``"block_first": true``: on its first attempt waits forever (until its worker is killed), on the next
  attempt completes.

With ``"dir": PATH`` a handler leaves ``<task_id>.<attempt>.started`` there (holding its pid) as it starts,
so a test counts the executions of each step and knows when one is under way.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from taskapi import TaskContext, handler
from tests.handlers.waiting import until_exists, write_marker


async def run_step(ctx: TaskContext) -> dict[str, Any]:
    params = ctx.params
    if "dir" in params:
        marker = Path(params["dir"]) / f"{ctx.task_id}.{ctx.attempt}.started"
        write_marker(marker, str(os.getpid()))
    if params.get("block_first") and ctx.attempt == 1:
        await asyncio.Event().wait()  # until the process dies
    if "gate" in params:
        await until_exists(Path(params["gate"]))
    steps = int(params.get("n", 3))
    for done in range(1, steps + 1):
        ctx.progress(done, steps)
        await asyncio.sleep(0)
    if "fail" in params:
        raise RuntimeError(str(params["fail"]))
    return {"step": ctx.task_type, "run": params.get("pipeline_run"), "attempt": ctx.attempt}


@handler("search")
async def search(ctx: TaskContext) -> dict[str, Any]:
    return await run_step(ctx)


@handler("dedup")
async def dedup(ctx: TaskContext) -> dict[str, Any]:
    return await run_step(ctx)


@handler("crawl")
async def crawl(ctx: TaskContext) -> dict[str, Any]:
    return await run_step(ctx)


@handler("ocr")
async def ocr(ctx: TaskContext) -> dict[str, Any]:
    return await run_step(ctx)


@handler("index")
async def index(ctx: TaskContext) -> dict[str, Any]:
    return await run_step(ctx)


@handler("keyword_expand")
async def keyword_expand(ctx: TaskContext) -> dict[str, Any]:
    return await run_step(ctx)
