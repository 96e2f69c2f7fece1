"""An async ``index`` handler that records each execution in a PostgreSQL table, for scale-out tests.

``params["db"]`` is the database URL and ``params["table"]`` the table (created by the test as
``(task_id bigint, attempt int, pid int, outcome text, at double precision)``). ``params["mode"]``:

- ``"noop"`` (default): returns at once; one ``completed`` row is inserted just before it returns
  (at the end of the run, so a run killed with its worker leaves no row);
- ``"loop"``: awaits ``asyncio.sleep(0.01)`` until cancelled, then inserts a ``stopped`` row whose
  ``at`` is ``time.monotonic()`` (a clock every process on the machine shares) and re-raises.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import psycopg
from psycopg import sql

from taskapi import TaskContext, handler


async def _record(ctx: TaskContext, outcome: str) -> None:
    statement = sql.SQL("INSERT INTO {} (task_id, attempt, pid, outcome, at) VALUES (%s, %s, %s, %s, %s)")
    query = statement.format(sql.Identifier(str(ctx.params["table"])))
    async with await psycopg.AsyncConnection.connect(str(ctx.params["db"]), autocommit=True) as conn:
        await conn.execute(query, (ctx.task_id, ctx.attempt, os.getpid(), outcome, time.monotonic()))


@handler("index")
async def index(ctx: TaskContext) -> Any:
    if ctx.params.get("mode", "noop") == "loop":
        try:
            while True:
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            await _record(ctx, "stopped")
            raise
    await _record(ctx, "completed")
    return {"recorded": True}
