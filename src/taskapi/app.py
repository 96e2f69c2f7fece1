"""The composition root: wires settings, store, service, API and the embedded worker together.

Only this module (and the CLI above it) knows every part; the parts know only the layers below them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from taskapi.api import create_app
from taskapi.service import TaskService
from taskapi.settings import Settings
from taskapi.store import Store, open_store

log = logging.getLogger("taskapi")


def open_migrated_store(settings: Settings) -> Store:
    """The configured store with every migration applied (the service never runs on an old schema)."""
    store = open_store(settings.database_url)
    applied = store.migrate()
    if applied:
        log.info("applied migrations %s to %s", ", ".join(applied), settings.database_url)
    return store


def build_server_app(settings: Settings) -> FastAPI:
    """The API app for ``taskapi serve``: opens the store at start-up, closes it at shutdown."""
    store = open_migrated_store(settings)
    service = TaskService(store)
    app = create_app(service, max_body_bytes=settings.max_body_bytes)
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner_lifespan(app):
            try:
                yield
            finally:
                store.close()

    app.router.lifespan_context = lifespan
    return app


def serve(settings: Settings) -> None:
    """Run the API (and, with the workers issue, an embedded worker) until SIGTERM or Ctrl-C."""
    app = build_server_app(settings)
    log.info("taskapi serving on http://%s:%d with store %s", settings.host, settings.port, settings.database_url)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)
