"""``taskapi serve --processes N``: N API processes on one port, each on a listening socket of its
own, kept at N.

The supervisor (the process ``serve`` started in) binds one socket per child on the same address
(``SO_REUSEPORT``: the kernel hands each new connection to one of them by a hash of its addresses)
and starts N children with multiprocessing's *spawn* (fresh interpreters: no threads, connections or
locks inherited); each runs the given target on the socket it inherits. Which child runs the embedded
worker is the target's choice by slot (``taskapi.app`` puts it in slot 0, alone).

Why not one socket that every child accepts on: whichever child wakes first accepts every connection
waiting (asyncio accepts in a loop), so a burst of keep-alive connections lands on one process while
the other idles. For issue 12's list bench (8 connections from ``wrk``, machine load 4-5), ``ss``
showed 8/0, 1/7, 2/6, 1/7, 8/0 in five runs on one socket, and 3/5, 4/4, 3/5, 3/5, 5/3 with a socket
per child (a hash: even on average, not in every run); on SQLite a process answers its reads one at
a time, so the loaded one queued them. The port is checked free with a plain socket first, so that a
second ``serve`` on it fails rather than share its connections.

The supervisor:

- waits for every child to say it serves; a child that dies before (the store down, a bad handler
  module) stops them all and ``serve`` fails, as a single process would;
- replaces a child that dies afterwards (logged), at once after a long life, with a growing pause
  after a short one, so a crash loop does not spin; the dead child's socket is closed at once (new
  connections go to the living ones; those it had not accepted are reset) and its replacement gets a
  new one;
- turns SIGTERM or Ctrl-C into one SIGTERM for each child (which close their streams, finish their
  responses and, in slot 0, stop the worker gracefully), waits ``stop_timeout`` seconds for them and
  kills what is left;
- runs prometheus_client's multiprocess mode over a private directory: each child writes its metrics
  to files there and any child's ``/metrics`` sums them all. A dead child's counters stay in the sum
  (a counter never goes back); its live gauges are dropped from it.

Children watch the supervisor: if it dies (SIGKILL), they shut down by themselves.

A child freezes its heap before it runs the target (``gc.freeze``): by then the spawn has imported
the target's module and everything below it (the framework, the store, the schemas: some 80,000 of
the 107,000 objects a built API process holds, all living as long as the process), and a full
collection that walks them all took 40-100 ms on this shared 2-core machine, stalling every request
in flight on that process (issue 12's list p99). Frozen, they are never walked again.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from prometheus_client import multiprocess

log = logging.getLogger("taskapi.serving")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HEALTHY_LIFE = 10.0
"""Seconds a child must have lived for its death to be a crash, not a crash loop (restart at once)."""
MAX_RESTART_PAUSE = 30.0
STARTUP_TIMEOUT = 120.0
"""Seconds a child may take to serve (migrations, a slow store) before ``serve`` gives up."""

Target = Callable[..., None]
"""``target(slot, sock, ready, *args)``: serve on ``sock``; ``ready.send(pid)`` once serving. A
module-level function (spawn pickles it by name)."""


@dataclass
class _Child:
    slot: int
    process: BaseProcess
    ready: Connection
    started_at: float = field(default_factory=time.monotonic)
    serving: bool = False

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid


class StartupFailed(RuntimeError):
    """A child died before it served: ``serve`` cannot start."""


def bind(host: str, port: int, backlog: int = 2048, *, reuse_port: bool = True) -> socket.socket:
    """A child's listening socket (inheritable; SO_REUSEADDR as uvicorn sets it; SO_REUSEPORT, so
    that every child's socket binds the same address)."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.create_server((address, port), family=family, backlog=backlog, reuse_port=reuse_port)
    sock.set_inheritable(True)
    return sock


def unused_port(host: str, port: int) -> int:
    """``port`` (or, for 0, one the system picks) once a plain socket could bind it: nobody listens
    there, not even a group of ``SO_REUSEPORT`` sockets, which the children's would join silently.
    Raises ``OSError`` when it is taken."""
    with bind(host, port, reuse_port=False) as probe:
        found: int = probe.getsockname()[1]
        return found


