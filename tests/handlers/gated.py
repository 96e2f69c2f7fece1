"""An ``ocr`` handler that advances one step each time the test opens a gate, for the watch tests.

``params``: ``steps`` (the total it reports), ``gates`` (a directory) and optionally ``fail`` (the
error it raises after its last step). Step ``i`` of task ``n`` waits until the file ``<gates>/n.i``
exists, then reports progress ``i/steps``; so a test decides when progress moves, and can wait to see
each step before letting the next one happen (no timing guessed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskapi import TaskContext, handler
from tests.handlers.waiting import until_exists


def open_gate(gates: Path, task_id: int, step: int) -> None:
    """Let task ``task_id`` report step ``step``."""
    (gates / f"{task_id}.{step}").touch()


@handler("ocr")
async def gated_ocr(ctx: TaskContext) -> Any:
    steps = int(ctx.params["steps"])
    gates = Path(ctx.params["gates"])
    ctx.progress(0, steps)
    for step in range(1, steps + 1):
        await until_exists(gates / f"{ctx.task_id}.{step}")
        ctx.progress(step, steps)
    if "fail" in ctx.params:
        raise RuntimeError(ctx.params["fail"])
    return {"steps": steps}
