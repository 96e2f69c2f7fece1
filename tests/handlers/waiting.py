"""How the test handlers and their tests meet through files: a handler waits until a file appears
(another process may make it), looking every ``TICK`` seconds, cancellable at each look as an async
handler must be; a handler leaves a marker whole, so a test never reads one half-written."""

from __future__ import annotations

import asyncio
from pathlib import Path

TICK = 0.005


async def until_exists(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(TICK)


def write_marker(path: Path, text: str = "") -> None:
    """Write ``text`` to ``path`` through a rename: a reader sees no file or the whole of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
