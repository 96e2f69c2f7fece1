"""A real ``taskapi serve``: access control end to end, refused start-ups, metrics after tasks ran, and
readiness following the store (a private PostgreSQL stopped and started under the server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_until
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.server import TASKS, envelope, free_port, running_server, stop_server
from tests.helpers.server import ServerProcess as _ServerProcess

pytestmark = pytest.mark.slow

READ = "read-token-for-the-e2e-tests-0001"
OPERATE = "operate-token-for-the-e2e-tests-01"
CREATE = {"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": ["graph neural network"]}}


def serve_once(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``taskapi serve`` that is expected to refuse to start: it must exit by itself."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
    command = [sys.executable, "-m", "taskapi", "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, env={**clean, **(env or {})}
    )


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    done = serve_once(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))  # noqa: S104
    assert done.returncode == 2, done
    assert "error: host: 0.0.0.0 is not a loopback address and no API tokens are configured" in done.stderr
    assert "TASKAPI_ALLOW_UNAUTHENTICATED" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_refuses_malformed_tokens_without_showing_them(tmp_path: Path) -> None:
    done = serve_once(tmp_path, env={"TASKAPI_API_TOKENS": f"read:{READ},admin:{OPERATE}"})
    assert done.returncode == 2, done
    assert "error: TASKAPI_API_TOKENS: entry 2 has role 'admin'; roles are read and operate" in done.stderr
    assert READ not in done.stderr + done.stdout and OPERATE not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_refuses_an_unreadable_tokens_file(tmp_path: Path) -> None:
    done = serve_once(tmp_path, env={"TASKAPI_API_TOKENS_FILE": str(tmp_path / "missing")})
    assert done.returncode == 2, done
    assert "TASKAPI_API_TOKENS_FILE" in done.stderr and "cannot be read" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_public_address_without_tokens_starts_when_allowed_and_warns(tmp_path: Path) -> None:
    env = {"TASKAPI_ALLOW_UNAUTHENTICATED": "true", "TASKAPI_HOST": "0.0.0.0"}  # noqa: S104
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        envelope(httpx.get(f"{server.base_url}/healthz"), 200)
        assert "access control is off and 0.0.0.0 is not a loopback address" in server.log()


def test_loopback_without_tokens_says_access_control_is_off(tmp_path: Path) -> None:
    with running_server(tmp_path / "x.db", tmp_path / "server.log") as server:
        envelope(httpx.post(f"{server.base_url}{TASKS}", json=CREATE), 201)
        assert "access control is off (no API tokens): listening on the loopback address" in server.log()


def test_a_server_with_a_tokens_file_enforces_roles_and_never_logs_a_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"read:{READ}\noperate:{OPERATE}\n")
    env = {"TASKAPI_API_TOKENS_FILE": str(tokens)}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env, token=READ) as server:
        base = server.base_url
        envelope(httpx.get(f"{base}/healthz"), 200)
        assert httpx.get(f"{base}/").status_code == 200  # the dashboard page
        envelope(httpx.get(f"{base}{TASKS}"), 401)
        envelope(httpx.post(f"{base}{TASKS}", json=CREATE, headers=_bearer(READ)), 403)
        created = envelope(httpx.post(f"{base}{TASKS}", json=CREATE, headers=_bearer(OPERATE)), 201)
        task_id = created["data"]["id"]
        envelope(httpx.get(f"{base}{TASKS}/{task_id}", params={"access_token": READ}), 200)
        envelope(httpx.get(f"{base}/metrics", headers=_bearer("wrong")), 401)
        assert "access control is on: 2 token(s) configured" in server.log()
    log = server.log()
    assert READ not in log and OPERATE not in log


def test_metrics_count_the_runs_of_the_embedded_worker(tmp_path: Path) -> None:
    with running_server(tmp_path / "x.db", tmp_path / "server.log") as server:
        ids = [
            envelope(httpx.post(f"{server.base_url}{TASKS}", json=CREATE), 201)["data"]["id"]
            for _ in range(3)
        ]
        wait_until(lambda: _statuses(server, ids) == {"completed"}, timeout=30, what="the tasks completed")
        response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    got = _samples(response.text)
    runs = got[("taskapi_run_seconds_count", (("outcome", "completed"), ("task_type", "keyword_expand")))]
    pickups = got[("taskapi_pickup_seconds_count", (("task_type", "keyword_expand"),))]
    assert (runs, pickups) == (3, 3)


def test_metrics_read_the_queue_from_the_store(tmp_path: Path) -> None:
    env = {"TASKAPI_RUN_WORKER": "false"}
    with running_server(tmp_path / "x.db", tmp_path / "server.log", env=env) as server:
        for task_type in ("ocr", "ocr", "search"):
            envelope(
                httpx.post(f"{server.base_url}{TASKS}", json={"project_id": 1, "task_type": task_type}), 201
            )
        envelope(httpx.post(f"{server.base_url}{TASKS}/3/cancel"), 200)
        got = _samples(httpx.get(f"{server.base_url}/metrics").text)
    assert got[("taskapi_store_up", ())] == 1
    assert got[("taskapi_tasks", (("status", "pending"), ("task_type", "ocr")))] == 2
    assert got[("taskapi_tasks", (("status", "pending"), ("task_type", "search")))] == 0
    assert got[("taskapi_tasks", (("status", "running"), ("task_type", "ocr")))] == 0
    assert got[("taskapi_queue_depth", ())] == 2
    assert 0 <= got[("taskapi_oldest_pending_age_seconds", ())] < 60
    assert got[("taskapi_task_events_total", (("kind", "rescued"),))] == 0


@pytest.mark.postgres
def test_readyz_follows_the_store_while_healthz_stays_200(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKAPI_")}
    command = [sys.executable, "-m", "taskapi", "serve", "--db", private_postgres.url, "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=clean)
    server = _ServerProcess(process, f"http://127.0.0.1:{port}", tmp_path / "unused.db", log_path)
    try:
        wait_until(lambda: _status(server, "/readyz") == 200, timeout=30, what="ready")
        private_postgres.ctl("-m", "fast", "stop")
        wait_until(lambda: _status(server, "/readyz") == 503, timeout=30, what="503 once PostgreSQL is down")
        down = envelope(httpx.get(f"{server.base_url}/readyz", timeout=10), 503)
        assert down["message"] == "Not ready: the task store does not answer"
        envelope(httpx.get(f"{server.base_url}/healthz", timeout=10), 200)
        private_postgres.start()
        wait_until(lambda: _status(server, "/readyz") == 200, timeout=30, what="ready again")
    finally:
        assert stop_server(server) == 0, server.log()
    assert "ERROR taskapi.api" not in server.log()  # readiness failing is not an error of the API


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _status(server: _ServerProcess, path: str) -> int:
    try:
        return httpx.get(f"{server.base_url}{path}", timeout=10).status_code
    except httpx.TransportError:
        return 0


def _statuses(server: _ServerProcess, ids: list[int]) -> set[str]:
    return {httpx.get(f"{server.base_url}{TASKS}/{i}").json()["data"]["status"] for i in ids}
