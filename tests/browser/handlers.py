"""Handlers the dashboard tests drive through params, loaded by name in the server's worker.

- ``ocr`` (async) advances its progress one step every ``params.step_seconds`` (default 0.05 s) for
  ``params.steps`` steps (default 2000), so a bar visibly moves; when cancelled it writes the file
  ``params.stopped`` (if given) before giving up, so a test can see that the handler really stopped.
- ``search`` (async) returns ``params.value`` or, with ``params.message``, fails with that message.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from taskapi import TaskCancelled, TaskContext, handler


@handler("ocr")
async def slow_ocr(ctx: TaskContext) -> dict[str, Any]:
    steps = int(ctx.params.get("steps", 2000))
    step_seconds = float(ctx.params.get("step_seconds", 0.05))
    done = 0
    try:
        for done in range(1, steps + 1):
            await asyncio.sleep(step_seconds)
            ctx.progress(done, steps)
    except (asyncio.CancelledError, TaskCancelled):
        stopped = ctx.params.get("stopped")
        if stopped is not None:
            Path(stopped).write_text(f"stopped after step {done}")
        raise
    return {"pages": steps}


@handler("search")
async def search(ctx: TaskContext) -> Any:
    if "message" in ctx.params:
        raise RuntimeError(str(ctx.params["message"]))
    return ctx.params.get("value", {})
