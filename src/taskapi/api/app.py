"""Builds the FastAPI application around a ``TaskService``: routes, error envelope, body limit, access
control, the fast path of the hot task routes, the live stream's change hub and the store-derived
metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from taskapi.api import DEFAULT_MAX_BODY_BYTES
from taskapi.api.auth import AccessControl, AccessTokens, is_public
from taskapi.api.errors import install_error_handlers
from taskapi.api.fast import THREADS, HotRoutes
from taskapi.api.hub import ChangeHub, HubCollector, HubOptions, WakeSource
from taskapi.api.limits import BodySizeLimit
from taskapi.api.routes_dashboard import router as dashboard_router
from taskapi.api.routes_ops import router as ops_router
from taskapi.api.routes_papers import DEFAULT_MAX_IMPORT_BYTES, PapersBodyLimit, install_papers
from taskapi.api.routes_pipelines import router as pipelines_router
from taskapi.api.routes_stream import router as stream_router
from taskapi.api.routes_tasks import router as tasks_router
from taskapi.domain import MAX_ID, TaskType
from taskapi.metrics import StoreCollector
from taskapi.papers.service import PaperService
from taskapi.service import TaskService

__all__ = ["create_app"]


def create_app(
    service: TaskService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    tokens: AccessTokens | None = None,
    hub_options: HubOptions | None = None,
    listen: bool = True,
    papers: PaperService | None = None,
    max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES,
    fast_path: bool = True,
) -> FastAPI:
    """The API over ``service``; the caller owns the service's lifetime (see ``taskapi.app``).

    The app's lifespan runs the change hub of the live stream: it wakes on the service's in-process
    signals and, when ``listen`` and the store can, on the store's change notifications.

    With ``papers``, the papers library's routes too; their import takes bodies up to
    ``max_import_bytes``, every other route keeps ``max_body_bytes``.

    ``fast_path`` answers the hot task routes (list, detail, create, cancel) without the framework
    (``taskapi.api.fast``), with the same bytes; off, FastAPI answers them (the reference the fast
    path's tests compare it to)."""
    hub = ChangeHub(service, hub_options, _wake_sources(service, listen=listen))
    sqlite = service.dialect == "sqlite"
    # SQLite has one writer, and the fast path runs its reads on the loop (see taskapi.api.fast): one
    # thread for its writes queues them in this process, where more would wait in SQLite's busy loop.
    threads = (
        ThreadPoolExecutor(1 if sqlite else THREADS, thread_name_prefix="taskapi-api") if fast_path else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            if threads is not None:
                threads.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="taskapi",
        version="0.1.0",
        summary="Background tasks of the literature-research pipeline: list, inspect, create, cancel.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.hub = hub
    app.state.store_metrics = _app_metrics(service, hub)
    install_error_handlers(app)
    app.include_router(dashboard_router)  # public: the page holds no data
    app.include_router(ops_router)
    app.include_router(stream_router)  # before the task routes: /tasks/events is not /tasks/{id}
    app.include_router(tasks_router)
    app.include_router(pipelines_router)
    if threads is not None:  # innermost: behind the access control and the body limit
        app.add_middleware(HotRoutes, service=service, threads=threads, reads_inline=sqlite)
    if papers is None:
        app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    else:
        install_papers(app, papers)
        app.add_middleware(PapersBodyLimit, max_bytes=max_body_bytes, import_bytes=max_import_bytes)
    app.add_middleware(AccessControl, tokens=tokens or AccessTokens())  # outermost: refuse before the body
    _document_the_api(app, secured=bool(tokens))
    return app


def _wake_sources(service: TaskService, *, listen: bool) -> list[WakeSource]:
    """What wakes the change feed: the store's "the log grew" (this process's writes on SQLite, where
    other processes' are polled; every process's on PostgreSQL, by NOTIFY); on PostgreSQL without
    ``listen``, this process's own creates and cancels (others are polled)."""
    if listen or service.dialect == "sqlite":
        return [service.listen_changes]
    return [lambda wake: service.subscribe(lambda _signal: wake(), remote=False)]


def _app_metrics(service: TaskService, hub: ChangeHub) -> CollectorRegistry:
    """A registry of this app's metrics: the live stream's, and those read from the store at scrape
    time (per app, so that several apps in one process, as in tests, do not collide)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    registry.register(StoreCollector(service.queue_stats, [t.value for t in TaskType]))
    return registry


def _document_the_api(app: FastAPI, *, secured: bool) -> None:
    """Validation errors answer 400 in the envelope: drop FastAPI's default 422 from the OpenAPI.
    Integer bounds are given back as integers. With tokens configured, declare the bearer scheme the
    access control enforces, and that the public paths need none."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
                    if secured and is_public(path):
                        operation["security"] = []
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            if secured:
                schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
                schemes["bearer"] = {"type": "http", "scheme": "bearer"}
                schema["security"] = [{"bearer": []}]
            _integer_bounds(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_LARGEST = {float(MAX_ID): MAX_ID}
"""The one bound above 2^53 the API has, as FastAPI's float leaves it (2^63) and as it is."""


def _integer_bounds(node: object) -> None:
    """FastAPI's OpenAPI model keeps a schema's bounds as floats: an integer's ``minimum: 1`` becomes
    ``1.0`` and 2^63-1 becomes ``9.223372036854776e+18`` (2^63, one past the largest id), which a
    client or a fuzzer takes at its word. Put the integers back, in place."""
    if isinstance(node, list):
        for item in node:
            _integer_bounds(item)
    elif isinstance(node, dict):
        if node.get("type") == "integer":
            for key in _BOUNDS:
                bound = node.get(key)
                if isinstance(bound, float) and bound.is_integer():
                    node[key] = _LARGEST.get(bound, int(bound))
        for value in node.values():
            _integer_bounds(value)
