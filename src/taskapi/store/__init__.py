"""Stores: the database behind the service, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from taskapi.store.base import Store

__all__ = ["Store", "open_store", "sqlite_path_from_url"]


def sqlite_path_from_url(url: str) -> Path | None:
    """The file of a ``sqlite:///relative.db`` / ``sqlite:////abs.db`` URL or a bare path; else ``None``."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite://"):
        raise ValueError(
            f"unsupported SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////abs/path.db"
        )
    if "://" not in url:
        return Path(url)
    return None


def open_store(url: str, *, pool_min_size: int = 1, pool_max_size: int = 10) -> Store:
    """Open (without migrating) the store that ``url`` names: SQLite by default, PostgreSQL by URL."""
    path = sqlite_path_from_url(url)
    if path is not None:
        from taskapi.store.sqlite import SQLiteStore

        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        from taskapi.store.postgres import PostgresStore

        return PostgresStore(url, min_size=pool_min_size, max_size=max(pool_min_size, pool_max_size))
    raise ValueError(f"unsupported database URL {url!r}: expected sqlite:///PATH or postgresql://...")
