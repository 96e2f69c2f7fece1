"""Loads a dialect's named SQL (``sql/<dialect>/queries.sql``) and its numbered migrations.

The only module that reads SQL files; the stores ask it for queries by name, so no SQL string lives
in Python code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME_LINE = re.compile(r"^-- name: ([\w.]+)\s*$", re.MULTILINE)
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
