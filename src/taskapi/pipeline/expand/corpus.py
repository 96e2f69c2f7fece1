"""The project's indexed documents as the expansion reads them: the interface it needs of the library,
the text of a document, and the one counting pass both methods share (document frequencies of a set
of candidate terms, streamed, with progress).

The library (``PapersRepository``) satisfies ``Corpus``; tests pass lists of documents. Every text is
bounded: a body longer than ``MAX_BODY_CHARS`` counts by its beginning only, so one enormous OCR dump
cannot stall a run, and a run over full texts stays proportional to the number of papers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol

from taskapi.pipeline.expand.query import QueryTerms
from taskapi.pipeline.expand.tokens import Bigram, Term, Vocabulary

MAX_BODY_CHARS = 20_000
"""How much of a document's body (its pages joined) the counts read: about five dense pages."""
PROGRESS_EVERY = 1_000
"""Documents between two progress reports (each one also a chance to notice a cancel)."""
READ_BATCH = 1_000


class Document(Protocol):
    """An indexed document (``taskapi.papers.IndexedDocument`` is one)."""

    @property
    def paper_id(self) -> int: ...
    @property
    def title(self) -> str | None: ...
    @property
    def abstract(self) -> str | None: ...
    @property
    def body(self) -> str | None: ...
    @property
    def score(self) -> float: ...


class Corpus(Protocol):
    """What the expansion reads of the library (``taskapi.papers.PapersRepository``)."""

    def search_documents(self, project_id: int, q: str, *, limit: int) -> Sequence[Document]: ...
    def index_documents(self, project_id: int, *, batch: int = ...) -> Iterator[Document]: ...
    def index_size(self, project_id: int) -> int: ...


Progress = Callable[[int, int], None]
"""``progress(done, total)`` in documents read."""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def document_text(document: Document) -> str:
    """Title, abstract and the beginning of the body, as separate phrases (no bigram joins them)."""
    body = _text(document.body)[:MAX_BODY_CHARS]
    return f"{_text(document.title)} . {_text(document.abstract)} . {body}"


@dataclass(slots=True)
class Reading:
    """Progress over one or more passes: ``done`` counts every document read, ``total`` what the
    passes are expected to read (it grows if the library grew meanwhile)."""

    total: int
    report: Progress | None = None
    done: int = 0

    def read(self, documents: Iterable[Document]) -> Iterator[Document]:
        """``documents``, counting each and reporting every ``PROGRESS_EVERY`` (and at the end)."""
        for document in documents:
            yield document
            self.done += 1
            if self.done % PROGRESS_EVERY == 0:
                self.tell()
        self.tell()

    def tell(self) -> None:
        if self.report is not None:
            self.total = max(self.total, self.done)
            self.report(self.done, self.total)


@dataclass(slots=True)
class Frequencies:
    """Over ``documents`` documents: how many hold each candidate term (``df``) and, when a query was
    given, how many match it (``matching``) and how many hold each candidate and match (``together``)."""

    documents: int = 0
    matching: int = 0
    df: Counter[Term] = field(default_factory=Counter)
    together: Counter[Term] = field(default_factory=Counter)


def keys_stream(documents: Iterable[Document], vocabulary: Vocabulary) -> Iterator[list[str]]:
    """Each document's key list, in order (tokenised once, whatever reads them)."""
    for document in documents:
        yield vocabulary.keys_of(document_text(document))


def count_frequencies(
    documents: Iterable[list[str]],
    words: set[str],
    pairs: set[Bigram],
    *,
    within: QueryTerms | None = None,
) -> Frequencies:
    """In how many documents (key lists) each candidate unigram (``words``) and bigram (``pairs``)
    occurs (and, with ``within``, in how many of those matching that query).

    The hot loop of both methods: a document costs a few set operations at C speed (its tokenisation
    is ``keys_stream``'s); the query's words join the unigram candidates, so matching costs no second
    look.
    """
    counted = Frequencies()
    wanted = words | within.keys if within is not None else words
    for keys in documents:
        counted.documents += 1
        found = wanted.intersection(keys)
        tally = counted.df
        if within is not None:
            if within.matches(found):
                counted.matching += 1
                tally = counted.together
            found &= words
        tally.update(found)
        tally.update(pairs.intersection(pairwise(keys)))
    counted.df.update(counted.together)  # df: the documents that match and those that do not
    return counted
