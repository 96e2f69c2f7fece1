"""``taskapi.client`` is for callers of the service, not its host: importing it loads no web framework,
no database driver and none of the server's own modules (checked in a fresh interpreter, where
nothing else imported them first). The import-linter contract sees only direct imports; this sees
what a package's ``__init__`` pulls in too."""

from __future__ import annotations

import subprocess
import sys

SERVER_SIDE = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic_settings",
    "psycopg",
    "psycopg_pool",
    "sqlite3",
    "taskapi.api",
    "taskapi.app",
    "taskapi.service",
    "taskapi.store",
    "taskapi.worker",
    "taskapi.runs",
    "taskapi.papers.repository",
    "taskapi.papers.service",
)


def test_importing_the_client_loads_no_server_side_module() -> None:
    probe = (
        "import sys, taskapi.client\n"
        f"side = {SERVER_SIDE!r}\n"
        "print(sorted(m for m in sys.modules if any(m == s or m.startswith(s + '.') for s in side)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"


def test_the_package_still_offers_its_public_names() -> None:
    probe = (
        "from taskapi import TaskService, handler, TaskContext, TaskCancelled, TaskType\n"
        "from taskapi.papers import PapersRepository, Paper, PAPERS_COMPONENT\n"
        "import taskapi\n"
        "print(sorted(taskapi.__all__) == sorted(n for n in taskapi.__all__ if hasattr(taskapi, n)))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert answer == "True"
