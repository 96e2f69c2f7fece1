"""The ``taskapi`` CLI in-process (Typer's ``CliRunner``) over a fresh SQLite file per test.

What scripts rely on is checked to the letter: exit codes (0 ok, 1 not found / not cancellable,
2 bad usage, 3 store unavailable), a one-line message on stderr, and ``--json`` output that is
nothing but the API's own ``data`` (compared with what the HTTP API answers over the same file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_group
from typer.testing import CliRunner, Result

from taskapi.cli import app
from tests.helpers.server import TASKS, InProcessApi, complete, envelope, fail, in_process_api, insert_rows

RUNNER = CliRunner()


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """The CLI with ``args``; unexpected exceptions propagate so a bug never hides behind exit code 1."""
    return RUNNER.invoke(app, list(args), env=env, catch_exceptions=False)


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(*args: str) -> Any:
    """Run with ``--json``: stdout must be one JSON document and nothing else."""
    return json.loads(ok(*args, "--json").stdout)


def failed(code: int, *args: str) -> str:
    """Run expecting exit ``code``: stdout stays empty, stderr is one line; answer that line."""
    result = run(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


@pytest.fixture
def db(database_url: str) -> str:
    return database_url


@pytest.fixture
def api(sqlite_path: Path) -> Iterator[InProcessApi]:
    """The HTTP API over the same file as the CLI, to compare shapes and to put tasks in any state."""
    with in_process_api(sqlite_path) as opened:
        yield opened


def cursor_of(result: Result) -> str | None:
    """The token of the ``next page: --cursor TOKEN`` line on stderr, if any."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("next page: --cursor ")]
    return lines[0].split()[-1] if lines else None


# -- the everyday path ------------------------------------------------------------------------------


def test_submit_list_show_cancel_then_the_failures_scripts_branch_on(db: str) -> None:
    created = ok("submit", "search", "--project", "7", "--params", '{"query": "graphene"}', "--db", db)
    assert "Task 1 created" in created.stdout and "graphene" in created.stdout
    listed = ok("list", "--db", db).stdout
    assert "search" in listed and "pending" in listed and "0/0" in listed
    assert '"query": "graphene"' in ok("show", "1", "--db", db).stdout
    assert ok("cancel", "1", "--db", db).stdout == "Task 1 cancelled\n"
    assert "already cancelled" in failed(1, "cancel", "1", "--db", db)
    assert failed(1, "show", "99", "--db", db) == "error: Task 99 not found"
    assert failed(1, "cancel", "99", "--db", db) == "error: Task 99 not found"
    assert failed(2, "submit", "search", "-p", "1", "--params", "{bad", "--db", db).startswith(
        "error: --params: not valid JSON"
    )
    assert "task_type" in failed(2, "submit", "bogus", "-p", "1", "--db", db)
    assert [task["id"] for task in as_json("list", "--db", db)] == [1]


def test_human_output_shows_progress_result_and_error_without_reading_markup(
    db: str, api: InProcessApi
) -> None:
    done = api.create(1, "search", query="[bold]not markup[/bold]")
    broken = api.create(1, "crawl")
    complete(api.store, done, {"papers_found": 15}, progress=30, total=100)
    fail(api.store, broken, "source timed out")
    table = ok("list", "--db", db).stdout
    assert "30/100  30%" in table and "3/10  30%" in table and "completed" in table and "failed" in table
    detail = ok("show", str(done), "--db", db).stdout
    assert "[bold]not markup[/bold]" in detail and '"papers_found": 15' in detail
    assert "source timed out" in ok("show", str(broken), "--db", db).stdout


# -- --json is the API's data -----------------------------------------------------------------------


def test_json_of_every_command_equals_what_the_api_answers(db: str, api: InProcessApi) -> None:
    submitted = as_json("submit", "dedup", "-p", "3", "--params", '{"records": []}', "--db", db)
    assert submitted == api.detail(submitted["id"])
    complete(api.store, submitted["id"], {"unique": 0})
    assert as_json("show", str(submitted["id"]), "--db", db) == api.detail(submitted["id"])
    by_api, by_cli = api.create(4, "ocr"), api.create(4, "index")
    api_list = envelope(api.get(TASKS, params={"project_id": 4, "limit": 5}), 200)["data"]
    assert as_json("list", "-p", "4", "--limit", "5", "--db", db) == api_list
    answered = envelope(api.post(f"{TASKS}/{by_api}/cancel"), 200)
    assert as_json("cancel", str(by_cli), "--db", db) == answered


def test_json_errors_leave_stdout_empty(db: str) -> None:
    assert failed(1, "show", "5", "--json", "--db", db) == "error: Task 5 not found"
    assert "status" in failed(2, "list", "--status", "done", "--json", "--db", db)


# -- list: filters and paging -----------------------------------------------------------------------


def test_list_filters_as_the_api_does(db: str, api: InProcessApi) -> None:
    insert_rows(
        api.db_path,
        [
            (1, "search", "2025-03-12T10:00:00.000000"),
            (2, "ocr", "2025-03-13T10:00:00.000000"),
            (1, "ocr", "2025-03-14T10:00:00.000000"),
        ],
    )
    api.post(f"{TASKS}/3/cancel")

    def ids(*args: str) -> list[int]:
        return [task["id"] for task in as_json("list", *args, "--db", db)]

    assert ids() == [3, 2, 1]
    assert ids("--project", "1") == [3, 1]
    assert ids("--status", "cancelled") == [3]
    assert ids("--type", "ocr", "--status", "pending") == [2]
    assert ids("--created-after", "2025-03-12T12:00:00") == [3, 2]
    assert ids("--created-before", "2025-03-13T12:00:00+00:00") == [2, 1]
    assert ids("--created-after", "2025-03-13T09:00:00+01:00", "--created-before", "2025-03-14") == [2]


