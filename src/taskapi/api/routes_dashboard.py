"""The dashboard: one static page and its assets, shipped inside the package (no build step, no CDN).

The page holds no data (it reads everything through the public API), so it is served without auth
and kept out of the OpenAPI. ``index.html`` names its assets as ``/dashboard/<name>?v=<version>``,
and the JavaScript modules import each other the same way (``./core.js?v=__DASHBOARD_VERSION__``,
filled in when served), the version being a hash of every asset: an asset asked for with the current
version is cached for a year (a new release changes the URL), anything else is revalidated by its ETag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from taskapi.api.errors import error_response

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_VERSION_MARK = b"__DASHBOARD_VERSION__"
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class Dashboard:
    index: Asset
    assets: dict[str, Asset]
    version: str


def _asset(body: bytes, content_type: str) -> Asset:
    return Asset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@cache
def _dashboard() -> Dashboard:
    """Read the files once: they are part of the installed package and never change while it runs."""
    folder = files("taskapi.api").joinpath("dashboard")
    assets: dict[str, Asset] = {}
    index = b""
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.name == "index.html":
            index = entry.read_bytes()
        elif entry.is_file() and suffix in _CONTENT_TYPES:
            assets[entry.name] = _asset(entry.read_bytes(), _CONTENT_TYPES[suffix])
    digest = hashlib.sha256()
    for name in sorted(assets):
        digest.update(name.encode() + b"\0" + assets[name].body)
    version = digest.hexdigest()[:12]
    page = _asset(_versioned(index, version), _CONTENT_TYPES[".html"])
    for name, asset in assets.items():
        if name.endswith(".js") and _VERSION_MARK in asset.body:
            assets[name] = _asset(_versioned(asset.body, version), asset.content_type)
    return Dashboard(page, assets, version)


def _versioned(body: bytes, version: str) -> bytes:
    return body.replace(_VERSION_MARK, version.encode())


def _send(request: Request, asset: Asset, cache_control: str) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"])
def dashboard_page(request: Request) -> Response:
    """The page itself: every view (table, detail) is this one page, picked by its query string."""
    return _send(request, _dashboard().index, _REVALIDATE)


@router.api_route("/dashboard/{asset}", methods=["GET", "HEAD"])
def dashboard_asset(request: Request, asset: str) -> Response:
    dashboard = _dashboard()
    found = dashboard.assets.get(asset)
    if found is None:
        return error_response(404, f"Not found: no dashboard asset named {asset!r}")
    current = request.query_params.get("v") == dashboard.version
    return _send(request, found, _IMMUTABLE if current else _REVALIDATE)
