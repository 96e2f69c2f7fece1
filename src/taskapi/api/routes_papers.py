"""The papers routes: the library's list (ranked by the full-text index with ``q``), one paper, its PDF
and extracted text, and the import.

They follow the task routes: async, one thread hop per service call, the ``{"code","message","data"}``
envelope, 400 naming the parameter (never 422), 404 in the envelope, keyset paging with
``X-Next-Cursor`` and ``Link: rel="next"`` on a full page. Reads need a ``read`` token, the import an
``operate`` one (the access control decides by method).

The import takes up to 10,000 records, more than the API's usual body limit: ``PapersBodyLimit`` gives
that one route a limit of its own and keeps every other route's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool as in_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from taskapi.api.errors import on_not_found
from taskapi.api.limits import BodySizeLimit
from taskapi.api.schemas import CURSOR_PATTERN, ApiResponse, ErrorResponse
from taskapi.api.schemas_papers import (
    ImportedSchema,
    ImportPapersRequest,
    PaperDetailSchema,
    PaperListItemSchema,
    PaperTextSchema,
    detail_row,
    list_item_row,
    text_row,
)
from taskapi.domain import DEFAULT_LIST_LIMIT, MAX_ID, MAX_LIST_LIMIT
from taskapi.papers.errors import PaperNotFound
from taskapi.papers.service import MAX_QUERY_CHARS, PaperService

PAPERS_PATH = "/api/v1/papers"
DEFAULT_MAX_IMPORT_BYTES = 64 * 1024 * 1024
"""The import's body limit: 10,000 records with abstracts are some tens of MiB of JSON."""

router = APIRouter(prefix=PAPERS_PATH, tags=["papers"])


async def get_papers(request: Request) -> PaperService:
    """The app's ``PaperService`` (``create_app(papers=...)``); ``async``: no thread hop for it."""
    papers: PaperService = request.app.state.papers
    return papers


PapersDep = Annotated[PaperService, Depends(get_papers)]
PaperId = Annotated[int, Path(ge=1, le=MAX_ID, description="Paper ID", alias="id")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meanings = {
        400: "Invalid input (the message names the parameter or the record: papers.3.year)",
        404: "Paper not found (or, for its PDF, no PDF stored)",
        413: "Request body over the size limit",
        500: "Unexpected error (details are in the server log)",
        503: "Store unavailable; retry shortly",
        507: "The store's disk is full: nothing was imported; retry once space is freed",
    }
    return {code: {"model": ErrorResponse, "description": meanings[code]} for code in codes}


def _json(body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(data, status_code=status_code, media_type="application/json", headers=headers)


@router.get(
    "",
    summary="List papers, newest first, or search them (q)",
    response_model=ApiResponse[list[PaperListItemSchema]],
    responses=_errors(400, 500, 503),
)
async def list_papers(
    papers: PapersDep,
    request: Request,
    project_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this project's papers (default: all)")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_CHARS,
            description='Search the full-text index: words (all must match), "phrases", OR, -excluded,'
            " prefix*; ranked best first (blank: no search)",
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIST_LIMIT, description="Maximum number of items")
    ] = DEFAULT_LIST_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="Continue after the page that answered this X-Next-Cursor header",
        ),
    ] = None,
    include_duplicates: Annotated[
        bool, Query(description="Also list papers that dedup marked as duplicates (duplicate_of set)")
    ] = False,
) -> Response:
    """Papers ordered by `created_at` descending, ties by `id` descending; duplicates hidden unless
    `include_duplicates=true`.

    With `q`, the papers the full-text index finds, best first (title matches before abstract
    matches before matches in the text), each with a `score` and a `snippet`; without, both are null.
    `q` reads like a search box: words (all must match, stemmed, case and accents aside),
    `"quoted phrases"`, `OR` between two words or phrases, `-excluded`, `graph*` (prefix). Only
    indexed papers are found: run the `index` task after importing (a project never indexed answers
    an empty list). Duplicates are never indexed. A `q` with no word left to search for (only common
    words or symbols) answers 400.

    A full page (as many papers as `limit`) carries an `X-Next-Cursor` header (and a
    `Link: rel="next"`); pass it back as `cursor`, with the same filters, for the next page. With
    `q` the cursor is an opaque offset into the ranking, valid for the same `q` and `project_id`
    (up to 100,000 results)."""
    page = await in_thread(
        papers.list,
        project_id,
        q=q,
        limit=limit,
        cursor=cursor,
        include_duplicates=include_duplicates,
    )
    headers: dict[str, str] = {}
    if page.next_cursor is not None:
        headers["X-Next-Cursor"] = page.next_cursor
        headers["Link"] = f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'
    body = {"code": 200, "message": "success", "data": [list_item_row(item) for item in page.items]}
    return _json(body, headers=headers)


