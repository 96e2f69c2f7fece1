"""``keyword_expand`` at scale: 100,000 synthetic papers with abstracts, both methods timed.

    .venv/bin/python -m bench.keyword_expand                          # 100,000 papers, in memory + SQLite
    .venv/bin/python -m bench.keyword_expand --stores memory,sqlite,postgres --papers 20000

The papers are made up but shaped like abstracts: a title and 120-250 words, English function words
between the content words, commas and full stops; the content words drawn (Zipf) from 30,000 made-up
words, a third of them from the paper's subject (one of 100 subjects, each with its own words and
two-word terms). 5% of the papers are about graph neural networks: they share the words of subject
0, and only they use the planted terms ("message passing", "node classification", ...); the query
is ``graph neural network``.

Measured per store: seconds (wall and CPU) of ``expand()`` for ``prf`` and for ``cooccurrence``
(target <= 5 s each at 100,000), the memory it took (peak RSS growth), and how many of the ten terms
belong to the query's subject (the planted terms and the words of subject 0); the machine's load
average is recorded with them. ``memory`` reads the papers from a
list (the algorithms alone); ``sqlite`` / ``postgres`` import them into a real library, index it (not
timed), and read it through ``PapersRepository`` as the handler does. Results:
``bench/results/keyword-expand-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_PG, ROOT, fresh_database
from taskapi.papers import PAPERS_COMPONENT, PaperRecord, PapersRepository
from taskapi.pipeline.expand import Corpus, ExpandOptions, expand, load_stopwords
from taskapi.store import open_store

SEED = 20250611
QUERY = "graph neural network"
PLANTED = [
    "message passing",
    "node classification",
    "graph convolution",
    "link prediction",
    "over-smoothing",
    "node embedding",
    "graph attention",
    "molecular property",
]
TOPIC_SHARE = 0.05
TARGET_SECONDS = 5.0
_LETTERS = "karitomelusanovideraponelinetamosugebaticorofazuhi"
SYLLABLES = [_LETTERS[at : at + 2] for at in range(0, len(_LETTERS), 2)]


@dataclass(frozen=True, slots=True)
class Paper:
    paper_id: int
    title: str
    abstract: str
    body: str = ""
    score: float = 0.0


class Maker:
    """Deterministic synthetic abstracts (see the module)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = sorted({self._word() for _ in range(32_000)})[:30_000]
        self.cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(self.words))))
        self.stop = sorted(w for w in load_stopwords() if len(w) <= 5)
        self.topics = [self._topic() for _ in range(100)]

    def _word(self) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4)))

    def _topic(self) -> tuple[list[str], list[str]]:
        words = self.rng.sample(self.words[500:], 30)
        pairs = [f"{self.rng.choice(self.words[200:])} {self.rng.choice(words)}" for _ in range(10)]
        return words, pairs

    def sentence(self, topic: tuple[list[str], list[str]], length: int) -> str:
        rng = self.rng
        common = rng.choices(self.words, cum_weights=self.cumulative, k=length)
        out: list[str] = []
        for word in common:
            out.append(rng.choice(topic[0]) if rng.random() < 0.33 else word)
            if rng.random() < 0.45:
                out.append(rng.choice(self.stop))
            if rng.random() < 0.05:
                out.append(rng.choice(topic[1]))
            if rng.random() < 0.04:
                out[-1] += ","
        return " ".join(out).capitalize() + "."

    def paper(self, paper_id: int) -> Paper:
        rng = self.rng
        gnn = rng.random() < TOPIC_SHARE
        # The GNN papers share their other words with subject 0: only the planted terms are theirs.
        topic = (
            ([*self.topics[0][0], "graph", "neural", "network"], PLANTED) if gnn else rng.choice(self.topics)
        )
        sentences = [self.sentence(topic, rng.randint(12, 25)) for _ in range(rng.randint(5, 9))]
        if gnn:
            sentences.insert(rng.randrange(len(sentences)), "We propose graph neural networks.")
        title = self.sentence(topic, rng.randint(5, 10))[:-1]
        return Paper(paper_id, title, " ".join(sentences))


