"""Demo handlers for all six types: they only wait and report progress, to try the service.

Opt in with ``taskapi serve --handlers taskapi.pipeline.demo``. Each step waits ``params.step_seconds``
(default 0.2 s) for ``params.steps`` steps (default 20), so progress visibly moves and cancel can be
tried; nothing is searched, crawled or recognised.
"""

from __future__ import annotations

import asyncio
from typing import Any

from taskapi.worker.context import TaskContext
from taskapi.worker.registry import handler


def _shape(ctx: TaskContext) -> tuple[int, float]:
    steps = int(ctx.params.get("steps", 20))
    step_seconds = float(ctx.params.get("step_seconds", 0.2))
    if steps < 0 or step_seconds < 0:
        raise ValueError("params.steps and params.step_seconds must not be negative")
    return steps, step_seconds


async def _simulate(ctx: TaskContext, **result: Any) -> dict[str, Any]:
    steps, step_seconds = _shape(ctx)
    for done in range(1, steps + 1):
        await asyncio.sleep(step_seconds)
        ctx.progress(done, steps)
    return {"demo": True, "steps": steps, **result}


@handler("search")
async def search(ctx: TaskContext) -> dict[str, Any]:
    return await _simulate(ctx, query=ctx.params.get("query", ""), papers_found=0)


@handler("dedup")
async def dedup(ctx: TaskContext) -> dict[str, Any]:
    return await _simulate(ctx, duplicates=0)


@handler("crawl")
async def crawl(ctx: TaskContext) -> dict[str, Any]:
    return await _simulate(ctx, pages=0)


@handler("ocr")
async def ocr(ctx: TaskContext) -> dict[str, Any]:
    return await _simulate(ctx, pages=0)


@handler("index")
async def index(ctx: TaskContext) -> dict[str, Any]:
    return await _simulate(ctx, documents=0)


@handler("keyword_expand")
async def keyword_expand(ctx: TaskContext) -> dict[str, Any]:
    return await _simulate(ctx, keywords=ctx.params.get("keywords", []))
