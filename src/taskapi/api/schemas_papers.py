"""The wire shapes of the papers routes (PIPELINE.md "Routes"), in the task API's envelope and time
rendering; the CLI's ``--json`` output is built from them too.

A list item is the paper's fields, its identifiers and ``duplicate_of``, ``has_pdf``, and ``score`` and
``snippet`` (set when the list was asked with ``q``, else null). The detail adds the stored ``file``, the
``pdf_candidates`` and ``text``, the summary of its extracted text (null until the ``ocr`` step has read
the PDF); ``GET /api/v1/papers/{id}/text`` answers the text itself, page by page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from taskapi.api.schemas import ApiTime, BodyId, render_time
from taskapi.papers.records import ListedPaper, Paper, PaperFile
from taskapi.papers.service import MAX_IMPORT, ImportFileResult
from taskapi.papers.texts import PaperText

_PAPER_EXAMPLE = {
    "title": "Attention Is All You Need",
    "authors": ["Ashish Vaswani", "Noam Shazeer"],
    "year": 2017,
    "doi": "10.48550/arXiv.1706.03762",
    "venue": "NeurIPS",
}


class PaperSchema(BaseModel):
    """A paper as a list shows it: its fields, identifiers (normalised) and where it was found."""

    id: int = Field(examples=[12])
    project_id: int = Field(examples=[1])
    title: str | None = Field(examples=["Attention Is All You Need"])
    abstract: str | None = Field(examples=["The dominant sequence transduction models are ..."])
    authors: list[str] = Field(examples=[["Ashish Vaswani", "Noam Shazeer"]], description="Display names")
    year: int | None = Field(examples=[2017])
    venue: str | None = Field(examples=["NeurIPS"])
    volume: str | None = Field(examples=["30"])
    issue: str | None = Field(examples=[None])
    pages: str | None = Field(examples=["5998-6008"])
    doi: str | None = Field(examples=["10.48550/arxiv.1706.03762"], description="Lower-case, no URL prefix")
    arxiv_id: str | None = Field(examples=["1706.03762"], description="Without version")
    s2_id: str | None = Field(examples=["204e3073870fae3d05bcbc2f6a8e263d9b72e776"])
    openalex_id: str | None = Field(examples=["W2963403868"])
    pmid: str | None = Field(examples=[None])
    pdf_url: str | None = Field(examples=["https://arxiv.org/pdf/1706.03762"])
    oa_status: str | None = Field(examples=["green"])
    sources: list[str] = Field(examples=[["semantic_scholar", "arxiv"]], description="Where it was found")
    duplicate_of: int | None = Field(examples=[None], description="The canonical paper's id once dedup ran")
    created_at: ApiTime
    updated_at: ApiTime
    has_pdf: bool = Field(examples=[True], description="Whether a PDF is stored (GET .../{id}/pdf)")


class PaperListItemSchema(PaperSchema):
    score: float | None = Field(
        examples=[7.25],
        description="With q: the index's relevance, higher is better (bm25 on SQLite, ts_rank_cd on"
        " PostgreSQL: compare within one answer only); else null",
    )
    snippet: str | None = Field(
        examples=["We propose a new simple <b>network</b> architecture, the Transformer."],
        description="With q: the passage that matched (title, abstract or text), HTML-escaped, the"
        " matched words in <b>...</b>; else null",
    )


class PaperFileSchema(BaseModel):
    """The stored PDF of a paper."""

    sha256: str = Field(examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    bytes: int = Field(examples=[2215244])
    url: str | None = Field(
        examples=["https://arxiv.org/pdf/1706.03762"], description="Where it was fetched; null if imported"
    )
    content_type: str = Field(examples=["application/pdf"])
    fetched_at: ApiTime


class TextSummarySchema(BaseModel):
    """How much text the ocr step extracted, and which engine read how many pages."""

    pages: int = Field(examples=[12])
    chars: int = Field(examples=[48211])
    engines: dict[str, int] = Field(
        examples=[{"text": 11, "tesseract": 1}], description="Pages per engine: text layer or Tesseract"
    )


class PageTextSchema(BaseModel):
    page: int = Field(examples=[1], description="From 1")
    text: str = Field(examples=["Attention Is All You Need\nAshish Vaswani ..."])
    engine: str = Field(examples=["text"], description="text (the PDF's text layer) or tesseract (OCR)")
    confidence: float | None = Field(
        examples=[None], description="Tesseract's mean word confidence (0-100); null for a text-layer page"
    )


class PaperTextSchema(BaseModel):
    """A paper's extracted text, page by page (an empty list until the ocr step has read its PDF)."""

    paper_id: int = Field(examples=[5])
    pages: list[PageTextSchema]
    chars: int = Field(examples=[48211], description="Characters over all pages")


