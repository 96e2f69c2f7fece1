"""``taskapi papers``: list, show and import the papers of a project's library.

A thin layer over ``PaperService`` on the store, no HTTP, like the task commands: Rich tables for
people, ``--json`` in the API's shapes (``taskapi.api.schemas_papers``) for scripts, and the same exit
codes: 0 ok, 1 paper not found, 2 bad usage or input (a file that cannot be imported: one line naming
the file and the spot), 3 store unavailable. The store is opened, and the papers tables migrated, as
the other commands open theirs; PDFs go to the file store under ``TASKAPI_DATA_DIR`` (``--data-dir``).

``taskapi.cli`` registers this sub-app and this module uses that one's helpers (settings, failures,
opening a store), imported when a command runs since ``taskapi.cli`` imports this module first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from taskapi.cli_options import DbOption, JsonOption
from taskapi.domain import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, InvalidInput
from taskapi.papers.errors import PaperNotFound
from taskapi.papers.files import LocalFileStore
from taskapi.papers.formats import FORMATS, ImportFormatError
from taskapi.papers.service import ImportFileResult, PaperPage, PaperService

papers_app = typer.Typer(
    help="The papers library of each project: list, show and import papers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_TITLE_CHARS = 80
_NUMBERS = ("ID", "Year", "Score", "Dup of")
_SHORT = (*_NUMBERS, "PDF")
_MAX_WIDTHS = {"Authors": 24, "Identifier": 28}
_BAD_CURSOR = "--cursor: not a cursor this command printed (copy it from the 'next page' line)"


# -- the service and the exit codes -----------------------------------------------------------------


@contextmanager
def _exit_codes() -> Iterator[None]:
    """The task commands' exit codes, and the library's own failures: 1 no such paper, 2 a file that
    cannot be imported."""
    from taskapi import cli as base

    try:
        with base._exit_codes():
            yield
    except PaperNotFound as exc:
        base._fail(str(exc), base.EXIT_FAILED)
    except ImportFormatError as exc:
        base._fail(str(exc), base.EXIT_USAGE)


@contextmanager
def _papers(db: str | None, data_dir: Path | None = None, *, files: bool = False) -> Iterator[PaperService]:
    """The service over the migrated store (tasks and papers) for one command, opened as the task
    commands open theirs; with ``files``, over the file store too (reading commands leave the data
    directory alone: the file store creates it on first use)."""
    from taskapi import cli as base
    from taskapi.papers import PapersRepository
    from taskapi.wiring import open_migrated_store

    settings = base._settings(db, data_dir=data_dir)
    with _exit_codes(), ExitStack() as stack:
        with base._opening(settings.database_url):
            store = open_migrated_store(settings)
        stack.callback(store.close)
        yield PaperService(PapersRepository(store), _file_store(settings.data_dir) if files else None)


def _file_store(root: Path) -> LocalFileStore:
    from taskapi import cli as base

    try:
        return LocalFileStore(root)
    except OSError as exc:
        base._fail(f"file store unavailable: cannot use {str(root)!r}: {exc}", base.EXIT_UNAVAILABLE)


# -- output -----------------------------------------------------------------------------------------


def _dim(text: str = "-") -> Text:
    return Text(text, style="dim")


def _identifier(row: dict[str, Any]) -> Text:
    """The paper's best identifier for a table cell: DOI, else arXiv, PubMed, OpenAlex, S2 id."""
    for name, label in (("doi", ""), ("arxiv_id", "arXiv:"), ("pmid", "PMID:"), ("openalex_id", "")):
        if row[name]:
            return Text(f"{label}{row[name]}")
    return Text(f"S2:{row['s2_id'][:10]}") if row["s2_id"] else _dim()


def _authors(names: Sequence[str]) -> Text:
    if not names:
        return _dim()
    return Text(names[0] if len(names) == 1 else f"{names[0]} et al.")


def _title(row: dict[str, Any]) -> Text:
    title = row["title"] or ""
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 1] + "\u2026"
    return Text(title) if title else _dim("(no title)")


