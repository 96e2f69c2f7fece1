"""The generated works of the replay server (``tests/pipeline/source_server.py``) and each source's
shape for one: the recorded shapes of ``fixtures/sources/``, field for field (a test holds them equal).

A work is the same in every source (DOI, arXiv id, title), as a real paper found by several sources is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

_WORDS = (
    *("graph", "sparse", "retrieval", "protein", "causal", "quantum", "federated", "latent", "robust"),
    *("adaptive", "kernel", "bayesian", "spectral", "contrastive", "diffusion", "symbolic", "temporal"),
    *("multilingual", "privacy", "ontology", "genomic", "tensor", "reinforcement", "evolutionary"),
    *("clinical", "acoustic", "lattice", "stochastic", "attention", "transfer", "hierarchical"),
    *("topological", "variational", "curriculum", "semantic", "optical", "molecular", "streaming"),
)
_GIVEN = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Leslie", "Radia", "Tim", "Shafi")
_FAMILY = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Lamport",
    "Perlman",
    "Pearl",
)
_VENUES = ("Journal of Replayed Results", "Proceedings of Test Conference", "Annals of Fixtures")


@dataclass(frozen=True)
class Work:
    """One generated work, the same in every source that finds it."""

    index: int
    title: str
    abstract: str | None
    authors: tuple[str, ...]
    year: int
    doi: str
    arxiv_id: str
    venue: str
    pdf_url: str | None
    """Where the sources say its PDF is (under ``/files``: ``set_file`` it to serve one)."""


def make_work(query: str, index: int, files_url: str) -> Work:
    """Work ``index`` of ``query``: deterministic, titles far apart (dedup must not merge two works)."""
    digest = hashlib.sha256(f"{query}\n{index}".encode()).digest()
    key = hashlib.sha256(query.encode()).hexdigest()[:8]
    words = [_WORDS[b % len(_WORDS)] for b in digest[:6]]
    year = 2000 + digest[6] % 25
    authors = tuple(
        f"{_GIVEN[b % len(_GIVEN)]} {_FAMILY[(b // 16) % len(_FAMILY)]}"
        for b in digest[7 : 8 + digest[8] % 3]
    )
    abstract = None if index % 7 == 6 else f"We study {query} with {' and '.join(words)} ideas, case {index}."
    return Work(
        index=index,
        title=f"{query.strip().capitalize()}: {' '.join(words)}",
        abstract=abstract,
        authors=authors,
        year=year,
        doi=f"10.5555/{key}.{index}",
        arxiv_id=f"{year % 100:02d}{1 + index % 12:02d}.{(int(key, 16) + index) % 100_000:05d}",
        venue=_VENUES[digest[9] % len(_VENUES)],
        pdf_url=None if index % 5 == 4 else f"{files_url}/{key}/{index}.pdf",
    )


def plain_query(search_query: str) -> str:
    """The words a client turned into ``(all:machine AND all:learning) AND submittedDate:[...]``, so an
    arXiv search finds the same works as the other sources."""
    text = re.sub(r"\s*AND submittedDate:\[[^\]]*\]", "", search_query)
    text = re.sub(r"\b(?:all|ti|abs|au):", "", text).replace("ANDNOT", "NOT").replace(" AND ", " ")
    return " ".join(text.replace("(", " ").replace(")", " ").split())


def s2_paper(work: Work) -> dict[str, Any]:
    pdf = work.pdf_url
    return {
        "paperId": hashlib.sha1(work.doi.encode(), usedforsecurity=False).hexdigest(),
        "externalIds": {"DOI": work.doi, "ArXiv": work.arxiv_id, "CorpusId": 100_000 + work.index},
        "title": work.title,
        "abstract": work.abstract,
        "venue": work.venue,
        "year": work.year,
        "publicationDate": f"{work.year}-03-01",
        "isOpenAccess": pdf is not None,
        "openAccessPdf": {
            "url": pdf or "",
            "status": "GREEN" if pdf else None,
            "license": None,
            "disclaimer": "",
        },
        "authors": [{"authorId": str(1000 + i), "name": name} for i, name in enumerate(work.authors)],
    }


def arxiv_entry(work: Work) -> str:
    pdf = work.pdf_url  # none: the client falls back to https://arxiv.org/pdf/<id>
    authors = "".join(f"<author><name>{escape(name)}</name></author>" for name in work.authors)
    return (
        f"<entry><id>http://arxiv.org/abs/{work.arxiv_id}v1</id><title>{escape(work.title)}</title>"
        f"<updated>{work.year}-03-01T00:00:00Z</updated><summary>{escape(work.abstract or '')}</summary>"
        f'<link href="http://arxiv.org/abs/{work.arxiv_id}v1" rel="alternate" type="text/html"/>'
        + (f'<link title="pdf" href={quoteattr(pdf)} rel="related" type="application/pdf"/>' if pdf else "")
        + f"<published>{work.year}-03-01T00:00:00Z</published>{authors}"
        f"<arxiv:doi>{work.doi}</arxiv:doi></entry>"
    )


def openalex_work(work: Work) -> dict[str, Any]:
    key = int(work.doi.split("/")[1].split(".")[0], 16) % 1_000_000
    pdf, wid = work.pdf_url, f"https://openalex.org/W{key * 100_000 + work.index}"
    words = (work.abstract or "").split()
    location = {"is_oa": pdf is not None, "landing_page_url": f"https://doi.org/{work.doi}", "pdf_url": pdf}
    location["source"] = {"id": "https://openalex.org/S1", "display_name": work.venue, "type": "journal"}
    return {
        "id": wid,
        "doi": f"https://doi.org/{work.doi}",
        "title": work.title,
        "display_name": work.title,
        "publication_year": work.year,
        "publication_date": f"{work.year}-03-01",
        "ids": {"openalex": wid, "doi": f"https://doi.org/{work.doi}"},
        "primary_location": location,
        "best_oa_location": location if pdf else None,
        "open_access": {"is_oa": pdf is not None, "oa_status": "green" if pdf else "closed", "oa_url": pdf},
        "authorships": [
            {
                "author_position": "first" if i == 0 else "middle",
                "author": {"display_name": name},
                "institutions": [],
            }
            for i, name in enumerate(work.authors)
        ],
        "biblio": {"volume": str(work.index % 40 + 1), "issue": "2", "first_page": "10", "last_page": "19"},
        "abstract_inverted_index": {w: [i for i, x in enumerate(words) if x == w] for w in words} or None,
    }


def crossref_work(work: Work) -> dict[str, Any]:
    given_family = [name.split(" ", 1) for name in work.authors]
    links = (
        [{"URL": work.pdf_url, "content-type": "application/pdf", "content-version": "vor"}]
        if work.pdf_url
        else []
    )
    return {
        "DOI": work.doi,
        "type": "journal-article",
        "title": [work.title],
        "container-title": [work.venue],
        "volume": str(work.index % 40 + 1),
        "issue": "2",
        "page": "10-19",
        "abstract": f"<jats:p>{escape(work.abstract)}</jats:p>" if work.abstract else None,
        "author": [{"given": g, "family": f, "sequence": "additional"} for g, f in given_family],
        "issued": {"date-parts": [[work.year, 3, 1]]},
        "published": {"date-parts": [[work.year, 3, 1]]},
        "link": links,
        "URL": f"https://doi.org/{work.doi}",
    }
