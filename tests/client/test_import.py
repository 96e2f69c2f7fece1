"""``taskapi.client`` is for callers of the service, not its host: importing it loads no web framework
or server (checked in a fresh interpreter, where nothing else imported them first)."""

from __future__ import annotations

import subprocess
import sys

SERVER_SIDE = ("fastapi", "starlette", "uvicorn", "pydantic_settings", "taskapi.api", "taskapi.app")


def test_importing_the_client_loads_no_server_side_module() -> None:
    probe = (
        "import sys, taskapi.client\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVER_SIDE!r} or m in {SERVER_SIDE!r}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"
