"""The composition root: wires settings, store, service, API and workers together.

Only this module (and the CLI above it) knows every part; the parts know only the layers below them.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from multiprocessing.connection import Connection
from types import FrameType

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from taskapi.api import create_app
from taskapi.api.auth import AccessTokens, load_tokens
from taskapi.api.hub import ChangeHub, HubCollector, HubOptions
from taskapi.api.routes_stream import ConnectionCut
from taskapi.domain import InvalidInput, TaskType
from taskapi.http_guard import HttpLimits, guarded_protocol
from taskapi.metrics import CollectorMirror, StoreCollector, multiprocess_dir
from taskapi.papers.files import LocalFileStore
from taskapi.papers.repository import PapersRepository
from taskapi.papers.service import PaperService
from taskapi.service import TaskService
from taskapi.serving import supervise
from taskapi.settings import Settings
from taskapi.store import Store
from taskapi.wiring import (
    open_migrated_store,
    params_validators_for,
    pipeline_resources,
    redacted,
)
from taskapi.worker import (
    Worker,
    WorkerOptions,
    build_duties,
    handler_modules,
    load_handlers,
    run_duties,
)

log = logging.getLogger("taskapi")
MIRROR_INTERVAL = 1.0
"""Seconds between two copies of an API process's stream figures into the shared metrics."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def worker_options(settings: Settings) -> WorkerOptions:
    return WorkerOptions(
        concurrency=settings.concurrency,
        lease_seconds=settings.lease_seconds,
        cancel_grace=settings.cancel_grace,
        shutdown_timeout=settings.shutdown_timeout,
        poll_interval=settings.poll_interval,
        rescue_interval=settings.rescue_interval,
        listen=settings.listen,
        retention_seconds=settings.retention_days * 86400,
    )


def access_tokens(settings: Settings) -> AccessTokens:
    """The configured tokens; a malformed configuration is an ``InvalidInput`` naming what is wrong."""
    inline = None if settings.api_tokens is None else settings.api_tokens.get_secret_value()
    return load_tokens(inline, settings.api_tokens_file)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_binding(settings: Settings, tokens: AccessTokens) -> None:
    """No tokens: loopback only, unless explicitly allowed (then warn). Logs what access control does."""
    if tokens:
        log.info("access control is on: %d token(s) configured", len(tokens.credentials))
    elif is_loopback(settings.host):
        log.info(
            "access control is off (no API tokens): listening on the loopback address %s only", settings.host
        )
    elif settings.allow_unauthenticated:
        log.warning(
            "access control is off and %s is not a loopback address: anyone who reaches it can read and"
            " cancel tasks (TASKAPI_ALLOW_UNAUTHENTICATED is set)",
            settings.host,
        )
    else:
        raise InvalidInput(
            "host",
            f"{settings.host} is not a loopback address and no API tokens are configured: set"
            " TASKAPI_API_TOKENS or TASKAPI_API_TOKENS_FILE, or --allow-unauthenticated"
            " (TASKAPI_ALLOW_UNAUTHENTICATED=true) to serve without access control",
        )


def build_worker(settings: Settings, store: Store) -> Worker:
    """A worker with the built-in handlers overridden by the configured handler modules."""
    handlers = load_handlers(settings.handlers, builtin=settings.builtin_handlers)
    modules = handler_modules(settings.handlers, builtin=settings.builtin_handlers)
    return Worker(
        store,
        handlers,
        modules=modules,
        options=worker_options(settings),
        resources=pipeline_resources(settings),
    )


class EmbeddedWorker:
    """A worker on its own thread and event loop, so a busy handler never stalls the API's loop."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._thread = threading.Thread(target=self._run, name="taskapi-worker", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.worker.run())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Graceful: stop claiming, let tasks finish within the shutdown timeout, hand back the rest."""
        self.worker.request_stop()
        options = self.worker.options
        self._thread.join(timeout=options.shutdown_timeout + options.cancel_grace + 10)


