"""The full-text index at scale: 100,000 papers with abstracts indexed from scratch and incrementally,
and ranked search latency, on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

    .venv/bin/python -m bench.index_search                       # both stores, 100,000 papers
    .venv/bin/python -m bench.index_search --papers 20000 --stores sqlite

The corpus is made up but shaped like English abstracts: words drawn from a Zipf distribution over a
vocabulary of 30,000 (a few hundred real English words, stopwords among them, at the top), titles of
6-14 words, abstracts of 120-220 words. Papers are imported through ``PapersRepository.import_records``
(as ``search`` imports them), then:

- ``index from scratch``: ``index_update`` of the whole project (seconds, papers/s);
- ``incremental``: 1,000 papers' titles edited (one UPDATE, the triggers queue them), then
  ``index_update`` again; and 1,000 papers given 10 pages of text each (``text_store``), then again;
- ``search``: 300 queries of the kinds people type (one word, two or three words, a phrase, a prefix,
  ``OR``, an exclusion) over words of every frequency, 50 results each (the list's default page) with
  snippets and papers, through ``PapersRepository.search``: p50, p99, max; and the same queries through
  ``GET /api/v1/papers?project_id=1&q=...`` on a real uvicorn server on 127.0.0.1 (one client).

Results: ``bench/results/index-search-<stamp>.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.common import DEFAULT_PG, ROOT, free_port, fresh_database, percentile, postgres_reachable
from taskapi.api import create_app
from taskapi.papers import PAPERS_COMPONENT, PageText, PaperRecord, PapersRepository
from taskapi.papers._search import STOPWORDS, parse_query, to_fts5, to_tsquery
from taskapi.papers.files import LocalFileStore
from taskapi.papers.service import PaperService
from taskapi.service import TaskService
from taskapi.store import Store, open_store

SEED = 20251111
VOCABULARY = 30_000
_COMMON_TEXT = """
    the of and in to a is for we that with on by this are as an be from our which these results model
    method data learning network using based show can paper approach two performance new models propose
    study analysis used system neural graph time high training deep between information problem methods
    different also proposed than large both effect task image language protein cell patients clinical
    energy quantum temperature surface design control algorithm optimization structure dynamics transfer
    attention features representation detection classification