class Supervisor:
    """Runs ``processes`` children of ``target``, each on a socket from ``listen``, until asked to
    stop; see the module."""

    def __init__(
        self,
        target: Target,
        args: tuple[Any, ...],
        *,
        processes: int,
        listen: Callable[[], socket.socket],
        stop_timeout: float,
    ) -> None:
        self.target = target
        self.args = args
        self.processes = processes
        self.listen = listen
        self.stop_timeout = stop_timeout
        self.children: dict[int, _Child] = {}
        self.sockets: dict[int, socket.socket] = {}
        self._restart_due: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._context = get_context("spawn")
        self._stop_signal: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)

    # -- the whole life ----------------------------------------------------------------------------

    def run(self) -> int:
        """Start, supervise until SIGTERM/SIGINT, stop; answer the exit code (0: a clean stop)."""
        with self._signals_handled():
            try:
                for slot in range(self.processes):
                    self._start(slot)
                self._wait_until_serving()
            except (StartupFailed, OSError) as exc:  # OSError: a child's socket could not bind
                log.error("serve cannot start: %s", exc)
                self._stop_all()
                return 1
            if self._stop_signal is None:
                log.info("%d API processes serving", self.processes)
                self._supervise()
            return self._stop_all()

    def _start(self, slot: int) -> None:
        """Start the child of ``slot`` on its socket (a new one if its last child died)."""
        if slot not in self.sockets:
            self.sockets[slot] = self.listen()
        ready_r, ready_w = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child_main,
            args=(self.target, slot, self.sockets[slot], ready_w, *self.args),
            name=f"taskapi-api-{slot}",
        )
        process.start()
        ready_w.close()  # the child holds the only writer: its death reads as EOF
        self.children[slot] = _Child(slot, process, ready_r)

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self._stop_signal is None and not all(c.serving for c in self.children.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartupFailed(f"the API processes did not serve within {STARTUP_TIMEOUT:.0f} s")
            self._wait(left)
            for child in self.children.values():
                if not child.serving and not child.process.is_alive():
                    code = child.process.exitcode
                    raise StartupFailed(f"API process {child.slot} exited with code {code} before serving")

    def _supervise(self) -> None:
        while self._stop_signal is None:
            due = min(self._restart_due.values(), default=None)
            self._wait(None if due is None else max(0.0, due - time.monotonic()))
            for child in list(self.children.values()):
                if not child.process.is_alive():
                    self._replace_later(child)
            now = time.monotonic()
            for slot, when in list(self._restart_due.items()):
                if when <= now and self._stop_signal is None:
                    del self._restart_due[slot]
                    try:
                        self._start(slot)
                    except OSError as exc:  # its new socket: the port was taken while no child held it
                        log.error(
                            "API process %d cannot listen: %s: retrying in %.0f s", slot, exc, HEALTHY_LIFE
                        )
                        self._restart_due[slot] = time.monotonic() + HEALTHY_LIFE

    def _wait(self, timeout: float | None) -> None:
        """Until a child serves or dies, a signal arrives, or ``timeout``; notes who now serves."""
        pending = [c.ready for c in self.children.values() if not c.serving]
        sentinels = [c.process.sentinel for c in self.children.values()]
        for ready in wait([self._wake_r, *pending, *sentinels], timeout):
            if ready is self._wake_r:
                with suppress(BlockingIOError):
                    self._wake_r.recv(64)
        for child in self.children.values():
            if not child.serving and child.ready.poll():
                try:
                    child.ready.recv()
                except EOFError:  # it died before serving: reap it, the caller sees it dead
                    child.process.join(5)
                    continue
                child.serving = True
                log.info("API process %d (pid %d) is serving", child.slot, child.pid)

    def _replace_later(self, child: _Child) -> None:
        """Forget the dead child (its live gauges leave the metrics) and schedule its replacement."""
        child.process.join()
        child.ready.close()
        del self.children[child.slot]
        self.sockets.pop(child.slot).close()  # the kernel stops handing it connections
        _mark_dead(child.pid)
        lived = time.monotonic() - child.started_at
        failures = 0 if lived >= HEALTHY_LIFE else self._failures.get(child.slot, 0) + 1
        self._failures[child.slot] = failures
        pause = 0.0 if failures == 0 else min(MAX_RESTART_PAUSE, 0.5 * 2 ** (failures - 1))
        log.error(
            "API process %d (pid %d) exited unexpectedly with code %s after %.1f s: replacing it in %.1f s",
            child.slot,
            child.pid,
            child.process.exitcode,
            lived,
            pause,
        )
        self._restart_due[child.slot] = time.monotonic() + pause

    def _stop_all(self) -> int:
        """SIGTERM to every child, wait up to ``stop_timeout``, SIGKILL the rest; 0 if all ended cleanly."""
        children = list(self.children.values())
        for child in children:
            if child.process.is_alive() and child.process.pid is not None:
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in children:
            child.process.join(max(0.0, deadline - time.monotonic()))
        code = 0
        for child in children:
            if child.process.is_alive():
                log.error("API process %d (pid %d) did not stop in time: killing it", child.slot, child.pid)
                child.process.kill()
                child.process.join()
            if child.process.exitcode != 0:
                log.error("API process %d exited with code %s", child.slot, child.process.exitcode)
                code = 1
            child.ready.close()
        self.children.clear()
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        return code

    # -- signals -------------------------------------------------------------------------------------

    @contextmanager
    def _signals_handled(self) -> Iterator[None]:
        """SIGTERM and SIGINT end the supervision (the children get one SIGTERM each, never a second
        signal that uvicorn would take as "force"); the wake-up socket interrupts the wait."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._stop_signal is None:
                log.info("%s received: stopping the API processes", signal.Signals(signum).name)
                self._stop_signal = signum

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._wake_r.close()
            self._wake_w.close()


def _child_main(target: Target, *args: Any) -> None:
    """A child's life: its imported heap frozen (see the module), then ``target(*args)``."""
    gc.freeze()
    target(*args)


def _mark_dead(pid: int) -> None:
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


@contextmanager
def multiprocess_metrics() -> Iterator[str]:
    """A fresh directory for prometheus_client's multiprocess mode, named in the environment the
    children inherit; removed afterwards."""
    path = tempfile.mkdtemp(prefix="taskapi-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def supervise(
    target: Target, args: tuple[Any, ...], *, processes: int, host: str, port: int, stop_timeout: float
) -> int:
    """Bind ``host:port``, run ``processes`` children of ``target`` on it until SIGTERM/SIGINT; answer
    the exit code. The caller has checked everything it can before (settings, the store)."""
    try:
        port = unused_port(host, port)
        first = bind(host, port)
    except OSError as exc:  # as uvicorn answers it: a line, and exit code 1
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        return 1
    sockets = iter([first])

    def listen() -> socket.socket:
        """The first socket (bound above, so that a failure is ``serve``'s), then new ones."""
        return next(sockets, None) or bind(host, port)

    with multiprocess_metrics():
        return Supervisor(target, args, processes=processes, listen=listen, stop_timeout=stop_timeout).run()
