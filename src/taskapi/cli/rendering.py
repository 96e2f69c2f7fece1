"""What the task commands print: Rich tables and panels for people, the API's JSON for scripts
(built from the API's own schemas, so a script sees the same field names and time rendering as over
HTTP), and the parsing of what the API would parse.

The API's schemas are imported where output is written: ``taskapi.api`` imports FastAPI (most of a
second), which ``--help``, ``migrate`` and every error path do not need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from taskapi.cli.exits import EXIT_USAGE, fail
from taskapi.domain import InvalidInput, ListedTask, Task, TaskEvent, TaskStatus, decode_cursor

STATUS_STYLES = {
    TaskStatus.PENDING: "yellow",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "dim",
}
EVENT_STYLES = {
    "created": "yellow",
    "claimed": "cyan",
    "completed": "green",
    "cancelled": "dim",
    "released": "yellow",
    "rescued": "yellow",
}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


# -- parsing what the API would parse ---------------------------------------------------------------


def parse_params(text: str) -> dict[str, Any]:
    """``--params`` must be a JSON object; checked here because the service takes a falsy value as {}."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--params: not valid JSON: {exc}", EXIT_USAGE)
    if not isinstance(value, dict):
        fail(f"--params: must be a JSON object, got {_JSON_TYPES.get(type(value), 'number')}", EXIT_USAGE)
    return value


def parse_time(option: str, text: str | None) -> datetime | None:
    """An ISO 8601 time; without an offset it is UTC, as every time the API shows."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: not an ISO 8601 time (e.g. 2025-03-12T10:00:00), got {text!r}", EXIT_USAGE)


def check_cursor(token: str | None) -> str | None:
    """The cursor a previous ``list`` printed, checked here (on a database and against a server
    alike): the domain's message speaks of HTTP headers, ours not."""
    if token is None:
        return None
    try:
        decode_cursor(token)
    except InvalidInput:
        fail("--cursor: not a cursor this command printed (copy it from the 'next page' line)", EXIT_USAGE)
    return token


# -- output -----------------------------------------------------------------------------------------


def console() -> Console:
    """A console on the current stdout (tests swap it), without guessing colours for numbers."""
    return Console(highlight=False)


def print_json(data: object) -> None:
    """Machine-clean JSON: the only thing a ``--json`` command writes to stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(TaskStatus(status), ""))


def progress_text(progress: int, total: int) -> Text:
    """``30/100 30%``; a total of 0 means the handler has not said, so no percentage."""
    if total <= 0:
        return Text(f"{progress}/{total}")
    return Text(f"{progress}/{total} {progress * 100 // total:>3}%")


def _detail_cell(name: str, value: Any, data: dict[str, Any]) -> Text | JSON:
    """One detail value for people: JSON pretty-printed, absent values dimmed, user text never markup."""
    if name in ("params", "result") and value is not None:
        return JSON.from_data(value, indent=2)
    if name == "status":
        return status_text(value)
    if name == "progress":
        return progress_text(value, data["total"])
    if value is None or value == "":
        return Text("-", style="dim")
    return Text(str(value))


def _detail_panel(data: dict[str, Any], title: str) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in data.items():
        table.add_row(name, _detail_cell(name, value, data))
    return Panel(table, title=title, title_align="left", expand=False)


def print_detail(task: Task, as_json: bool, title: str) -> None:
    from taskapi.api.schemas import TaskDetailSchema

    data = TaskDetailSchema.of(task).model_dump(mode="json")
    if as_json:
        print_json(data)
    else:
        console().print(_detail_panel(data, title))


def _list_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for header in ("ID", "Project", "Type", "Status", "Progress", "Created (UTC)"):
        right = header in ("ID", "Project", "Progress")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["project_id"]),
            row["task_type"],
            status_text(row["status"]),
            progress_text(row["progress"], row["total"]),
            row["created_at"],
        )
    return table


def list_rows(page: Sequence[ListedTask]) -> list[dict[str, Any]]:
    from taskapi.api.schemas import TaskSchema

    return [TaskSchema.of(task).model_dump(mode="json") for task in page]


def list_view(rows: Sequence[dict[str, Any]]) -> Table | Text:
    return _list_table(rows) if rows else Text("No tasks.")


def print_list(page: Sequence[ListedTask], as_json: bool) -> None:
    rows = list_rows(page)
    if as_json:
        print_json(rows)
    else:
        console().print(list_view(rows))


def _events_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for header in ("At (UTC)", "Event", "Attempt", "Actor", "Detail"):
        table.add_column(
            header, justify="right" if header == "Attempt" else "left", no_wrap=header != "Detail"
        )
    for row in rows:
        table.add_row(
            row["at"],
            Text(row["kind"], style=EVENT_STYLES.get(row["kind"], "red")),
            str(row["attempt"]),
            Text(row["actor"]),
            Text(row["detail"]) if row["detail"] else Text("-", style="dim"),
        )
    return table


def print_events(timeline: Sequence[TaskEvent], as_json: bool) -> None:
    from taskapi.api.schemas import TaskEventSchema

    rows = [TaskEventSchema.of(event).model_dump(mode="json") for event in timeline]
    if as_json:
        print_json(rows)
    else:
        console().print(_events_table(rows))
