"""The composition root: wires settings, store, service, API and workers together.

Only this module (and the CLI above it) knows every part; the parts know only the layers below them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from types import FrameType

import uvicorn
from fastapi import FastAPI

from taskapi.api import create_app
from taskapi.api.auth import AccessTokens, load_tokens
from taskapi.api.hub import ChangeHub, HubOptions
from taskapi.domain import InvalidInput
from taskapi.papers.files import LocalFileStore
from taskapi.papers.repository import PapersRepository
from taskapi.papers.service import PaperService
from taskapi.service import TaskService
from taskapi.settings import Settings
from taskapi.signals import Signals
from taskapi.store import Store
from taskapi.wiring import (
    open_migrated_store,
    params_validators_for,
    pipeline_resources,
    redacted,
)
from taskapi.worker import (
    Pruner,
    Rescuer,
    Worker,
    WorkerOptions,
    every,
    handler_modules,
    load_handlers,
)

log = logging.getLogger("taskapi")
PRUNE_INTERVAL = WorkerOptions().prune_interval  # a server without a worker prunes as often as one


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


def build_worker(settings: Settings, store: Store, signals: Signals | None = None) -> Worker:
    """A worker with the built-in handlers overridden by the configured handler modules."""
    handlers = load_handlers(settings.handlers, builtin=settings.builtin_handlers)
    modules = handler_modules(settings.handlers, builtin=settings.builtin_handlers)
    return Worker(
        store,
        handlers,
        modules=modules,
        options=worker_options(settings),
        signals=signals,
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


def build_server_app(settings: Settings, tokens: AccessTokens | None = None) -> FastAPI:
    """The app of ``taskapi serve``: the API, plus an embedded worker (or at least the rescuer)."""
    store = open_migrated_store(settings)
    service = TaskService(store, validators=params_validators_for(settings))
    app = create_app(
        service,
        max_body_bytes=settings.max_body_bytes,
        tokens=tokens,
        hub_options=HubOptions(
            poll_interval=settings.events_poll_interval, keepalive=settings.events_keepalive
        ),
        listen=settings.listen,
        papers=PaperService(PapersRepository(store), LocalFileStore(settings.data_dir)),
        max_import_bytes=settings.max_import_bytes,
    )
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runs_worker = settings.run_worker and bool(
            load_handlers(settings.handlers, builtin=settings.builtin_handlers)
        )
        if settings.run_worker and not runs_worker:
            log.warning("no handlers (builtin off, no --handlers): serving without a worker")
        embedded = EmbeddedWorker(build_worker(settings, store, service.signals)) if runs_worker else None
        duties: list[asyncio.Task[None]] = []
        if embedded:
            embedded.start()
        else:  # no worker here, but a server still rescues dead workers' tasks and applies retention
            rescuer = Rescuer(store, actor="rescuer server")
            pruner = Pruner(store, settings.retention_days * 86_400)
            duties.append(
                asyncio.create_task(
                    every(settings.rescue_interval, lambda: asyncio.to_thread(rescuer.run_once), "rescue")
                )
            )
            if pruner.retention_seconds > 0:
                duties.append(
                    asyncio.create_task(
                        every(PRUNE_INTERVAL, lambda: asyncio.to_thread(pruner.run_once), "retention")
                    )
                )
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
                store.close()

    app.router.lifespan_context = lifespan
    return app


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before it shuts the app down, and a live stream never ends by
    itself: on the exit signal, end the streams first."""

    def __init__(self, config: uvicorn.Config, hub: ChangeHub) -> None:
        super().__init__(config)
        self.hub = hub

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.hub.close_streams_threadsafe()
        super().handle_exit(sig, frame)


STREAM_SHUTDOWN_TIMEOUT = 5
"""Seconds uvicorn waits at shutdown for responses still being sent (a client that stopped reading
its stream) before it cancels them."""


def serve(settings: Settings) -> None:
    """Run the API and the embedded worker until SIGTERM or Ctrl-C."""
    tokens = access_tokens(settings)
    check_binding(settings, tokens)
    app = build_server_app(settings, tokens)
    log.info(
        "taskapi serving on http://%s:%d with store %s",
        settings.host,
        settings.port,
        redacted(settings.database_url),
    )
    # uvicorn re-raises SIGTERM after its graceful shutdown, restoring the handler found at start:
    # a no-op one makes a clean shutdown exit 0, as supervisors expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=STREAM_SHUTDOWN_TIMEOUT,
    )
    _Server(config, app.state.hub).run()


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """``taskapi worker``: run a worker until SIGTERM/Ctrl-C (a second one hands tasks back at once)."""
    store = open_migrated_store(settings)
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
