"""How the test handlers wait for their test: until a file appears (another process may make it),
looking every ``TICK`` seconds; cancellable at each look, as an async handler must be."""

from __future__ import annotations

import asyncio
from pathlib import Path

TICK = 0.005


async def until_exists(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(TICK)