@router.post(
    "",
    summary="Import up to 10,000 papers into a project",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiResponse[ImportedSchema],
    responses=_errors(400, 413, 500, 503, 507),
)
async def import_papers(papers: PapersDep, body: ImportPapersRequest) -> ApiResponse[ImportedSchema]:
    """All records are checked before any is written: a bad one answers 400 naming it (`papers.3`,
    `papers.3.year`) and imports nothing. A record whose identifier (DOI, arXiv, S2, OpenAlex or
    PubMed id) the project already has enriches that paper instead of adding one (`merged`), unless
    the titles clearly differ. `ids` follow the order of `papers`."""
    result = await in_thread(papers.import_papers, body.project_id, body.papers)
    data = ImportedSchema(created=result.created, merged=result.merged, ids=list(result.ids))
    message = f"{result.created} papers created, {result.merged} merged"
    return ApiResponse(code=201, message=message, data=data)


@router.get(
    "/{id}",
    summary="Show one paper in full",
    response_model=ApiResponse[PaperDetailSchema],
    responses=_errors(400, 404, 500, 503),
)
async def get_paper(papers: PapersDep, paper_id: PaperId) -> Response:
    """The paper with its identifiers, `duplicate_of`, its stored `file` (or null), its
    `pdf_candidates`, and `text`: the summary of its extracted text (pages, characters, pages per
    engine), null until the ocr step has read its PDF."""
    detail = await in_thread(papers.detail, paper_id)
    return _json({"code": 200, "message": "success", "data": detail_row(detail.paper, detail.text)})


@router.get(
    "/{id}/text",
    summary="The extracted text of a paper, page by page",
    response_model=ApiResponse[PaperTextSchema],
    responses=_errors(400, 404, 500, 503),
)
async def get_paper_text(papers: PapersDep, paper_id: PaperId) -> Response:
    """Each page's text with the engine that produced it (`text`: the PDF's text layer; `tesseract`:
    OCR, with its mean word `confidence`), in page order; `pages` is empty until the ocr step has
    read the paper's PDF. 404 in the envelope if there is no such paper."""
    text = await in_thread(papers.text, paper_id)
    return _json({"code": 200, "message": "success", "data": text_row(text)})


@router.get(
    "/{id}/pdf",
    summary="The stored PDF of a paper",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The PDF, shown inline (`<id>.pdf`)",
        },
        **_errors(400, 404, 500, 503),
    },
)
async def get_paper_pdf(papers: PapersDep, paper_id: PaperId) -> FileResponse:
    """Streamed from the file store; 404 in the envelope when the paper or its PDF is not there."""
    path = await in_thread(papers.pdf_path, paper_id)
    return FileResponse(
        path, media_type="application/pdf", filename=f"{paper_id}.pdf", content_disposition_type="inline"
    )


class PapersBodyLimit:
    """ASGI middleware: the body limit of every route, except ``POST /api/v1/papers`` (the import),
    which takes up to ``import_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int, import_bytes: int) -> None:
        self.others = BodySizeLimit(app, max_bytes)
        self.imports = BodySizeLimit(app, import_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_import = (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/") == PAPERS_PATH
        )
        await (self.imports if is_import else self.others)(scope, receive, send)


def install_papers(app: FastAPI, papers: PaperService) -> None:
    """The papers routes on ``app``, over ``papers``, with their 404s in the envelope. (The body limit
    is the caller's: ``PapersBodyLimit`` in place of ``BodySizeLimit``.)"""
    app.state.papers = papers
    app.add_exception_handler(PaperNotFound, on_not_found)
    app.include_router(router)
