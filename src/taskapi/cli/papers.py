"""``taskapi papers``: list, show and import the papers of a project's library.

Written once against a ``Backend`` like the task commands (``PaperService`` on the store, or a server
with ``--server``): Rich tables for people, ``--json`` in the API's shapes
(``taskapi.api.schemas_papers``) for scripts, and the same exit codes: 0 ok, 1 paper not found, 2 bad
usage or input (a file that cannot be imported: one line naming the file and the spot), 3 store
unavailable. On a database the store is opened, and the papers tables migrated, as the other commands
open theirs; PDFs go to the file store under ``TASKAPI_DATA_DIR`` (``--data-dir``). Against a server
the export is read here and its records sent; the PDFs it names cannot be (no upload route).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from taskapi.cli import rendering as out
from taskapi.cli.backend import open_backend
from taskapi.cli.exits import EXIT_USAGE, fail
from taskapi.cli.options import DbOption, JsonOption, ServerOption, TokenOption
from taskapi.domain import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, InvalidInput
from taskapi.papers.formats import FORMATS
from taskapi.papers.records import ListedPaper
from taskapi.papers.service import ImportFileResult, PaperPage

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


def _row(item: ListedPaper) -> dict[str, Any]:
    """A paper of a list as the API shows it; from a server, a list item says ``has_pdf`` without the
    file itself (``extra``)."""
    from taskapi.api.schemas_papers import list_item_row

    row = list_item_row(item)
    if "has_pdf" in item.paper.extra:
        row["has_pdf"] = bool(item.paper.extra["has_pdf"])
    return row


def _print_page(page: PaperPage, as_json: bool, *, scored: bool, duplicates: bool) -> None:
    rows = [_row(item) for item in page.items]
    if as_json:
        out.print_json(rows)
    else:
        out.console().print(
            _list_table(rows, scored=scored, duplicates=duplicates) if rows else Text("No papers.")
        )
    if page.next_cursor is not None:
        typer.echo(f"next page: --cursor {page.next_cursor}", err=True)


def _print_import(result: ImportFileResult, unsent: list[str], project: int, as_json: bool) -> None:
    from taskapi.api.schemas_papers import ImportedFileSchema

    for path in result.missing_files:
        if path in unsent:
            typer.echo(f"warning: not attached (a server takes no PDF upload): {path}", err=True)
        else:
            typer.echo(f"warning: not attached (missing, unreadable or not a PDF): {path}", err=True)
    if as_json:
        out.print_json(ImportedFileSchema.of(result).model_dump(mode="json"))
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
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List papers, newest first; when more follow, the next page's --cursor is printed on stderr."""
    with open_backend(db, server, token) as backend:
        try:
            page = backend.paper_page(project, q, limit, cursor, include_duplicates)
        except InvalidInput as exc:
            if exc.field != "cursor":
                raise
            fail(_BAD_CURSOR, EXIT_USAGE)
    _print_page(page, as_json, scored=bool(q and q.strip()), duplicates=include_duplicates)


@papers_app.command()
def show(
    paper_id: Annotated[int, typer.Argument(metavar="ID", help="Paper ID.", show_default=False)],
    db: DbOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one paper in full: identifiers, duplicate_of, its stored PDF, PDF candidates and the summary
    of its extracted text."""
    from taskapi.api.schemas_papers import detail_row

    with open_backend(db, server, token) as backend:
        detail = backend.paper_detail(paper_id)
    data = detail_row(detail.paper, detail.text)
    if as_json:
        out.print_json(data)
    else:
        out.console().print(_detail_panel(data))


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
    server: ServerOption = None,
    token: TokenOption = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where PDFs are stored (env TASKAPI_DATA_DIR, else ./taskapi-data); not with --server.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import a BibTeX, RIS, CSL-JSON or JSON Lines export, with the local PDFs it names (Zotero's
    BibTeX file field, RIS L1): all records or, if one cannot be read, none. With --server the
    records are sent to the server, but not the PDFs (the API takes no upload): each is named in a
    warning line."""
    with open_backend(db, server, token, data_dir=data_dir) as backend:
        result, unsent = backend.import_file(project, file, fmt)
    _print_import(result, unsent, project, as_json)
