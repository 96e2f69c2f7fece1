"""The options every ``taskapi`` command group shares, defined once: where the tasks are (``--db`` a
database, or ``--server``/``--token`` a Task API server) and ``--json``."""

from __future__ import annotations

from typing import Annotated

import typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///PATH or postgresql://...). "
        "Default: env TASKAPI_DATABASE_URL, else sqlite:///./taskapi.db.",
        show_default=False,
    ),
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Talk to this Task API server (http(s)://HOST:PORT) instead of opening a database; "
        "env TASKAPI_SERVER (used unless --db is given).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="API token for --server (sent as a bearer token); env TASKAPI_TOKEN.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON shaped as the API's data instead of a table.")
]