def corpus_of(size: int, seed: int = SEED) -> tuple[list[Paper], set[str]]:
    """The papers, and the words that belong to the query's subject (subject 0's and the planted)."""
    maker = Maker(seed)
    subject = set(maker.topics[0][0]) | {word for term in PLANTED for word in term.split()}
    return [maker.paper(n + 1) for n in range(size)], subject


class MemoryCorpus:
    """The papers from a list: ``search_documents`` answers the first papers with every word of the
    query (as substrings), scored as if best first."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers = papers

    def index_size(self, project_id: int) -> int:
        return len(self.papers)

    def index_documents(self, project_id: int, *, batch: int = 1000) -> Iterator[Paper]:
        return iter(self.papers)

    def search_documents(self, project_id: int, q: str, *, limit: int) -> list[Paper]:
        words = q.lower().split()
        hits = (p for p in self.papers if all(word in p.abstract.lower() for word in words))
        ranked = zip(range(limit), hits, strict=False)
        return [Paper(p.paper_id, p.title, p.abstract, p.body, 10.0 / (n + 1)) for n, p in ranked]


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def timed(corpus: Corpus, method: str, subject: set[str]) -> dict[str, Any]:
    """One run of ``expand`` timed; how many of its terms belong to the query's subject."""
    options = ExpandOptions(method="prf" if method == "prf" else "cooccurrence", max_terms=10, fb_docs=10)
    reports: list[int] = []
    _reset_peak()
    before = _status_mib("VmRSS")
    began, cpu = time.perf_counter(), time.process_time()
    result = expand(corpus, 1, QUERY, options, lambda done, total: reports.append(done)).as_result()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    terms = [t["term"] for t in result["terms"]]
    return {
        "method": method,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "rss_growth_mib": round(_status_mib("VmHWM") - before, 1),
        "of_the_subject": sum(1 for term in terms if set(term.split()) & subject),
        "planted": sorted(set(terms) & set(PLANTED)),
        "terms": result["terms"],
        "corpus_size": result["corpus_size"],
        "progress_reports": len(reports),
        "meets_target": seconds <= TARGET_SECONDS,
    }


@contextlib.contextmanager
def library(store_name: str, papers: Sequence[Paper]) -> Iterator[PapersRepository]:
    """A real library of ``store_name`` holding ``papers``, indexed."""
    with contextlib.ExitStack() as stack:
        if store_name == "sqlite":
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = f"sqlite:///{folder / 'bench.db'}"
        else:
            url = stack.enter_context(fresh_database(DEFAULT_PG, "expand"))
        store = open_store(url)
        stack.callback(store.close)
        store.migrate([PAPERS_COMPONENT])
        repository = PapersRepository(store)
        records = [PaperRecord(title=p.title, abstract=p.abstract) for p in papers]
        began = time.perf_counter()
        for start in range(0, len(records), 10_000):
            repository.import_records(1, records[start : start + 10_000])
        repository.index_update(1, rebuild=False, fence=None)
        print(f"  {store_name}: imported and indexed in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        yield repository


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--stores", default="memory,sqlite")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    papers, subject = corpus_of(args.papers)
    print(f"made {len(papers)} papers in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    runs: list[dict[str, Any]] = []
    for store_name in args.stores.split(","):
        with contextlib.ExitStack() as stack:
            corpus: Corpus = MemoryCorpus(papers)
            if store_name != "memory":
                corpus = stack.enter_context(library(store_name, papers))
            for method in ("prf", "cooccurrence"):
                run = {"store": store_name, **timed(corpus, method, subject)}
                runs.append(run)
                shown = ", ".join(t["term"] for t in run["terms"])
                seconds = f"{run['seconds']:6.2f} s  {run['cpu_seconds']:6.2f} s CPU"
                figures = (
                    f"{seconds}  +{run['rss_growth_mib']:.0f} MiB  {run['of_the_subject']}/10 on subject"
                )
                print(f"{store_name:8} {method:13} {figures}  {shown}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "bench" / "results" / f"keyword-expand-{stamp}.json"
    summary = {"papers": len(papers), "query": QUERY, "load_average": os.getloadavg(), "runs": runs}
    out.write_text(json.dumps(summary, indent=2))
    print(f"results: {out.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all(run["meets_target"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
