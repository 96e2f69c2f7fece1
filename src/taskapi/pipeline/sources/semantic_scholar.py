"""Semantic Scholar's Graph API: the relevance search for up to 100 records, the bulk search (1,000
per call, paged by ``token``) past that. Its field names are mapped in ``record_from_s2`` alone."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

from taskapi.papers.records import PaperRecord, normalise_year
from taskapi.pipeline.sources._fields import as_dict, as_list, integer, text, urls
from taskapi.pipeline.sources._http import Params, SourceHttp
from taskapi.pipeline.sources.base import Budget, Source
from taskapi.pipeline.sources.model import SearchQuery, SourceConfig
from taskapi.pipeline.sources.pacing import Pacer

FIELDS = "paperId,externalIds,title,abstract,year,venue,publicationDate,authors,isOpenAccess,openAccessPdf"
RELEVANCE_PAGE = 100
"""The relevance search's largest ``limit``; a search for more records uses the bulk search."""
RELEVANCE_WINDOW = 1_000
"""The relevance search answers only while ``offset + limit`` stays under this."""
BULK_PAGE = 1_000


def _name(author: object) -> str | None:
    return text(as_dict(author).get("name"))


def record_from_s2(item: object) -> PaperRecord:
    """One paper of a search answer. ``openAccessPdf.url`` may be ``""`` and ``abstract`` null."""
    paper = as_dict(item)
    ids = as_dict(paper.get("externalIds"))
    pdf = as_dict(paper.get("openAccessPdf"))
    status = text(pdf.get("status"))
    return PaperRecord(
        title=text(paper.get("title")),
        abstract=text(paper.get("abstract")),
        authors=[name for author in as_list(paper.get("authors")) if (name := _name(author))],
        year=normalise_year(paper.get("year")) or normalise_year(paper.get("publicationDate")),
        venue=text(paper.get("venue")),
        doi=text(ids.get("DOI")),
        arxiv_id=text(ids.get("ArXiv")),
        s2_id=text(paper.get("paperId")),
        pmid=text(ids.get("PubMed")),
        oa_status=status.lower() if status else None,
        source="semantic_scholar",
        pdf_candidates=urls(pdf.get("url")),
    ).normalised()


_CLAUSES = re.compile(r'"[^"]*"|\S+')


def bulk_query(text: str) -> str:
    """The query in the bulk search's syntax: its OR is ``|`` (a bare ``OR`` is a word there, ANDed
    with the rest), so ``machine learning OR "graph network" OR gnn`` becomes
    ``(machine learning) | "graph network" | gnn``. A query without ``OR`` passes as it is."""
    clauses: list[list[str]] = [[]]
    for word in _CLAUSES.findall(text):
        if word == "OR":
            clauses.append([])
        else:
            clauses[-1].append(word)
    groups = [" ".join(clause) for clause in clauses if clause]
    if len(groups) < 2:
        return text
    return " | ".join(f"({group})" if " " in group and not _is_phrase(group) else group for group in groups)


def _is_phrase(group: str) -> bool:
    return group.startswith('"') and group.endswith('"') and group.count('"') == 2


def s2_filters(query: SearchQuery) -> dict[str, str]:
    """``year`` as ``2019-2024``, ``2019-``, ``-2024`` or ``2020``; ``openAccessPdf`` (no value) when only
    papers with a public PDF are wanted."""
    filters: dict[str, str] = {}
    first, last = query.year_from, query.year_to
    if first is not None and first == last:
        filters["year"] = str(first)
    elif first is not None or last is not None:
        filters["year"] = f"{first if first is not None else ''}-{last if last is not None else ''}"
    if query.open_access_only:
        filters["openAccessPdf"] = ""
    return filters


class SemanticScholar(Source):
    name = "semantic_scholar"
    page_size = RELEVANCE_PAGE

    def _open_http(self, config: SourceConfig, pacer: Pacer) -> SourceHttp:
        return SourceHttp(config, pacer, accept="application/json", api_key_header="x-api-key")

    def page_size_for(self, query: SearchQuery) -> int:
        return RELEVANCE_PAGE if query.limit <= RELEVANCE_PAGE else BULK_PAGE

    def _raw_pages(self, query: SearchQuery, budget: Budget) -> AsyncGenerator[list[PaperRecord], None]:
        if query.limit <= RELEVANCE_PAGE:
            return self._relevance_pages(query, budget)
        return self._bulk_pages(query)

    async def _relevance_pages(
        self, query: SearchQuery, budget: Budget
    ) -> AsyncGenerator[list[PaperRecord], None]:
        offset = 0
        while (size := min(self.request_size(query, budget), RELEVANCE_WINDOW - 1 - offset)) > 0:
            params: Params = {**s2_filters(query), "query": query.query, "fields": FIELDS}
            body = await self.http.get_json(
                f"{self.base_url}/paper/search", {**params, "offset": offset, "limit": size}
            )
            records = self._records(body)
            yield records
            following = integer(body.get("next"))  # absent on the last page
            if following is None or following <= offset or not records:
                return
            offset = following

    async def _bulk_pages(self, query: SearchQuery) -> AsyncGenerator[list[PaperRecord], None]:
        params: dict[str, str | int] = {
            **s2_filters(query),
            "query": bulk_query(query.query),
            "fields": FIELDS,
        }
        while True:
            body = await self.http.get_json(f"{self.base_url}/paper/search/bulk", params)
            records = self._records(body)
            yield records
            token = text(body.get("token"))  # no token: the last page
            if token is None or not records:
                return
            params["token"] = token

    def _records(self, body: dict[str, Any]) -> list[PaperRecord]:
        if self.total is None:
            self.total = integer(body.get("total"))  # sometimes a string
        return [record_from_s2(item) for item in as_list(body.get("data"))]
