"""Handlers with a ``timeout`` of 0.3 s that never finish on their own: ``search`` async, ``crawl`` sync."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from taskapi import TaskCancelled, TaskContext, handler
from tests.handlers.basic import mark


@handler("search", timeout=0.3)
async def slow_search(ctx: TaskContext) -> Any:
    mark(ctx, "started", str(os.getpid()))
    await asyncio.sleep(60)
    return {"finished": True}


@handler("crawl", timeout=0.3)
def stubborn_crawl(ctx: TaskContext) -> Any:
    """Ignores every stop, the interrupt included: only a kill ends it."""
    mark(ctx, "started", str(os.getpid()))
    while True:
        with contextlib.suppress(TaskCancelled):
            while True:
                pass
