"""The HTTP API: ``create_app`` builds the FastAPI application around a ``TaskService``.

FastAPI is imported only when an app is built, so the CLI can use the wire schemas
(``taskapi.api.schemas``) without paying for the web framework at every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    """See ``taskapi.api.app.create_app``."""
    from taskapi.api.app import create_app as build

    return build(*args, **kwargs)
