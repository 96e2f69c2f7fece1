"""How a worker hears of tasks created and cancelled: the one place it subscribes and listens.

Two sources: the in-process ``Signals`` (an API in this process announces at once) and the store's
``listen`` (other processes' announcements, e.g. PostgreSQL NOTIFY). Either calls back in its own
thread; each announcement hops onto the worker's event loop here. Polling (the claim loop's timeout and
the cancel check) covers whatever neither announces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from taskapi.signals import Signals, TaskSignal
from taskapi.store.base import Store


@asynccontextmanager
async def hearing(
    store: Store, signals: Signals | None, *, listen: bool, on_signal: Callable[[TaskSignal], None]
) -> AsyncIterator[None]:
    """For the block, call ``on_signal`` on the running event loop for each announcement heard."""
    loop = asyncio.get_running_loop()

    def hop(signal: TaskSignal) -> None:  # called in the announcer's thread
        if not loop.is_closed():
            loop.call_soon_threadsafe(on_signal, signal)

    unsubscribe = signals.subscribe(hop) if signals is not None else None
    unlisten = await asyncio.to_thread(store.listen, hop) if listen else None
    try:
        yield
    finally:
        if unsubscribe is not None:
            unsubscribe()
        if unlisten is not None:
            await asyncio.to_thread(unlisten)
