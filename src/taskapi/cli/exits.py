"""Failures and exit codes, shared by every command: one line on stderr and a documented code, so that
scripts branch on the code without parsing tracebacks.

0 ok; 1 not found, not cancellable, not confirmed (and ``watch``: a task failed or was cancelled);
2 bad usage or input; 3 store unavailable (a server answering 503 included); 4 the server refused the
token (401) or its role (403); 5 no connection to the server (refused, timed out, unknown host, TLS);
6 the answer is not the Task API's (a proxy's HTML page, another service); 130 Ctrl-C; 141 the reader
of the output went away.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError

from taskapi.domain import InvalidInput, StoreUnavailable, TaskNotCancellable, TaskNotFound
from taskapi.papers.errors import PaperNotFound
from taskapi.papers.formats import ImportFormatError
from taskapi.settings import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_REFUSED = 4
EXIT_NO_CONNECTION = 5
EXIT_PROTOCOL = 6
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 not found or not cancellable; 2 bad usage or input; 3 store unavailable; "
    "with --server also 4 token refused (401/403), 5 server unreachable (connection, TLS), "
    "6 an answer that is not the Task API's; 130 Ctrl-C."
)


class CommandFailed(Exception):
    """A failure already worded for a person, with its exit code (the remote backend's errors)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr and the exit code (a message's line breaks become spaces: one line)."""
    typer.echo(f"error: {' '.join(message.splitlines())}", err=True)
    raise typer.Exit(code)


@contextmanager
def exit_codes() -> Iterator[None]:
    """Turn the services' errors into the documented exit codes (bugs still surface as tracebacks):
    1 no such task, run or paper, or not cancellable; 2 bad input (a file that cannot be imported)."""
    try:
        yield
    except (TaskNotFound, TaskNotCancellable, PaperNotFound) as exc:
        fail(str(exc), EXIT_FAILED)
    except (InvalidInput, ImportFormatError) as exc:
        fail(str(exc), EXIT_USAGE)
    except StoreUnavailable as exc:
        fail(f"task store unavailable: {exc}", EXIT_UNAVAILABLE)
    except CommandFailed as exc:
        fail(str(exc), exc.code)


@contextmanager
def until_the_reader_leaves() -> Iterator[None]:
    """A live view whose reader went away (``watch --json | head -1``) ends quietly with 141, as if
    killed by SIGPIPE. (Ctrl-C needs nothing here: Typer exits 130 on KeyboardInterrupt, and the
    ``with`` blocks on the way out close the bars and the store.)"""
    try:
        yield
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE) from None


def redact(url: str) -> str:
    """The URL without its password: messages and logs must not leak credentials."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def opening(url: str) -> Iterator[None]:
    """Errors of opening a store: a bad URL is the caller's mistake (2), an unreachable store is not (3)."""
    try:
        yield
    except ValueError as exc:
        fail(str(exc).replace(url, redact(url)), EXIT_USAGE)
    except ImportError as exc:
        fail(f"no store driver for {redact(url)!r} in this installation ({exc})", EXIT_USAGE)
    except OSError as exc:
        fail(f"task store unavailable: cannot open {redact(url)!r}: {exc}", EXIT_UNAVAILABLE)


def settings_of(db: str | None, **overrides: object) -> Settings:
    """Flags over the environment; a bad value from either is a usage error, not a traceback."""
    values = {key: value for key, value in overrides.items() if value is not None}
    if db is not None:
        values["database_url"] = db
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}", EXIT_USAGE)
