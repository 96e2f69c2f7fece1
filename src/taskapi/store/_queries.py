"""Loads a dialect's named SQL (``sql/<dialect>/queries.sql``) and its numbered migrations.

The only module that reads SQL files; the stores ask it for queries by name, so no SQL string lives
in Python code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from taskapi.domain import TaskQuery

_NAME_LINE = re.compile(r"^-- name: ([\w.]+)\s*$", re.MULTILINE)
LIST_FILTERS = ("project_id", "status", "task_type", "created_after", "created_before", "after")
_MIGRATION_FILE = re.compile(r"^(\d{4})_[\w]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str


def _sql_dir(dialect: str) -> resources.abc.Traversable:
    return resources.files("taskapi.store").joinpath("sql", dialect)


@cache
def load_queries(dialect: str) -> dict[str, str]:
    """Every named query of ``dialect``; a duplicate name is a packaging bug and raises."""
    text = _sql_dir(dialect).joinpath("queries.sql").read_text(encoding="utf-8")
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {dialect}/queries.sql")
        queries[name] = _strip_comments(body)
    return queries


def _strip_comments(body: str) -> str:
    lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip()


@cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """The dialect's migrations in version order (files named ``NNNN_description.sql``)."""
    folder = _sql_dir(dialect).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(match.group(1), entry.name, entry.read_text(encoding="utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))


def load_schema(dialect: str) -> str:
    """The canonical schema that all migrations together must produce (tested)."""
    return _sql_dir(dialect).joinpath("schema.sql").read_text(encoding="utf-8")


def compose_task_list(
    queries: Mapping[str, str], query: TaskQuery, store_time: Callable[[datetime], Any]
) -> tuple[str, dict[str, Any]]:
    """``task_list`` with the ``task_list.*`` fragments of the filters present, and its parameters.

    Only present filters enter the SQL, so each combination gets a plan that uses its own index
    (``:x IS NULL OR col = :x`` would hide the filter from the planner).
    """

    def as_stored(moment: datetime | None) -> Any:
        return None if moment is None else store_time(moment)

    params: dict[str, Any] = {
        "limit": query.limit,
        "project_id": query.project_id,
        "status": None if query.status is None else str(query.status),
        "task_type": None if query.task_type is None else str(query.task_type),
        "created_after": as_stored(query.created_after),
        "created_before": as_stored(query.created_before),
        "after_created_at": None if query.after is None else as_stored(query.after.created_at),
        "after_id": None if query.after is None else query.after.id,
    }
    present = [name for name in LIST_FILTERS if params["after_id" if name == "after" else name] is not None]
    filters = " AND ".join(queries[f"task_list.{name}"] for name in present) or "1 = 1"
    return queries["task_list"].replace("{filters}", filters), params
