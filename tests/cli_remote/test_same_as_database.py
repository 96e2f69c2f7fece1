"""Every task, papers and pipeline command against a real server gives what it gives on the database:
the same stdout, stderr and exit code. Two twin databases (SQLite files, or PostgreSQL databases)
get the same script of commands, one through ``--db``, the other through ``--server`` with a token to
a ``taskapi serve`` on it; the outputs are compared after the times (the twins' tasks are created
at different moments) and the cursors (which hold those times) are masked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli_remote.conftest import OPERATE, TOKENS, fresh_database, invoke, serving

pytestmark = pytest.mark.slow

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
CURSOR = re.compile(r"--cursor \S+")
NOT_A_CURSOR = "bm90IGEgY3Vyc29y"

# (arguments, the exit code both ways); "{cursor}" is the cursor the side's previous command printed.
SCRIPT: list[tuple[list[str], int]] = [
    (["submit", "search", "-p", "1", "--params", '{"query": "graphene"}'], 0),
    (["submit", "ocr", "-p", "1", "--json"], 0),
    (["submit", "dedup", "-p", "2", "--params", '{"records": []}', "--json"], 0),
    (["submit", "index", "-p", "2"], 0),
    (["submit", "bogus", "-p", "1"], 2),
    (["submit", "search", "-p", "0"], 2),
    (["submit", "search", "-p", "1", "--params", "[1, 2]"], 2),
    (["submit", "search", "-p", "1", "--params", '{"x": NaN}'], 2),
    (["list"], 0),
    (["list", "--json"], 0),
    (["list", "-p", "1", "--type", "ocr", "--status", "pending", "--json"], 0),
    (["list", "--limit", "3", "--json"], 0),
    (["list", "--limit", "3", "--cursor", "{cursor}", "--json"], 0),
    (["list", "--created-after", "2020-01-01T00:00:00", "--created-before", "2999-01-01"], 0),
    (["list", "--status", "done"], 2),
    (["list", "--type", "fetch"], 2),
    (["list", "--limit", "0"], 2),
    (["list", "--project", "0"], 2),
    (["list", "--cursor", NOT_A_CURSOR], 2),
    (["list", "--created-after", "yesterday"], 2),
    (["show", "1"], 0),
    (["show", "1", "--json"], 0),
    (["show", "99"], 1),
    (["show", "99", "--json"], 1),
    (["show", "0"], 2),
    (["cancel", "1"], 0),
    (["cancel", "1"], 1),
    (["cancel", "99"], 1),
    (["cancel", "2", "--json"], 0),
    (["cancel", "-p", "2", "--status", "completed"], 2),
    (["cancel", "-p", "2", "--type", "fetch"], 2),
    (["cancel", "-p", "2"], 1),  # no terminal to confirm: nothing cancelled
    (["cancel", "-p", "2", "--type", "dedup", "--yes"], 0),
    (["cancel", "-p", "2", "--yes", "--json"], 0),
    (["cancel", "-p", "2", "-y"], 0),
    (["events", "99"], 1),
    (["events", "0"], 2),
    (["watch", "1", "--json"], 1),  # ended cancelled: one line, then the outcome
    (["watch", "1"], 1),
    (["watch", "99"], 2),
    (["watch", "--project", "9"], 0),
    (["watch"], 2),
    (["papers", "import", "{export}", "-p", "1", "--json"], 0),
    (["papers", "import", "{export}", "-p", "1"], 0),
    (["papers", "import", "{broken}", "-p", "1"], 2),
    (["papers", "import", "{export}", "-p", "0"], 2),
    (["papers", "list", "--json"], 0),
    (["papers", "list"], 0),
    (["papers", "list", "--limit", "2", "--json"], 0),
    (["papers", "list", "--limit", "2", "--cursor", "{cursor}", "--json"], 0),
    (["papers", "list", "--cursor", NOT_A_CURSOR], 2),
    (["papers", "list", "--limit", "0"], 2),
    (["papers", "list", "--q", "!!!"], 2),
    (["papers", "show", "1", "--json"], 0),
    (["papers", "show", "42"], 1),
    (["pipeline", "show", "4242"], 1),
    (["pipeline", "cancel", "4242"], 1),
    (["pipeline", "run", "-p", "1", "--steps", "dedup,search", "-q", "x"], 2),
    (["pipeline", "run", "-p", "1", "--steps", "dedup", "--params", '{"crawl": {}}'], 2),
    (["pipeline", "run", "-p", "1", "--steps", "dedup", "--params", '{"dedup": 5}'], 2),
]
SOURCES = re.compile(r'"sources": \[\s*"(?:import|api)"\s*\]')


def normal(text: str) -> str:
    """The output with what differs between the twins masked: times, cursors, and a paper's source
    (an import file's records reach a server as API records)."""
    return SOURCES.sub('"sources": [<source>]', CURSOR.sub("--cursor <cursor>", TIME.sub("<time>", text)))


def cursor_of(result: Result) -> str:
    found = CURSOR.search(result.stderr)
    return found.group(0).split()[-1] if found else ""


def run_script(args_of: list[list[str]], where: list[str], files: dict[str, str]) -> list[Result]:
    results: list[Result] = []
    cursor = ""
    for args in args_of:
        filled = [{"{cursor}": cursor, **files}.get(arg, arg) for arg in args]
        result = invoke(*filled, *where)
        cursor = cursor_of(result) or cursor
        results.append(result)
    return results


def test_every_command_answers_the_same_through_the_server(dialect: str, tmp_path: Path) -> None:
    export = tmp_path / "papers.jsonl"
    records = [
        {"title": "Attention Is All You Need", "doi": "10.48550/arXiv.1706.03762", "year": 2017},
        {"title": "Deep Residual Learning", "authors": ["Kaiming He"], "year": 2016},
        {"title": "Graphene", "abstract": "A single layer of carbon atoms."},
    ]
    export.write_text("".join(json.dumps(record) + "\n" for record in records))
    broken = tmp_path / "broken.bib"
    broken.write_text("@article{broken, year = {2020}}\n")
    files = {"{export}": str(export), "{broken}": str(broken)}
    args_of = [args for args, _ in SCRIPT]
    with (
        fresh_database(dialect, tmp_path, "local") as local_url,
        fresh_database(dialect, tmp_path, "served") as served_url,
        serving(served_url, tmp_path / "serve.log", {"TASKAPI_API_TOKENS": TOKENS}) as server,
    ):
        on_db = run_script(args_of, ["--db", local_url], files)
        on_server = run_script(args_of, ["--server", server.base_url, "--token", OPERATE], files)
        # A timeline is the same but for who acted: "cli" here, the token there.
        local_events = json.loads(invoke("events", "1", "--json", "--db", local_url).stdout)
        remote = invoke("events", "1", "--json", "--server", server.base_url, "--token", OPERATE)
        remote_events = json.loads(remote.stdout)

    for (args, code), local, remote in zip(SCRIPT, on_db, on_server, strict=True):
        assert local.exit_code == code, (args, local.stdout, local.stderr)
        assert remote.exit_code == code, (args, remote.stdout, remote.stderr)
        assert normal(remote.stdout) == normal(local.stdout), args
        assert normal(remote.stderr) == normal(local.stderr), args
        if code not in (0, 1) or not local.stdout:
            assert "Traceback" not in remote.stderr
    assert [event["actor"] for event in local_events] == ["cli", "cli"]
    assert all(event["actor"].startswith("operate token ") for event in remote_events), remote_events
    for event in local_events + remote_events:
        event["actor"] = event["at"] = "<masked>"
    assert remote_events == local_events

    # The script did reach what it means to: pages followed by their cursors.
    def pages(prefix: list[str]) -> list[list[int]]:
        found = [r for (args, _), r in zip(SCRIPT, on_server, strict=True) if args[: len(prefix)] == prefix]
        return [[row["id"] for row in json.loads(r.stdout)] for r in found if r.exit_code == 0]

    assert pages(["list", "--limit"]) == [[4, 3, 2], [1]]
    [first, second] = pages(["papers", "list", "--limit"])
    assert len(first) == 2 and second and max(second) < min(first)  # the next page, newest first
