"""Operations routes: liveness (``/healthz``), readiness (``/readyz``) and Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from taskapi.api.deps import ServiceDep
from taskapi.api.errors import error_response
from taskapi.api.schemas import ApiResponse, ErrorResponse
from taskapi.metrics import process_registry

log = logging.getLogger("taskapi.api")

READY_TIMEOUT = 5.0
"""Seconds a readiness probe waits for the store's answer (a hung connection is not ready either)."""

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Liveness: 200 while the process runs",
    response_model=ApiResponse[dict[str, str]],
    openapi_extra={"security": []},  # public, even with access tokens configured
)
async def healthz() -> ApiResponse[dict[str, str]]:
    """Answers without touching the store: a store outage must not get a healthy process restarted."""
    return ApiResponse(code=200, message="alive", data={"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: 200 when the task store answers, else 503",
    response_model=ApiResponse[dict[str, str]],
    responses={503: {"model": ErrorResponse, "description": "The task store does not answer"}},
)
async def readyz(service: ServiceDep) -> Any:
    try:
        await asyncio.wait_for(asyncio.to_thread(service.ping), READY_TIMEOUT)
    except Exception as exc:  # any failure to answer means not ready; never a 500
        log.warning("readyz: the store did not answer: %s", exc or type(exc).__name__)
        return error_response(503, "Not ready: the task store does not answer", headers={"Retry-After": "1"})
    return ApiResponse(code=200, message="ready", data={"store": service.dialect})


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    """This process's metrics (its workers' histograms and counters, process figures), or under
    ``serve --processes N`` their sum over every process, followed by those read from the store for
    this scrape. Runs on a thread: the store reads block."""
    body = generate_latest(process_registry())
    store_registry: CollectorRegistry | None = getattr(request.app.state, "store_metrics", None)
    if store_registry is not None:
        body += generate_latest(store_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