def _list_table(rows: Sequence[dict[str, Any]], *, scored: bool, duplicates: bool) -> Table:
    """The list for people: the title wraps, every other cell stays on one line; ``Dup of`` only when
    duplicates are listed, ``Score`` only with ``--q``."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    columns: list[tuple[str, Callable[[dict[str, Any]], Text]]] = [
        ("ID", lambda row: Text(str(row["id"]))),
        ("Year", lambda row: _maybe(row["year"])),
        ("PDF", lambda row: Text("yes", style="green") if row["has_pdf"] else _dim()),
        ("Title", _title),
        ("Authors", lambda row: _authors(row["authors"])),
        ("Identifier", _identifier),
    ]
    if duplicates:
        columns.append(("Dup of", lambda row: _maybe(row["duplicate_of"])))
    if scored:
        columns.append(("Score", lambda row: _maybe(row["score"])))
    for header, _ in columns:
        short = header in _SHORT  # a number or "yes": never wrapped; the text columns fold
        table.add_column(
            header,
            justify="right" if header in _NUMBERS else "left",
            no_wrap=short,
            overflow="ellipsis" if short else "fold",
            min_width=len(header) if short else 10,
            max_width=_MAX_WIDTHS.get(header),
        )
    for row in rows:
        table.add_row(*(cell(row) for _, cell in columns))
    return table


def _maybe(value: object) -> Text:
    return _dim() if value is None else Text(str(value))


def _cell(name: str, value: Any) -> Text:
    """One detail value for people; user text is never read as markup."""
    if value is None or value == [] or value == "":
        return _dim()
    if name == "file":
        where = f", from {value['url']}" if value["url"] else ""
        return Text(f"{value['sha256']} ({value['bytes']:,} bytes{where}, {value['fetched_at']})")
    if name in ("authors", "sources"):
        return Text("; ".join(value))
    if name == "pdf_candidates":
        return Text("\n".join(value))
    return Text(str(value))


def _detail_panel(data: dict[str, Any]) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in data.items():
        if name != "has_pdf":  # "file" says it
            table.add_row(name, _cell(name, value))
    return Panel(table, title=f"Paper {data['id']}", title_align="left", expand=False)


def _print_page(page: PaperPage, as_json: bool, *, scored: bool, duplicates: bool) -> None:
    from taskapi import cli as base
    from taskapi.api.schemas_papers import list_item_row

    rows = [list_item_row(item) for item in page.items]
    if as_json:
        base._print_json(rows)
    else:
        base._console().print(
            _list_table(rows, scored=scored, duplicates=duplicates) if rows else Text("No papers.")
        )
    if page.next_cursor is not None:
        typer.echo(f"next page: --cursor {page.next_cursor}", err=True)


def _print_import(result: ImportFileResult, project: int, as_json: bool) -> None:
    from taskapi import cli as base
    from taskapi.api.schemas_papers import ImportedFileSchema

    for path in result.missing_files:
        typer.echo(f"warning: not attached (missing, unreadable or not a PDF): {path}", err=True)
    if as_json:
        base._print_json(ImportedFileSchema.of(result).model_dump(mode="json"))
        return
    records = len(result.ids)
    typer.echo(
        f"Imported {records} record{'' if records == 1 else 's'} into project {project}:"
        f" {result.created} new, {result.merged} merged; {result.attached_pdfs} PDF"
        f"{'' if result.attached_pdfs == 1 else 's'} attached"
    )


# -- commands ---------------------------------------------------------------------------------------


@papers_app.command("list")
def list_papers(
    project: Annotated[
        int | None, typer.Option("--project", "-p", help="Only papers of this project ID.")
    ] = None,
    q: Annotated[
        str | None,
        typer.Option(
            "--q",
            "-q",
            help='Ranked full-text search (run index first): words, "phrases", OR, -excluded, prefix*.',
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(help=f"Maximum number of papers, 1..{MAX_LIST_LIMIT}.")
    ] = DEFAULT_LIST_LIMIT,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after the page that printed this cursor (on stderr).")
    ] = None,
    include_duplicates: Annotated[
        bool, typer.Option("--include-duplicates", help="Also list papers marked as duplicates.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List papers, newest first; when more follow, the next page's --cursor is printed on stderr."""
    from taskapi import cli as base

    with _papers(db) as papers:
        try:
            page = papers.list(
                project, q=q, limit=limit, cursor=cursor, include_duplicates=include_duplicates
            )
        except InvalidInput as exc:
            if exc.field != "cursor":
                raise
            base._fail(_BAD_CURSOR, base.EXIT_USAGE)
    _print_page(page, as_json, scored=bool(q and q.strip()), duplicates=include_duplicates)


@papers_app.command()
def show(
    paper_id: Annotated[int, typer.Argument(metavar="ID", help="Paper ID.", show_default=False)],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one paper in full: identifiers, duplicate_of, its stored PDF, PDF candidates and the summary
    of its extracted text."""
    from taskapi import cli as base
    from taskapi.api.schemas_papers import detail_row

    with _papers(db) as papers:
        detail = papers.detail(paper_id)
    data = detail_row(detail.paper, detail.text)
    if as_json:
        base._print_json(data)
    else:
        base._console().print(_detail_panel(data))


@papers_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The export to import.", show_default=False)],
    project: Annotated[
        int, typer.Option("--project", "-p", help="Project ID to import into.", show_default=False)
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"One of {', '.join(FORMATS)} (default: from the file's name, else its content).",
        ),
    ] = None,
    db: DbOption = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where PDFs are stored (env TASKAPI_DATA_DIR, else ./taskapi-data).", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a BibTeX, RIS, CSL-JSON or JSON Lines export, with the local PDFs it names (Zotero's
    BibTeX file field, RIS L1): all records or, if one cannot be read, none."""
    with _papers(db, data_dir, files=True) as papers:
        result = papers.import_file(project, file, fmt)
    _print_import(result, project, as_json)
