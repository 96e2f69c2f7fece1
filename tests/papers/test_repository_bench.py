"""How fast the upsert is, on both stores, at the API's largest import (10,000 records), and how long
one SQLite write transaction is held meanwhile (claims and progress reports wait that long at most).

A benchmark (``-m bench``): ``pytest tests/papers/test_repository_bench.py -m bench -s`` prints the
figures. The target is 5,000 papers/s on SQLite.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import cast

import pytest

from taskapi.papers import PaperRecord, PapersRepository
from taskapi.store.base import Store
from taskapi.store.db import Tx
from tests.papers.conftest import LIBRARY_DIALECTS, library_store_of

pytestmark = pytest.mark.bench

COUNT = 10_000
WORDS = ["graph", "neural", "network", "attention", "transformer", "retrieval", "corpus", "citation", "model"]


def realistic(count: int, source: str) -> list[PaperRecord]:
    """Records shaped like a source's: a title, a 1,500-character abstract, five authors, a DOI, for
    every third an arXiv id, an S2 id and two PDF candidates."""
    records = []
    for n in range(count):
        words = [WORDS[(n * 7 + k) % len(WORDS)] for k in range(12)]
        records.append(
            PaperRecord(
                title=f"{' '.join(words).capitalize()} number {n}",
                abstract=" ".join(WORDS[(n + k) % len(WORDS)] for k in range(170)),
                authors=[f"Author {n % 97} {k}" for k in range(5)],
                year=2000 + n % 25,
                venue="Proceedings of a Conference",
                doi=f"10.5555/bench.{n}",
                arxiv_id=f"2101.{n:05d}" if n % 3 == 0 else None,
                s2_id=hashlib.sha1(str(n).encode(), usedforsecurity=False).hexdigest(),
                source=source,
                pdf_candidates=[f"https://example.org/{n}.pdf", f"https://mirror.example.org/{n}.pdf"],
            )
        )
    return records


class Timed:
    """The store, timing every write transaction from ``BEGIN`` to the end of ``COMMIT``."""

    def __init__(self, store: Store) -> None:
        self.store, self.dialect = store, store.dialect
        self.held: list[float] = []

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        started = time.perf_counter()
        with self.store.transaction() as tx:
            yield tx
        self.held.append(time.perf_counter() - started)

    def reading(self) -> AbstractContextManager[Tx]:
        return self.store.reading()


@pytest.mark.parametrize("dialect", LIBRARY_DIALECTS)
def test_import_of_ten_thousand_records(dialect: str, tmp_path: Path) -> None:
    with library_store_of(dialect, tmp_path) as store:
        timed = Timed(store)
        papers = PapersRepository(cast(Store, timed))
        figures = {}
        for label, records in (
            ("cold", realistic(COUNT, "semantic_scholar")),
            ("re-import, another source (every paper enriched)", realistic(COUNT, "openalex")),
            ("re-import, same records (nothing changes)", realistic(COUNT, "openalex")),
        ):
            timed.held.clear()
            started = time.perf_counter()
            result = papers.import_records(1, records)
            elapsed = time.perf_counter() - started
            figures[label] = COUNT / elapsed
            print(
                f"\n{dialect} {label}: {COUNT / elapsed:,.0f} papers/s ({elapsed:.2f} s), "
                f"write transactions: median {statistics.median(timed.held) * 1000:.0f} ms, "
                f"longest {max(timed.held) * 1000:.0f} ms; created {result.created}"
            )
        assert papers.project_count(1) == COUNT
    if dialect == "sqlite":
        assert figures["cold"] >= 5_000
