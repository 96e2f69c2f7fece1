"""OpenAlex's works search, paged by ``cursor`` until ``meta.next_cursor`` is null. Its field names
are mapped in ``record_from_openalex`` alone; the key goes in the ``api_key`` parameter."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from taskapi.papers.records import PaperRecord, normalise_year
from taskapi.pipeline.sources._fields import (
    abstract_from_inverted_index,
    as_dict,
    as_list,
    dig,
    integer,
    page_range,
    text,
    trailing_digits,
    urls,
)
from taskapi.pipeline.sources._http import SourceHttp
from taskapi.pipeline.sources.base import Budget, Source
from taskapi.pipeline.sources.model import SearchQuery, SourceConfig
from taskapi.pipeline.sources.pacing import Pacer

PAGE_SIZE = 100
SELECT = (
    "id,doi,title,display_name,publication_year,publication_date,ids,authorships,biblio,"
    "abstract_inverted_index,primary_location,best_oa_location,open_access"
)
"""Only the fields mapped: a tenth of a full work's bytes."""


def _author(authorship: object) -> str | None:
    return text(dig(authorship, "author", "display_name")) or text(dig(authorship, "raw_author_name"))


def record_from_openalex(item: object) -> PaperRecord:
    """One work: ``doi`` is a URL, the abstract an inverted index, ``best_oa_location.pdf_url`` may be
    null (then ``open_access.oa_url`` is the only candidate)."""
    work = as_dict(item)
    biblio = as_dict(work.get("biblio"))
    return PaperRecord(
        title=text(work.get("title")) or text(work.get("display_name")),
        abstract=abstract_from_inverted_index(work.get("abstract_inverted_index")),
        authors=[name for authorship in as_list(work.get("authorships")) if (name := _author(authorship))],
        year=normalise_year(work.get("publication_year")) or normalise_year(work.get("publication_date")),
        venue=text(dig(work, "primary_location", "source", "display_name")),
        volume=text(biblio.get("volume")),
        issue=text(biblio.get("issue")),
        pages=page_range(biblio.get("first_page"), biblio.get("last_page")),
        doi=text(work.get("doi")) or text(dig(work, "ids", "doi")),
        openalex_id=text(work.get("id")),
        pmid=trailing_digits(dig(work, "ids", "pmid")),
        oa_status=text(dig(work, "open_access", "oa_status")),
        source="openalex",
        pdf_candidates=urls(dig(work, "best_oa_location", "pdf_url"), dig(work, "open_access", "oa_url")),
    ).normalised()


def openalex_filter(query: SearchQuery) -> str | None:
    """``from_publication_date``/``to_publication_date`` for the years, ``is_oa:true`` for open access."""
    parts = []
    if query.year_from is not None:
        parts.append(f"from_publication_date:{query.year_from}-01-01")
    if query.year_to is not None:
        parts.append(f"to_publication_date:{query.year_to}-12-31")
    if query.open_access_only:
        parts.append("is_oa:true")
    return ",".join(parts) or None


class OpenAlex(Source):
    name = "openalex"
    page_size = PAGE_SIZE

    def _open_http(self, config: SourceConfig, pacer: Pacer) -> SourceHttp:
        return SourceHttp(config, pacer, accept="application/json", api_key_param="api_key")

    def _params(self, query: SearchQuery) -> dict[str, str | int]:
        params: dict[str, str | int] = {"search": query.query, "select": SELECT}
        if (filters := openalex_filter(query)) is not None:
            params["filter"] = filters
        if self.config.contact_email:
            params["mailto"] = self.config.contact_email  # OpenAlex's polite pool
        return params

    async def _raw_pages(self, query: SearchQuery, budget: Budget) -> AsyncGenerator[list[PaperRecord], None]:
        params, cursor = self._params(query), "*"
        while True:
            size = self.request_size(query, budget)
            body = await self.http.get_json(
                f"{self.base_url}/works", {**params, "per_page": size, "cursor": cursor}
            )
            records = self._records(body)
            yield records
            following = text(dig(body, "meta", "next_cursor"))
            if following is None or not records:
                return
            cursor = following

    def _records(self, body: dict[str, Any]) -> list[PaperRecord]:
        if self.total is None:
            self.total = integer(dig(body, "meta", "count"))
        return [record_from_openalex(item) for item in as_list(body.get("results"))]
