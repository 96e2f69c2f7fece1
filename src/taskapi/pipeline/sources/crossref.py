"""Crossref's works search (``query.bibliographic``), paged by ``cursor`` until an answer has no items
or no ``next-cursor`` (the cursor may stay the same from page to page: it names a server-side
scroll). Its field names are mapped in ``record_from_crossref`` alone; ``mailto`` names the contact."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from taskapi.papers.records import PaperRecord, normalise_year
from taskapi.pipeline.sources._fields import (
    as_dict,
    as_list,
    dig,
    first_text,
    integer,
    jats_to_text,
    text,
    urls,
)
from taskapi.pipeline.sources._http import SourceHttp
from taskapi.pipeline.sources.base import Budget, Source
from taskapi.pipeline.sources.model import SearchQuery, SourceConfig
from taskapi.pipeline.sources.pacing import Pacer

PAGE_SIZE = 100
SELECT = "DOI,title,author,abstract,issued,published,container-title,volume,issue,page,link"
_DATES = ("issued", "published", "published-print", "published-online")
"""Where a publication year may be, best first (``issued`` can be ``[[null]]``)."""


def _author(value: object) -> str | None:
    author = as_dict(value)
    given, family = text(author.get("given")), text(author.get("family"))
    if family:
        return f"{given} {family}" if given else family
    return text(author.get("name"))  # an organisation


def _year(work: dict[str, Any]) -> int | None:
    for key in _DATES:
        parts = as_list(dig(work, key, "date-parts"))
        first = as_list(parts[0]) if parts else []
        if first and (year := normalise_year(first[0])):
            return year
    return None


def _pdf_links(work: dict[str, Any]) -> list[str]:
    links = [as_dict(link) for link in as_list(work.get("link"))]
    return urls(*(link.get("URL") for link in links if text(link.get("content-type")) == "application/pdf"))


def record_from_crossref(item: object) -> PaperRecord:
    """One work: ``title`` and ``container-title`` are lists, the year is in ``issued.date-parts``, the
    abstract is JATS XML, the PDF candidates are ``link[]`` entries of type ``application/pdf``."""
    work = as_dict(item)
    return PaperRecord(
        title=first_text(work.get("title")),
        abstract=jats_to_text(work.get("abstract")),
        authors=[name for author in as_list(work.get("author")) if (name := _author(author))],
        year=_year(work),
        venue=first_text(work.get("container-title")),
        volume=text(work.get("volume")),
        issue=text(work.get("issue")),
        pages=text(work.get("page")),
        doi=text(work.get("DOI")),
        source="crossref",
        pdf_candidates=_pdf_links(work),
    ).normalised()


def crossref_filter(query: SearchQuery) -> str | None:
    """``from-pub-date``/``until-pub-date`` for the years; ``has-full-text:true`` for open access
    (Crossref has no open-access filter: records without a PDF link are dropped afterwards)."""
    parts = []
    if query.year_from is not None:
        parts.append(f"from-pub-date:{query.year_from}")
    if query.year_to is not None:
        parts.append(f"until-pub-date:{query.year_to}")
    if query.open_access_only:
        parts.append("has-full-text:true")
    return ",".join(parts) or None


class Crossref(Source):
    name = "crossref"
    page_size = PAGE_SIZE

    def _open_http(self, config: SourceConfig, pacer: Pacer) -> SourceHttp:
        return SourceHttp(config, pacer, accept="application/json")

    def _params(self, query: SearchQuery) -> dict[str, str | int]:
        params: dict[str, str | int] = {"query.bibliographic": query.query, "select": SELECT}
        if (filters := crossref_filter(query)) is not None:
            params["filter"] = filters
        if self.config.contact_email:
            params["mailto"] = self.config.contact_email
        return params

    async def _raw_pages(self, query: SearchQuery, budget: Budget) -> AsyncGenerator[list[PaperRecord], None]:
        params, cursor = self._params(query), "*"
        while True:
            size = self.request_size(query, budget)
            body = await self.http.get_json(
                f"{self.base_url}/works", {**params, "rows": size, "cursor": cursor}
            )
            message = as_dict(body.get("message"))
            if self.total is None:
                self.total = integer(message.get("total-results"))
            records = [record_from_crossref(item) for item in as_list(message.get("items"))]
            if not records:
                return
            yield records
            following = text(message.get("next-cursor"))
            if following is None:
                return
            cursor = following
