"""The dashboard's files over HTTP (no browser): content types, caching, 404s in the envelope, and no
trace of them in the OpenAPI. Asked of a real ``taskapi serve``."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser.conftest import Dashboard
from tests.helpers.server import envelope

ASSET_URL = re.compile(r'"(/dashboard/([a-z]+\.[a-z]+)\?v=([0-9a-f]+))"')
CONTENT_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


pytestmark = pytest.mark.slow  # a real server process


@pytest.fixture
def api(dashboard: Dashboard) -> httpx.Client:
    return dashboard.client


def test_the_page_is_html_revalidated_by_its_etag(api: httpx.Client) -> None:
    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "<table" in page.text and "__DASHBOARD_VERSION__" not in page.text
    again = api.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert api.head("/").status_code == 200


def test_every_asset_the_page_names_is_served_with_its_type_and_cached_for_its_version(
    api: httpx.Client,
) -> None:
    named = ASSET_URL.findall(api.get("/").text)
    assert sorted(name for _, name, _ in named) == sorted(CONTENT_TYPES)
    assert len({version for _, _, version in named}) == 1
    for url, name, _ in named:
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"] == CONTENT_TYPES[name]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        unversioned = api.get(f"/dashboard/{name}")  # an old or hand-typed URL is revalidated
        assert unversioned.headers["cache-control"] == "no-cache"
        assert unversioned.content == asset.content
        assert api.get(url, headers={"If-None-Match": asset.headers["etag"]}).status_code == 304


@pytest.mark.parametrize(
    "path", ["/dashboard/nothing.js", "/dashboard/index.html", "/dashboard/..%2F__init__.py", "/dashboard/"]
)
def test_an_unknown_asset_is_a_404_in_the_envelope(api: httpx.Client, path: str) -> None:
    body = envelope(api.get(path), 404)
    assert body["data"] is None


def test_the_dashboard_is_not_in_the_openapi(api: httpx.Client) -> None:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/dashboard")]
    assert "/api/v1/tasks" in paths
