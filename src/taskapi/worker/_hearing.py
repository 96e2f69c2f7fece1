"""How a worker hears of tasks created and cancelled: the one place it subscribes.

The store's notifier delivers each announcement once: this store object's at once (in the writing
thread, after the commit: an API sharing the store wakes its embedded worker directly) and, with
``listen``, other processes' through the dialect's carrier (host datagrams, PostgreSQL NOTIFY), from
a listener's thread. Each hops onto the worker's event loop here. Polling (the claim loop's timeout
and the cancel check) covers whatever is not announced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from taskapi.signals import TaskSignal
from taskapi.store.base import Store


@asynccontextmanager
async def hearing(
    store: Store, *, listen: bool, on_signal: Callable[[TaskSignal], None]
) -> AsyncIterator[None]:
    """For the block, call ``on_signal`` on the running event loop for each announcement heard."""
    loop = asyncio.get_running_loop()

    def hop(signal: TaskSignal) -> None:  # called in the announcer's thread
        if not loop.is_closed():
            loop.call_soon_threadsafe(on_signal, signal)

    # In a thread: with ``listen`` on PostgreSQL, it returns once LISTEN is in place.
    unsubscribe = await asyncio.to_thread(store.notifier.subscribe, hop, remote=listen)
    try:
        yield
    finally:
        await asyncio.to_thread(unsubscribe)