def _embedded_worker(settings: Settings, store: Store) -> EmbeddedWorker | None:
    """The worker ``serve`` embeds, unless told not to, or given no handlers (then it warns)."""
    if not settings.run_worker:
        return None
    if not load_handlers(settings.handlers, builtin=settings.builtin_handlers):
        log.warning("no handlers (builtin off, no --handlers): serving without a worker")
        return None
    return EmbeddedWorker(build_worker(settings, store))


def build_server_app(
    settings: Settings, tokens: AccessTokens | None = None, *, maintenance: bool = True
) -> FastAPI:
    """The app of ``taskapi serve``: the API, plus an embedded worker (or at least the rescuer).

    Without ``maintenance`` (the API processes of ``serve --processes N`` but one) it runs neither the
    worker nor the rescuer and pruner: one of each per ``serve`` is enough. Under prometheus_client's
    multiprocess mode, the stream figures go to the shared metrics (``CollectorMirror``) instead of the
    app's per-process collector."""
    store = open_migrated_store(settings, wait=settings.startup_wait)
    service = TaskService(store, validators=params_validators_for(settings))
    app = create_app(
        service,
        max_body_bytes=settings.max_body_bytes,
        tokens=tokens,
        hub_options=HubOptions(
            poll_interval=settings.events_poll_interval,
            keepalive=settings.events_keepalive,
            max_clients=settings.events_max_clients,
            client_buffer=settings.events_client_buffer,
            send_timeout=settings.events_send_timeout,
        ),
        listen=settings.listen,
        papers=PaperService(PapersRepository(store), LocalFileStore(settings.data_dir)),
        max_import_bytes=settings.max_import_bytes,
    )
    inner_lifespan = app.router.lifespan_context
    mirror = CollectorMirror(HubCollector(app.state.hub)) if multiprocess_dir() else None
    if mirror is not None:
        app.state.store_metrics = store_metrics(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = _embedded_worker(settings, store) if maintenance else None
        duties: list[asyncio.Task[None]] = []
        if mirror is not None:
            duties.append(asyncio.create_task(_mirror_every(MIRROR_INTERVAL, mirror)))
        if embedded:
            embedded.start()
        elif maintenance:  # no worker here, but a server still rescues dead workers' tasks and prunes
            duties.append(asyncio.create_task(run_duties(build_duties(store, worker_options(settings)))))
        async with inner_lifespan(app):
            try:
                yield
            finally:
                if embedded:
                    await asyncio.to_thread(embedded.stop)
                for duty in duties:
                    duty.cancel()
                    with suppress(asyncio.CancelledError):
                        await duty
                if mirror is not None:
                    mirror.sync()  # the last figures of this process, before it goes
                store.close()

    app.router.lifespan_context = lifespan
    return app


def store_metrics(service: TaskService) -> CollectorRegistry:
    """The metrics every process reads from the store at scrape time (the same in any process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(service.queue_stats, [t.value for t in TaskType]))
    return registry


async def _mirror_every(interval: float, mirror: CollectorMirror) -> None:
    while True:
        try:
            mirror.sync()
        except Exception:  # figures a scrape misses for a while must not end the process's copying
            log.exception("metrics: cannot copy this process's stream figures")
        await asyncio.sleep(interval)


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before it shuts the app down, and a live stream never ends by
    itself: on the exit signal, end the streams first.

    Once it serves, everything built so far (the app, its routes and schemas, the store, the
    lifespan's duties) lives as long as the process: it is frozen out of the cyclic collector's
    walks, where a full collection over it took 40-100 ms, a stall for every request in flight
    (issue 12's list p99; after the freeze the collector walks some hundreds of objects)."""

    def __init__(self, config: uvicorn.Config, hub: ChangeHub) -> None:
        super().__init__(config)
        self.hub = hub

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            gc.collect()  # what startup left as garbage is not kept for ever
            gc.freeze()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.hub.close_streams_threadsafe()
        super().handle_exit(sig, frame)


class _SupervisedServer(_Server):
    """An API process of ``serve --processes N``: tells the supervisor once it serves, and leaves
    Ctrl-C to it (the terminal signals every process; the supervisor turns it into one SIGTERM each,
    where a second signal here would make uvicorn drop its graceful shutdown)."""

    def __init__(self, config: uvicorn.Config, hub: ChangeHub, on_serving: Callable[[], None]) -> None:
        super().__init__(config, hub)
        self._on_serving = on_serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_serving()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGINT:
            super().handle_exit(sig, frame)


STREAM_SHUTDOWN_TIMEOUT = 5
"""Seconds uvicorn waits at shutdown for responses still being sent (a client that stopped reading
its stream) before it cancels them."""


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """uvicorn as ``serve`` runs it, protective limits included (``taskapi.http_guard``)."""
    limits = HttpLimits(
        header_timeout=settings.header_timeout,
        max_header_bytes=settings.max_header_bytes,
        limit_concurrency=settings.limit_concurrency,
    )
    return uvicorn.Config(
        ConnectionCut(app),  # lets the stream reset the connection of a client it drops
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        http=guarded_protocol(limits),
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]  # a float works
        timeout_graceful_shutdown=STREAM_SHUTDOWN_TIMEOUT,
    )