"""
COMMON = _COMMON_TEXT.split()
_SYLLABLES_TEXT = "ka ri to me lu sa no vi de ra po li ne ta mo su ge ba ti co ro ze fa hu ki pe da mi lo"
SYLLABLES = _SYLLABLES_TEXT.split()


def vocabulary(rng: random.Random) -> list[str]:
    """``COMMON`` first (the head of the Zipf curve), then made-up words of 2-4 syllables."""
    words = list(dict.fromkeys(COMMON))
    seen = set(words)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_weights(n: int, s: float = 1.05) -> list[float]:
    cumulative, total = [], 0.0
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        cumulative.append(total)
    return cumulative


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.cumulative = zipf_weights(len(self.words))

    def text(self, low: int, high: int) -> str:
        count = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=count))

    def record(self) -> PaperRecord:
        title = self.text(6, 14).capitalize()
        return PaperRecord(title=title, abstract=self.text(120, 220) + ".", year=self.rng.randint(1990, 2025))

    def queries(self, count: int) -> list[str]:
        """Queries of every kind over words of every frequency (ranks 10..20,000, stopwords aside)."""
        rng = random.Random(SEED + 1)
        searchable = [word for word in self.words if word not in STOPWORDS]

        def word() -> str:
            return searchable[min(int(10 * 2000 ** rng.random()), len(searchable) - 1)]

        kinds: list[Callable[[], str]] = [
            lambda: word(),
            lambda: f"{word()} {word()}",
            lambda: f"{word()} {word()} {word()}",
            lambda: f'"{word()} {word()}"',
            lambda: f"{word()[:4]}*",
            lambda: f"{word()} OR {word()}",
            lambda: f"{word()} -{word()}",
        ]
        return [kinds[n % len(kinds)]() for n in range(count)]


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def latency(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2),
        "queries": len(ms),
    }


def load(papers: PapersRepository, corpus: Corpus, count: int) -> float:
    batch = 5_000
    seconds = 0.0
    for start in range(0, count, batch):
        records = [corpus.record() for _ in range(min(batch, count - start))]
        took, _ = timed(functools.partial(papers.import_records, 1, records))
        seconds += took
    return seconds


def edit_titles(store: Store, ids: list[int]) -> None:
    """1,000 papers edited at once (as a merge that fills their titles would): the triggers queue them."""
    with store.transaction() as tx:
        rows = [{"id": paper_id} for paper_id in ids]
        if store.dialect == "sqlite":
            tx.execute_many("UPDATE papers SET title = title || ' (revised)' WHERE id = :id", rows)
        else:
            tx.execute_many("UPDATE papers SET title = title || ' (revised)' WHERE id = %(id)s", rows)


def add_texts(papers: PapersRepository, corpus: Corpus, ids: list[int]) -> None:
    for paper_id in ids:
        pages = [PageText(n, corpus.text(400, 600), "text", None) for n in range(1, 11)]
        papers.text_store(paper_id, pages, fence=None)


KINDS = ("one word", "two words", "three words", "phrase", "prefix", "OR", "exclusion")
BUCKETS = ((0.01, "matches < 1%"), (0.10, "matches 1-10%"), (1.01, "matches > 10%"))


def matches(store: Store, q: str) -> int:
    """How many documents ``q`` matches (the work an exact ranking cannot skip)."""
    query = parse_query(q)
    with store.reading() as tx:
        if store.dialect == "sqlite":
            sql = "SELECT count(*) AS n FROM paper_fts WHERE paper_fts MATCH :m"
            params = {"m": to_fts5(query)}
        else:
            sql = "SELECT count(*) AS n FROM paper_search WHERE document @@ to_tsquery(%(c)s, %(m)s)"
            params = {"c": "taskapi_english", "m": to_tsquery(query)}
        row = tx.fetch_one(sql, params)
    return int(row["n"]) if row else 0


def search_latency(store: Store, papers: PapersRepository, queries: list[str], total: int) -> dict[str, Any]:
    """p50/p99 over all queries, per kind of query and per share of the library a query matches."""
    for q in queries[:20]:  # warm the caches as a running server has them
        papers.search(1, q, limit=50)
    samples: list[float] = []
    by_kind: dict[str, list[float]] = {}
    by_bucket: dict[str, list[float]] = {}
    hits = 0
    for n, q in enumerate(queries):
        took, found = timed(functools.partial(papers.search, 1, q, limit=50))
        samples.append(took)
        hits += len(found)
        by_kind.setdefault(KINDS[n % len(KINDS)], []).append(took)
        share = matches(store, q) / total
        bucket = next(name for bound, name in BUCKETS if share < bound)
        by_bucket.setdefault(bucket, []).append(took)
    return {
        **latency(samples),
        "mean_hits": round(hits / len(queries), 1),
        "by_kind": {kind: latency(values) for kind, values in by_kind.items()},
        "by_match_share": {name: latency(by_bucket[name]) for _, name in BUCKETS if name in by_bucket},
    }


@contextmanager
def serving(store: Store, data_dir: Path) -> Iterator[str]:
    service = PaperService(PapersRepository(store), LocalFileStore(data_dir))
    app = create_app(TaskService(store), papers=service)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def http_latency(store: Store, data_dir: Path, queries: list[str]) -> dict[str, float]:
    async def measure(url: str) -> list[float]:
        samples = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for q in queries[:20]:
                await client.get("/api/v1/papers", params={"project_id": 1, "q": q})
            for q in queries:
                start = time.perf_counter()
                response = await client.get("/api/v1/papers", params={"project_id": 1, "q": q})
                samples.append(time.perf_counter() - start)
                response.raise_for_status()
        return samples

    with serving(store, data_dir) as url:
        return latency(asyncio.run(measure(url)))


def measure(store: Store, count: int, data_dir: Path) -> dict[str, Any]:
    store.migrate([PAPERS_COMPONENT])
    papers = PapersRepository(store)
    corpus = Corpus(SEED)
    out: dict[str, Any] = {"papers": count}
    out["import_s"] = round(load(papers, corpus, count), 2)
    took, result = timed(lambda: papers.index_update(1, rebuild=False, fence=None))
    out["index_scratch_s"] = round(took, 2)
    out["index_scratch_papers_per_s"] = round(result.indexed / took)
    rng = random.Random(SEED + 2)
    changed = rng.sample(range(1, count + 1), 1000)
    edit_titles(store, changed)
    took, result = timed(lambda: papers.index_update(1, rebuild=False, fence=None))
    out["index_incremental_1000_titles_s"] = round(took, 3)
    assert result.indexed == 1000, result
    add_texts(papers, corpus, changed)
    took, result = timed(lambda: papers.index_update(1, rebuild=False, fence=None))
    out["index_incremental_1000_texts_s"] = round(took, 3)
    out["documents_with_fulltext"] = result.documents_with_fulltext
    took, result = timed(lambda: papers.index_update(1, rebuild=False, fence=None))
    out["index_nothing_changed_s"] = round(took, 4)
    queries = corpus.queries(300)
    out["search"] = search_latency(store, papers, queries, count)
    out["search_http"] = http_latency(store, data_dir, queries)
    return out


def run_store(name: str, count: int, admin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if name == "sqlite":
            store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
            try:
                return measure(store, count, Path(tmp) / "data")
            finally:
                store.close()
        with fresh_database(admin, "index") as url:
            store = open_store(url)
            try:
                return measure(store, count, Path(tmp) / "data")
            finally:
                store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--postgres", default=DEFAULT_PG)
    args = parser.parse_args()
    results: dict[str, Any] = {"papers": args.papers, "stores": {}}
    for name in args.stores.split(","):
        if name == "postgres" and postgres_reachable(args.postgres) is not None:
            print("postgres: unreachable, skipped")
            continue
        results["stores"][name] = run_store(name, args.papers, args.postgres)
        print(name, json.dumps(results["stores"][name], indent=1))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = ROOT / "bench" / "results" / f"index-search-{stamp}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