class PaperDetailSchema(PaperSchema):
    """One paper in full."""

    file: PaperFileSchema | None = Field(description="The stored PDF, or null")
    pdf_candidates: list[str] = Field(
        examples=[["https://arxiv.org/pdf/1706.03762"]], description="Where crawl looks for a PDF, best first"
    )
    text: TextSummarySchema | None = Field(
        description="A summary of the extracted text once the ocr step ran; null until then"
    )


def paper_row(paper: Paper) -> dict[str, Any]:
    """The JSON object of a paper as ``PaperSchema`` serialises it, built directly (a list answers up to
    1,000 of them)."""
    return {
        "id": paper.id,
        "project_id": paper.project_id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "year": paper.year,
        "venue": paper.venue,
        "volume": paper.volume,
        "issue": paper.issue,
        "pages": paper.pages,
        "doi": paper.doi,
        "arxiv_id": paper.arxiv_id,
        "s2_id": paper.s2_id,
        "openalex_id": paper.openalex_id,
        "pmid": paper.pmid,
        "pdf_url": paper.pdf_url,
        "oa_status": paper.oa_status,
        "sources": list(paper.sources),
        "duplicate_of": paper.duplicate_of,
        "created_at": render_time(paper.created_at),
        "updated_at": render_time(paper.updated_at),
        "has_pdf": paper.file is not None,
    }


def list_item_row(item: ListedPaper) -> dict[str, Any]:
    """What ``PaperListItemSchema`` serialises ``item`` to."""
    return {**paper_row(item.paper), "score": item.score, "snippet": item.snippet}


def file_row(file: PaperFile | None) -> dict[str, Any] | None:
    if file is None:
        return None
    return {
        "sha256": file.sha256,
        "bytes": file.bytes,
        "url": file.url,
        "content_type": file.content_type,
        "fetched_at": render_time(file.fetched_at),
    }


def detail_row(paper: Paper, text: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``PaperDetailSchema`` serialises ``paper`` to, with its text summary (``text_summary``)."""
    return {
        **paper_row(paper),
        "file": file_row(paper.file),
        "pdf_candidates": list(paper.pdf_candidates),
        "text": text,
    }


def text_row(text: PaperText) -> dict[str, Any]:
    """What ``PaperTextSchema`` serialises ``text`` to."""
    return {
        "paper_id": text.paper_id,
        "pages": [
            {"page": p.page, "text": p.text, "engine": p.engine, "confidence": p.confidence}
            for p in text.pages
        ],
        "chars": text.chars,
    }


class ImportPapersRequest(BaseModel):
    """Papers to import into a project: all of them or, if any is invalid, none. Each record holds the
    library's fields (``title``, ``abstract``, ``authors``, ``year``, ``venue``, ``volume``, ``issue``,
    ``pages``, ``doi``, ``arxiv_id``, ``s2_id``, ``openalex_id``, ``pmid``, ``pdf_url``, ``oa_status``);
    it needs a title or an identifier, and other fields are ignored."""

    model_config = ConfigDict(extra="forbid")

    project_id: BodyId
    papers: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_IMPORT, examples=[[_PAPER_EXAMPLE]])


class ImportedSchema(BaseModel):
    created: int = Field(examples=[1], description="New papers")
    merged: int = Field(examples=[0], description="Records merged into papers the project had")
    ids: list[int] = Field(examples=[[12]], description="Each record's paper, in the order of `papers`")


class ImportedFileSchema(ImportedSchema):
    """What ``taskapi papers import --json`` prints."""

    attached_pdfs: int = Field(examples=[1])
    missing_files: list[str] = Field(examples=[[]], description="Named files that could not be attached")

    @classmethod
    def of(cls, result: ImportFileResult) -> ImportedFileSchema:
        return cls(
            created=result.created,
            merged=result.merged,
            ids=list(result.ids),
            attached_pdfs=result.attached_pdfs,
            missing_files=list(result.missing_files),
        )