def test_cursor_paging_reaches_every_task_once_newest_first(db: str, api: InProcessApi) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    moments = [(start + timedelta(minutes=i // 2)).strftime("%Y-%m-%dT%H:%M:%S.%f") for i in range(11)]
    expected = sorted(insert_rows(api.db_path, [(1, "index", moment) for moment in moments]), reverse=True)
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        result = ok("list", "--limit", "3", "--json", "--db", db, *(["--cursor", cursor] if cursor else []))
        seen += [task["id"] for task in json.loads(result.stdout)]
        cursor = cursor_of(result)
        if cursor is None:
            break
    assert seen == expected  # ties in created_at included: ordered by id, none twice, none missed


# -- bad usage, bad stores --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["submit", "search", "-p", "1", "--params", "[1, 2]"], "--params: must be a JSON object, got array"),
        (["submit", "search", "-p", "1", "--params", "0"], "--params: must be a JSON object, got number"),
        (["submit", "search", "-p", "1", "--params", "null"], "--params: must be a JSON object, got null"),
        (["submit", "search", "-p", "1", "--params", '{"x": NaN}'], "params: must be JSON-serialisable"),
        (["submit", "search", "-p", "0"], "project_id: must be an integer between 1"),
        (["list", "--status", "done"], "status: must be one of pending"),
        (["list", "--type", "fetch"], "task_type: must be one of search"),
        (["list", "--limit", "0"], "limit: must be an integer between 1 and 1000"),
        (["list", "--limit", "1001"], "limit: must be an integer between 1 and 1000"),
        (["list", "--created-after", "yesterday"], "--created-after: not an ISO 8601 time"),
        (["list", "--cursor", "bm90IGEgY3Vyc29y"], "--cursor: not a cursor this command printed"),
        (["show", "0"], "id: must be an integer between 1"),
        (["cancel", str(2**63)], "id: must be an integer between 1"),
        (["worker", "--burst", "--handlers", "no_such_handlers"], "--handlers: cannot import"),
    ],
)
def test_bad_values_exit_2_with_the_reason_and_create_nothing(db: str, args: list[str], names: str) -> None:
    assert names in failed(2, *args, "--db", db)
    assert as_json("list", "--db", db) == []


def test_usage_errors_of_the_parser_exit_2(db: str) -> None:
    assert run("show", "abc", "--db", db).exit_code == 2
    assert run("submit", "search", "--db", db).exit_code == 2  # --project is required
    assert run("serve", "--port", "70000", "--db", db).exit_code == 2


@pytest.mark.parametrize("url", ["mysql://user:secret@db/tasks", "sqlite://relative.db"])
def test_a_bad_database_url_exits_2_and_never_shows_the_password(url: str) -> None:
    for command in (["list"], ["migrate"], ["serve"], ["worker", "--burst"]):
        message = failed(2, *command, "--db", url)
        assert message.startswith("error: unsupported") and "secret" not in message


def test_an_unavailable_store_exits_3(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file, not at all" * 10)
    for url in (f"sqlite:///{tmp_path}", f"sqlite:///{garbage}"):
        for command in (["list"], ["show", "1"], ["migrate"]):
            assert failed(3, *command, "--db", url).startswith("error: task store unavailable")
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert "unavailable" in failed(3, "list", "--db", f"sqlite:///{blocked}/sub/t.db")


# -- migrate, settings, help ------------------------------------------------------------------------


def test_migrate_applies_once_then_says_up_to_date(db: str) -> None:
    assert ok("migrate", "--db", db).stdout.startswith("Applied migrations 0001")
    assert "is up to date" in ok("migrate", "--db", db).stdout


def test_the_database_defaults_to_the_environment(sqlite_path: Path) -> None:
    env: dict[str, str | None] = {"TASKAPI_DATABASE_URL": f"sqlite:///{sqlite_path}"}
    assert run("submit", "ocr", "-p", "2", "--json", env=env).exit_code == 0
    assert sqlite_path.exists()
    listed = RUNNER.invoke(app, ["list", "--json"], env=env, catch_exceptions=False)
    assert [task["task_type"] for task in json.loads(listed.stdout)] == ["ocr"]
    bad = RUNNER.invoke(app, ["list"], env={**env, "TASKAPI_PORT": "x"}, catch_exceptions=False)
    assert bad.exit_code == 2 and "invalid settings: port" in bad.stderr


def test_every_command_and_option_has_help() -> None:
    group = get_group(app)
    assert set(group.commands) >= {"serve", "worker", "migrate", "submit", "list", "show", "cancel", "watch"}
    for name, command in group.commands.items():
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name}"
        assert f" {name} [OPTIONS]" in ok(name, "--help").stdout


def test_worker_takes_repeated_handler_modules_and_the_later_one_wins(db: str) -> None:
    task = as_json(
        "submit", "dedup", "--project", "1", "--params", '{"steps": 1, "step_seconds": 0}', "--db", db
    )
    ok(
        "worker",
        "--db",
        db,
        "--burst",
        "--handlers",
        "taskapi.pipeline.builtin",
        "--handlers",
        "taskapi.pipeline.demo",
        "--concurrency",
        "2",
    )
    shown = as_json("show", str(task["id"]), "--db", db)
    assert shown["status"] == "completed"
    assert shown["result"]["demo"] is True  # the demo module, loaded last, overrode the built-in dedup


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_handler_module_that_does_not_import_is_a_usage_error(db: str, command: str) -> None:
    line = failed(2, command, "--db", db, "--handlers", "no_such_module_here")
    assert "no_such_module_here" in line
