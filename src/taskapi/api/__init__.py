"""The HTTP API: ``create_app`` builds the FastAPI application around a ``TaskService``."""

from __future__ import annotations

from fastapi import FastAPI

from taskapi.api.errors import install_error_handlers
from taskapi.api.limits import BodySizeLimit
from taskapi.api.routes_tasks import router as tasks_router
from taskapi.service import TaskService

__all__ = ["create_app"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def create_app(service: TaskService, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The API over ``service``; the caller owns the service's lifetime (see ``taskapi.app``)."""
    app = FastAPI(
        title="taskapi",
        version="0.1.0",
        summary="Background tasks of the literature-research pipeline: list, inspect, create, cancel.",
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(tasks_router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    return app
