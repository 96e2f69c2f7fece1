"""Request dependencies: the service the app was created with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from taskapi.service import TaskService


async def get_service(request: Request) -> TaskService:
    """``async`` so that FastAPI resolves it on the loop, not with a thread hop per request."""
    service: TaskService = request.app.state.service
    return service


ServiceDep = Annotated[TaskService, Depends(get_service)]
