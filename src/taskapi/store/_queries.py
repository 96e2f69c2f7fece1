"""Loads a dialect's named SQL (``sql/<dialect>/queries.sql``) and its numbered migrations.

The only module that reads SQL files; the stores ask it for queries by name, so no SQL string lives
in Python code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
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


TASKS = "taskapi.store"
"""The package of the task store's own SQL; a component (the papers library) keeps its SQL the same way
in its own package: ``<package>/sql/<dialect>/queries.sql`` and ``.../migrations/NNNN_name.sql``."""


def _sql_dir(dialect: str, package: str = TASKS) -> resources.abc.Traversable:
    return resources.files(package).joinpath("sql", dialect)


@cache
def load_queries(dialect: str, package: str = TASKS) -> dict[str, str]:
    """Every named query of ``dialect`` in ``package``; a duplicate name is a packaging bug and raises."""
    text = _sql_dir(dialect, package).joinpath("queries.sql").read_text(encoding="utf-8")
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
def load_migrations(dialect: str, package: str = TASKS) -> tuple[Migration, ...]:
    """The dialect's migrations in version order (files named ``NNNN_description.sql``)."""
    folder = _sql_dir(dialect, package).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(match.group(1), entry.name, entry.read_text(encoding="utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))


def load_schema(dialect: str, package: str = TASKS) -> str:
    """The canonical schema that all migrations together must produce (tested)."""
    return _sql_dir(dialect, package).joinpath("schema.sql").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Component:
    """Tables of their own beside the task store's (the papers library), migrated with it, after it.

    Its migrations are recorded in the same ``schema_migrations`` table as ``<name>/<version>``.
    """

    name: str
    package: str

    def migrations(self, dialect: str) -> tuple[Migration, ...]:
        return tuple(
            Migration(f"{self.name}/{m.version}", m.name, m.sql)
            for m in load_migrations(dialect, self.package)
        )


def pending_migrations(dialect: str, components: Sequence[Component], done: set[str]) -> list[Migration]:
    """The task store's migrations, then each component's, in order, without those already ``done``."""
    everything = [*load_migrations(dialect), *(m for c in components for m in c.migrations(dialect))]
    return [migration for migration in everything if migration.version not in done]


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
