"""The ``taskapi`` command: serve the API, run a worker, migrate the store (``serve``), and manage
tasks (``tasks``), papers (``papers``) and pipeline runs (``pipeline``), on a database or, with
``--server URL`` (``TASKAPI_SERVER``) and ``--token`` (``TASKAPI_TOKEN``), on a Task API server, with
the same commands, output and exit codes (``exits``). Each command is written once against a
``Backend`` (``backend``: the services on the store; ``remote``: ``TaskClient``); ``rendering`` and
``watch`` are what they print, ``stream`` the live stream of a server.
"""

from __future__ import annotations

import typer

from taskapi.cli import serve as service_commands
from taskapi.cli import tasks
from taskapi.cli.exits import EXIT_CODES_HELP
from taskapi.cli.papers import papers_app
from taskapi.cli.pipeline import pipeline_app

app = typer.Typer(
    help="taskapi: background tasks of the literature-research pipeline.\n\n"
    "The task, papers and pipeline commands open the database (--db), or talk to a Task API server "
    "with --server URL and --token (env TASKAPI_SERVER, TASKAPI_TOKEN).\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.command()(service_commands.serve)
app.command()(service_commands.worker)
app.command()(service_commands.migrate)
app.command()(tasks.submit)
app.command("list")(tasks.list_tasks)
app.command()(tasks.show)
app.command()(tasks.cancel)
app.command()(tasks.events)
app.command()(tasks.watch)
app.add_typer(papers_app, name="papers")
app.add_typer(pipeline_app, name="pipeline")


def main() -> None:
    """The console script ``taskapi``; ``python -m taskapi`` names itself the same in its help."""
    app(prog_name="taskapi")


__all__ = ["app", "main"]
