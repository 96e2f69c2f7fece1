"""Child processes for sync handlers: isolated, so that one that never looks at its context can be killed.

Each child runs one task at a time. The worker talks to it over a pipe (awaited on the event loop with
``add_reader``, no thread per child) and shares a ``SharedSlot`` with it for progress and stop requests.
Children start from a forkserver: a clean single-threaded parent, so forking never copies the worker's
threads or locks, and a replacement after a kill starts in milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from taskapi.worker._child import INTERRUPT, child_main
from taskapi.worker._slots import SHARED_FIELDS, SharedSlot
from taskapi.worker.resources import ResourceSpec

log = logging.getLogger("taskapi.worker")


class ChildDied(Exception):
    """The child process exited without answering (killed, crashed, or ``os._exit`` in a handler)."""


@dataclass(slots=True, eq=False)
class Child:
    process: BaseProcess
    conn: Connection
    slot: SharedSlot
    _answer: asyncio.Future[None] | None = None
    _watched: asyncio.AbstractEventLoop | None = None

    async def run(self, message: tuple[Any, ...]) -> tuple[str, Any]:
        """Send one task and wait for its answer without blocking the event loop.

        The pipe stays registered with the loop for the child's life (two fewer system calls per
        task than registering it for each answer).
        """
        loop = asyncio.get_running_loop()
        if self._watched is not loop:
            loop.add_reader(self.conn.fileno(), self._on_readable)
            self._watched = loop
        self._answer = loop.create_future()
        self.conn.send(message)
        await self._answer
        try:
            answer: tuple[str, Any] = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ChildDied(self.exit_description()) from exc
        return answer

    def _on_readable(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result(None)
        elif self.conn.poll():
            # Readable with nobody waiting, and not the answer run() is about to read (the loop can
            # report it once more before run() resumes): the child died (EOF). Stop watching; the
            # next run() sees the death.
            self.unwatch()

    def unwatch(self) -> None:
        if self._watched is not None and not self._watched.is_closed():
            self._watched.remove_reader(self.conn.fileno())
        self._watched = None

    def interrupt(self) -> bool:
        """Ask the child to raise ``TaskCancelled`` in its handler now; False if it is gone."""
        pid = self.process.pid
        if pid is None:
            return False
        try:
            os.kill(pid, INTERRUPT)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        self.unwatch()
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(timeout=5)
        self.conn.close()

    def exit_description(self) -> str:
        self.process.join(timeout=1)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"the handler's process was killed by signal {signal.Signals(-code).name}"
        return f"the handler's process exited with code {code}"


class ChildPool:
    """Up to ``size`` children, started on demand and reused; a killed child is simply not returned."""

    def __init__(self, modules: list[str], size: int, resources: ResourceSpec | None = None) -> None:
        self._modules = modules
        self._resources = resources
        self._size = size
        self._idle: list[Child] = []
        self._all: set[Child] = set()
        self._context: BaseContext | None = None

    def _mp(self) -> BaseContext:
        if self._context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["taskapi.worker._child", *self._modules])
            self._context = context
        return self._context

    def _start(self) -> Child:
        context = self._mp()
        parent_end, child_end = context.Pipe(duplex=True)
        shared = context.RawArray("q", SHARED_FIELDS)
        process = context.Process(  # type: ignore[attr-defined]
            target=child_main,
            args=(child_end, shared, self._modules, self._resources),
            name="taskapi-handler",
            daemon=True,
        )
        process.start()
        child_end.close()
        return Child(process=process, conn=parent_end, slot=SharedSlot(shared))

    async def acquire(self) -> Child:
        """An idle child, or a new one (the caller holds a worker slot, so at most ``size`` are busy)."""
        while self._idle:
            child = self._idle.pop()
            if child.process.is_alive():
                return child
            self._forget(child)
        child = await asyncio.to_thread(self._start)
        self._all.add(child)
        return child

    def release(self, child: Child) -> None:
        self._idle.append(child)

    def discard(self, child: Child) -> None:
        """Kill a child that must not run anything more (stuck after a cancel, or died)."""
        child.kill()
        self._forget(child)

    def _forget(self, child: Child) -> None:
        self._all.discard(child)

    def unwatch(self) -> None:
        """Take every child's pipe off the event loop; call on the loop before ``close`` in a thread."""
        for child in self._all:
            child.unwatch()

    def close(self) -> None:
        """Stop every child: idle ones politely, busy ones by force (their tasks were handed back)."""
        for child in list(self._all):
            try:
                if child in self._idle:
                    child.conn.send(None)
                    child.process.join(timeout=2)
            except (OSError, ValueError):
                pass
            child.kill()
        self._all.clear()
        self._idle.clear()
