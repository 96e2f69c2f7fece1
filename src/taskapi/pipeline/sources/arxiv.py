"""arXiv's query API: an Atom 1.0 feed, read with defusedxml (no DTD, so no entity bomb and no external
entity) and by namespace URI. Paged by ``start``; one connection, as arXiv asks."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from taskapi.papers.records import PaperRecord, clean_text, normalise_arxiv_id, normalise_year
from taskapi.pipeline.sources._fields import integer, urls
from taskapi.pipeline.sources._http import Params, SourceHttp
from taskapi.pipeline.sources.base import Budget, Source
from taskapi.pipeline.sources.model import SearchQuery, SourceConfig, SourceError
from taskapi.pipeline.sources.pacing import Pacer

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
PAGE_SIZE = 200
"""Entries per request: arXiv serves up to 2,000, but large pages are slow and fail more often."""
FIRST_YEAR, LAST_YEAR = 1991, 2999
"""The bounds an open side of a year range gets (arXiv's ``submittedDate`` wants both)."""

_TOKEN = re.compile(r'"[^"]*"|[^\s"]+')
_FIELD = re.compile(r"^(?:ti|au|abs|co|jr|cat|rn|id|all):\S", re.IGNORECASE)


def _term(token: str) -> str | None:
    if token.startswith('"'):
        phrase = " ".join(token.strip('"').split())
        return f'all:"{phrase}"' if phrase else None
    word = token.strip("()")
    if not word:
        return None
    return word if _FIELD.match(word) else f"all:{word}"


def _groups(text: str) -> list[str]:
    """The ``OR``-separated groups of ``text``, each group's terms ANDed (``NOT`` as ``ANDNOT``)."""
    groups: list[list[str]] = [[]]
    operator = "AND"
    for token in _TOKEN.findall(text):
        if token == "OR":  # noqa: S105 (an operator, not a password)
            groups.append([])
        elif token in ("NOT", "ANDNOT", "AND"):
            operator = "AND" if token == "AND" else "ANDNOT"  # noqa: S105
            continue
        elif term := _term(token):
            groups[-1].append(f"{operator} {term}" if groups[-1] else term)
        operator = "AND"
    return [f"({' '.join(g)})" if len(g) > 1 else g[0] for g in groups if g]


def arxiv_search_query(query: SearchQuery) -> str:
    """The query in arXiv's syntax: words and quoted phrases as ``all:`` terms, ANDed; ``OR`` between
    groups; ``NOT`` as ``ANDNOT``; terms already fielded (``ti:graph``) kept; the years as a
    ``submittedDate`` range (arXiv wants both ends: an open one gets 1991 or 2999)."""
    groups = _groups(query.query)
    phrase = " ".join(query.query.replace('"', " ").split())
    search = " OR ".join(groups) or f'all:"{phrase}"'  # nothing but operators: searched as a phrase
    if query.year_from is None and query.year_to is None:
        return search
    first = query.year_from if query.year_from is not None else FIRST_YEAR
    last = query.year_to if query.year_to is not None else LAST_YEAR
    group = f"({search})" if len(groups) > 1 else search
    return f"{group} AND submittedDate:[{first}01010000 TO {last}12312359]"


def _parse(body: bytes) -> Element:
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        refused = type(exc).__name__
        raise SourceError(f"bad XML from arxiv: {refused} (DTDs and entities are refused)") from None
    except ParseError as exc:
        raise SourceError(f"bad XML from arxiv: {exc}") from None
    if root.tag != f"{ATOM}feed":
        raise SourceError("bad XML from arxiv: not an Atom feed")
    return root


def _error_message(entries: list[Element]) -> str | None:
    """arXiv reports an error as a feed whose one entry is titled ``Error``; its summary says why."""
    if len(entries) != 1 or (entries[0].findtext(f"{ATOM}title") or "").strip() != "Error":
        return None
    return clean_text(entries[0].findtext(f"{ATOM}summary"), 200) or "unknown error"


def record_from_entry(entry: Element) -> PaperRecord:
    """One entry: the id without its version, the hard-wrapped title and summary unwrapped, the PDF
    link (``https://arxiv.org/pdf/<id>`` when the entry has none)."""
    arxiv_id = normalise_arxiv_id(entry.findtext(f"{ATOM}id"))
    links = entry.findall(f"{ATOM}link")
    pdf = next((link.get("href") for link in links if link.get("title") == "pdf"), None)
    fallback = f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None
    authors = [author.findtext(f"{ATOM}name") for author in entry.findall(f"{ATOM}author")]
    return PaperRecord(
        title=entry.findtext(f"{ATOM}title"),
        abstract=entry.findtext(f"{ATOM}summary"),
        authors=[name for name in authors if name],
        year=normalise_year(entry.findtext(f"{ATOM}published")),
        doi=entry.findtext(f"{ARXIV}doi"),
        arxiv_id=arxiv_id,
        oa_status="green",
        source="arxiv",
        pdf_candidates=urls(pdf) or urls(fallback),
    ).normalised()


def parse_feed(body: bytes) -> tuple[list[PaperRecord], int | None]:
    """The records of one page and the total the feed reports; ``SourceError`` for an error feed or
    anything that is not a well-formed Atom feed."""
    root = _parse(body)
    entries = root.findall(f"{ATOM}entry")
    message = _error_message(entries)
    if message is not None:
        raise SourceError(f"arxiv error: {message}")
    total = integer(root.findtext(f"{OPENSEARCH}totalResults"))
    return [record_from_entry(entry) for entry in entries], total


def arxiv_error_detail(body: bytes) -> str | None:
    """The message of an error feed sent with a 4xx status."""
    try:
        return _error_message(_parse(body).findall(f"{ATOM}entry"))
    except SourceError:
        return None


class Arxiv(Source):
    name = "arxiv"
    page_size = PAGE_SIZE

    def _open_http(self, config: SourceConfig, pacer: Pacer) -> SourceHttp:
        return SourceHttp(
            config, pacer, accept="application/atom+xml", max_connections=1, error_detail=arxiv_error_detail
        )

    async def _raw_pages(self, query: SearchQuery, budget: Budget) -> AsyncGenerator[list[PaperRecord], None]:
        search, start, empty = arxiv_search_query(query), 0, 0
        while True:
            params: Params = {
                "search_query": search,
                "start": start,
                "max_results": self.request_size(query, budget),
            }
            records, total = parse_feed(await self.http.get(f"{self.base_url}/query", params))
            self.total = total if total is not None else self.total
            if records:
                yield records
                start += len(records)
                if self.total is not None and start >= self.total:
                    return
            elif self.total is None or start >= self.total:
                return
            elif (empty := empty + 1) > self.config.max_retries:  # arXiv sometimes answers an empty page
                raise SourceError(f"arxiv: empty page at {start} of {self.total} results, gave up retrying")
