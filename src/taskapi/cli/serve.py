"""The commands that run the service itself, on this machine only: ``serve`` (the API, and a worker
unless ``--no-worker``), ``worker`` and ``migrate``. They open the database (``--db``); ``--server``
is not theirs."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Annotated

import typer

from taskapi.cli.exits import EXIT_USAGE, exit_codes, fail, opening, redact, settings_of
from taskapi.cli.options import DbOption
from taskapi.domain import StoreUnavailable
from taskapi.settings import Settings
from taskapi.store import open_store


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def check_store_url(url: str) -> None:
    """Open and close the store once, so a long-running command fails fast (and cleanly) on a bad URL.
    A store that does not answer yet is not a bad URL: the command waits for it (``startup_wait``)."""
    with opening(url), suppress(StoreUnavailable):
        open_store(url).close()


HandlersOption = Annotated[
    list[str] | None,
    typer.Option(
        "--handlers",
        help="Handler module (repeatable; comma-separated also works), overriding the built-in ones; "
        "env TASKAPI_HANDLERS.",
    ),
]
ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, help="Tasks run at once; env TASKAPI_CONCURRENCY.")
]
GraceOption = Annotated[
    float | None,
    typer.Option(min=0, help="Seconds a cancelled sync handler may take before its process is killed (5)."),
]
ShutdownOption = Annotated[
    float | None,
    typer.Option(min=0, help="Seconds running tasks may take to finish on SIGTERM before hand-back (30)."),
]


def _worker_settings(db: str | None, handlers: list[str] | None, **overrides: object) -> Settings:
    """Settings for a command that runs a worker; handler modules that do not import are usage errors."""
    from taskapi.worker import load_handlers

    modules = None if handlers is None else [m.strip() for h in handlers for m in h.split(",") if m.strip()]
    settings = settings_of(db, handlers=modules, **overrides)
    check_store_url(settings.database_url)
    try:
        loaded = load_handlers(settings.handlers, builtin=settings.builtin_handlers)
    except ImportError as exc:
        fail(f"--handlers: cannot import handler modules: {exc}", EXIT_USAGE)
    if not loaded:
        fail("no handlers: TASKAPI_BUILTIN_HANDLERS is false and no --handlers module was given", EXIT_USAGE)
    return settings


def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000).")] = None,
    processes: Annotated[
        str | None,
        typer.Option(
            help="API processes sharing the port: a number, or auto for one per core (default 1; the"
            " embedded worker runs in one of them); env TASKAPI_PROCESSES.",
            show_default=False,
        ),
    ] = None,
    handlers: HandlersOption = None,
    concurrency: ConcurrencyOption = None,
    cancel_grace: GraceOption = None,
    shutdown_timeout: ShutdownOption = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only (other processes run the tasks).")
    ] = False,
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated",
            help="Serve a non-loopback --host without API tokens (logged as a warning); "
            "env TASKAPI_ALLOW_UNAUTHENTICATED.",
        ),
    ] = False,
) -> None:
    """Migrate the store and serve the HTTP API, with an embedded worker unless --no-worker."""
    from taskapi.app import serve as run

    settings = _worker_settings(
        db,
        handlers,
        host=host,
        port=port,
        processes=processes,
        concurrency=concurrency,
        cancel_grace=cancel_grace,
        shutdown_timeout=shutdown_timeout,
        run_worker=False if no_worker else None,
        allow_unauthenticated=True if allow_unauthenticated else None,
    )
    configure_logging(settings)
    with exit_codes():
        run(settings)


def worker(
    db: DbOption = None,
    handlers: HandlersOption = None,
    concurrency: ConcurrencyOption = None,
    cancel_grace: GraceOption = None,
    shutdown_timeout: ShutdownOption = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once no task is left to run.")] = False,
) -> None:
    """Run a worker without the HTTP API until SIGTERM or Ctrl-C (twice: hand tasks back at once)."""
    from taskapi.app import run_worker

    settings = _worker_settings(
        db, handlers, concurrency=concurrency, cancel_grace=cancel_grace, shutdown_timeout=shutdown_timeout
    )
    configure_logging(settings)
    with exit_codes():
        run_worker(settings, burst=burst)


def migrate(db: DbOption = None) -> None:
    """Apply the pending migrations to the store and say which (the service also does at start)."""
    from taskapi.wiring import PIPELINE_COMPONENTS

    url = settings_of(db).database_url
    with exit_codes():
        with opening(url):
            store = open_store(url)
        try:
            applied = store.migrate(PIPELINE_COMPONENTS)
        finally:
            store.close()
    if applied:
        typer.echo(f"Applied migrations {', '.join(applied)} to {redact(url)}")
    else:
        typer.echo(f"Store {redact(url)} is up to date: no migration to apply")