def stop_timeout(settings: Settings) -> float:
    """Seconds ``serve --processes N`` gives its processes to stop: the embedded worker's graceful
    stop, then the streams' and responses' grace, with a margin."""
    return settings.shutdown_timeout + settings.cancel_grace + STREAM_SHUTDOWN_TIMEOUT + 10


def serve(settings: Settings) -> None:
    """Run the API and the embedded worker until SIGTERM or Ctrl-C; with ``processes`` > 1, that many
    API processes on one port (``taskapi.serving``), the worker in one of them."""
    tokens = access_tokens(settings)
    check_binding(settings, tokens)
    log.info(
        "taskapi serving on http://%s:%d with store %s%s",
        settings.host,
        settings.port,
        redacted(settings.database_url),
        f" in {settings.processes} processes" if settings.processes > 1 else "",
    )
    if settings.processes > 1:
        # once, before the processes start: waits for a store starting beside us, then fails fast
        open_migrated_store(settings, wait=settings.startup_wait).close()
        code = supervise(
            serve_process,
            (settings,),
            processes=settings.processes,
            host=settings.host,
            port=settings.port,
            stop_timeout=stop_timeout(settings),
        )
        if code:
            raise SystemExit(code)
        return
    app = build_server_app(settings, tokens)
    # uvicorn re-raises SIGTERM after its graceful shutdown, restoring the handler found at start:
    # a no-op one makes a clean shutdown exit 0, as supervisors expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    _Server(server_config(app, settings), app.state.hub).run()


def serve_process(slot: int, sock: socket.socket, ready: Connection, settings: Settings) -> None:
    """One API process of ``serve --processes N`` (a spawned interpreter, see ``taskapi.serving``):
    slot 0 runs the embedded worker and the maintenance duties, the others the API only."""
    logging.basicConfig(level=settings.log_level.upper(), format=f"[%(process)d] {LOG_FORMAT}")
    signal.signal(signal.SIGTERM, lambda *_: None)  # a clean shutdown exits 0 (see ``serve``)
    app = build_server_app(settings, access_tokens(settings), maintenance=slot == 0)
    server = _SupervisedServer(server_config(app, settings), app.state.hub, lambda: ready.send(os.getpid()))
    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = threading.Thread(
            target=_stop_when_gone, args=(parent, server), name="taskapi-supervisor-watch", daemon=True
        )
        watch.start()
    server.run(sockets=[sock])


def _stop_when_gone(parent: multiprocessing.process.BaseProcess, server: uvicorn.Server) -> None:
    """The supervisor gone (killed): shut down gracefully rather than serve on unsupervised."""
    parent.join()
    log.warning("the supervising process is gone: shutting down")
    server.handle_exit(signal.SIGTERM, None)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """``taskapi worker``: run a worker until SIGTERM/Ctrl-C (a second one hands tasks back at once).
    A store it cannot reach yet is waited for (``startup_wait``), as when both start together."""
    store = open_migrated_store(settings, wait=settings.startup_wait)
    worker = build_worker(settings, store)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        asked = 0

        def on_signal() -> None:
            nonlocal asked
            asked += 1
            worker.request_stop(force=asked > 1)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
        await worker.run(burst=burst)

    try:
        asyncio.run(main())
    finally:
        store.close()
