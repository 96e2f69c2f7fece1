"""Builds the FastAPI application around a ``TaskService``: routes, error envelope, body limit."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from taskapi.api import DEFAULT_MAX_BODY_BYTES
from taskapi.api.errors import install_error_handlers
from taskapi.api.limits import BodySizeLimit
from taskapi.api.routes_tasks import router as tasks_router
from taskapi.service import TaskService

__all__ = ["create_app"]


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
    _document_validation_as_400(app)
    return app


def _document_validation_as_400(app: FastAPI) -> None:
    """Validation errors answer 400 in the envelope: drop FastAPI's default 422 from the OpenAPI."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
