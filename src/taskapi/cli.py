"""The ``taskapi`` command: serve the API, migrate the store, and manage tasks from a terminal."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from taskapi.settings import Settings

app = typer.Typer(help="taskapi: background tasks of the literature-research pipeline.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (sqlite:///PATH or postgresql://...); env TASKAPI_DATABASE_URL."),
]


def _settings(db: str | None, **overrides: object) -> Settings:
    values = {key: value for key, value in overrides.items() if value is not None}
    if db is not None:
        values["database_url"] = db
    return Settings(**values)  # type: ignore[arg-type]


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Migrate the store and serve the HTTP API."""
    from taskapi.app import serve as run

    settings = _settings(db, host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(settings)


@app.command()
def migrate(db: DbOption = None) -> None:
    """Apply pending migrations to the store and exit."""
    from taskapi.app import open_migrated_store

    store = open_migrated_store(_settings(db))
    store.close()
    typer.echo("migrations applied")


def main() -> None:
    app()
