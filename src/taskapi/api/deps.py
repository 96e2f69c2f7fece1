"""Request dependencies: the service the app was created with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from taskapi.service import TaskService


def get_service(request: Request) -> TaskService:
    service: TaskService = request.app.state.service
    return service


ServiceDep = Annotated[TaskService, Depends(get_service)]
