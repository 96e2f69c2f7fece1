"""The options every ``taskapi`` command group shares (``--db``, ``--json``), defined once."""

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
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON shaped as the API's data instead of a table.")
]
