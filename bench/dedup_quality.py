"""Dedup quality on labelled real exports: ours beside bib-dedupe, on the same records, in one run.

    .venv/bin/python -m bench.dedup_quality --from-git PATH   # once: copy the sets out of a bib-dedupe clone
    .venv/bin/python -m bench.dedup_quality                    # through the HTTP API, and bib-dedupe
    .venv/bin/python -m bench.dedup_quality --engine-only      # find_duplicates called directly

The sets are bib-dedupe's (``CoLRev-Environment/bib-dedupe``, MIT): real exports of literature
searches, each with its true duplicate groups (``merged_record_ids.csv``). They left that repository
in commit e3f876d (to ``ldd-full-benchmark``), so ``--from-git`` reads them from its parent; a set
whose files a clone lacks is skipped and named. They are cached under ``--data`` (default
``~/.cache/taskapi-bench/dedup``), never in this repository.

Through the API (the default) each set becomes a project of a fresh ``taskapi serve`` on SQLite:
``POST /api/v1/papers`` in chunks, a ``dedup`` task, then every paper's ``duplicate_of``. bib-dedupe
runs in a throw-away venv (``bench/.venvs/bib-dedupe``, or ``--bib-dedupe-python``) with its own
``prep/block/match/cluster``. Scores are pairwise against the true groups; "wrong links" counts the
papers put into a group where most members are another work. Results: ``bench/results/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.common import ROOT, free_port, start, stop, taskapi_env, wait_for
from bench.peers_runner import Peer, ensure_venv
from taskapi.pipeline.dedup import DedupPaper, find_duplicates

DATA_REVISION = "e3f876d981ba3a84abac2d211e8bf723c01e0434^"
"""bib-dedupe's last commit with the labelled sets under ``data/``."""
DEFAULT_DATA = Path.home() / ".cache" / "taskapi-bench" / "dedup"
BIB_DEDUPE = Peer("bib-dedupe", "bib-dedupe", "none")
WARM_UP_PROJECT = 999_999
SPEED_FROM = 1000
"""Sets smaller than this measure a task's fixed cost, not the engine: no speed verdict on them."""
CHUNK_RECORDS = 10_000
CHUNK_BYTES = 900_000
"""``POST /api/v1/papers`` takes 10,000 records and 1 MiB at most."""
csv.field_size_limit(10_000_000)

_PEER_DRIVER = """
import json, sys, time
from importlib.metadata import version
import pandas as pd
import bib_dedupe.cluster
from bib_dedupe.bib_dedupe import block, match, prep
records = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in sys.argv[1:]])
records = records.reset_index(drop=True)
began = time.perf_counter()
matched = match(block(prep(records, verbosity_level=0), verbosity_level=0), verbosity_level=0)
groups = bib_dedupe.cluster.get_connected_components(matched)
seconds = time.perf_counter() - began
found = [[str(i) for i in g] for g in groups if len(g) > 1]
print(json.dumps({"seconds": seconds, "groups": found, "version": version("bib-dedupe")}))
"""


# -- the sets ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledSet:
    name: str
    files: list[Path]  # the records, in order (one set comes in two parts)
    records: list[dict[str, str]]
    truth: list[list[int]]  # the true groups as indexes into records


def extract(repo: Path, data: Path) -> list[str]:
    """Copy every labelled set out of a bib-dedupe clone; answers the sets it could not copy."""
    listing = _git(repo, "ls-tree", "-r", "--name-only", DATA_REVISION, "data/")
    shape = re.compile(r"/(records_pre_merged.*|merged_record_ids)\.csv$")
    wanted = [path for path in listing.splitlines() if shape.search(path)]
    missing: set[str] = set()
    for path in wanted:
        name = path.split("/")[1]
        try:
            content = _git(repo, "show", f"{DATA_REVISION}:{path}")
        except subprocess.CalledProcessError:  # a large blob a partial clone lacks
            missing.add(name)
            continue
        (data / name).mkdir(parents=True, exist_ok=True)
        (data / name / path.rsplit("/", 1)[1]).write_text(content)
    for name in missing:
        shutil.rmtree(data / name, ignore_errors=True)  # half a set is no set
    return sorted(missing)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout


def load_set(folder: Path) -> LabelledSet:
    files = sorted(folder.glob("records_pre_merged*.csv"))
    records = [row for path in files for row in csv.DictReader(path.open(newline=""))]
    position = {row["ID"]: index for index, row in enumerate(records)}
    truth = []
    for row in csv.DictReader((folder / "merged_record_ids.csv").open(newline="")):
        group = sorted({position[i] for i in row["merged_ids"].split(";") if i in position})
        if len(group) > 1:
            truth.append(group)
    return LabelledSet(folder.name, files, records, truth)


def paper_fields(record: dict[str, str]) -> dict[str, Any]:
    """One exported record as the library's paper fields (PIPELINE.md's names): the one place that
    reads the sets' BibTeX-like columns."""
    authors = [name.strip() for name in re.split(r"\s+and\s+", record.get("author") or "") if name.strip()]
    year = re.search(r"\d{4}", record.get("year") or "")
    fields = {
        "title": record.get("title"),
        "abstract": record.get("abstract"),
        "authors": authors,
        "year": int(year.group(0)) if year else None,
        "venue": record.get("journal") or record.get("booktitle"),
        "volume": record.get("volume"),
        "issue": record.get("number") or record.get("issue"),
        "pages": record.get("pages"),
        "doi": record.get("doi"),
    }
    return {key: value for key, value in fields.items() if value}


def dedup_paper(index: int, fields: dict[str, Any]) -> DedupPaper:
    return DedupPaper(
        id=index,
        title=fields.get("title"),
        authors=tuple(fields.get("authors", ())),
        year=fields.get("year"),
        venue=fields.get("venue"),
        volume=fields.get("volume"),
        issue=fields.get("issue"),
        pages=fields.get("pages"),
        doi=fields.get("doi"),
        arxiv_id=None,
        s2_id=None,
        openalex_id=None,
        pmid=None,
        filled_fields=len(fields),
    )


# -- scoring -----------------------------------------------------------------------------------------


def _pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {pair for group in groups for pair in combinations(sorted(set(group)), 2)}


def score(records: int, truth: list[list[int]], found: list[list[int]]) -> dict[str, Any]:
    """Pairwise precision, recall, F1 and specificity of ``found`` against ``truth`` (index groups),
    and the wrong links: members of a found group beyond its largest part from one true group."""
    true_pairs, found_pairs = _pairs(truth), _pairs(found)
    tp, fp, fn = len(true_pairs & found_pairs), len(found_pairs - true_pairs), len(true_pairs - found_pairs)
    tn = records * (records - 1) // 2 - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    work = {index: n for n, group in enumerate(truth) for index in group}
    wrong = sum(len(g) - max(Counter(work.get(i, -1 - i) for i in g).values()) for g in found)
    return {
        "true_pairs": len(true_pairs),
        "found_pairs": len(found_pairs),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "specificity": tn / (tn + fp) if tn + fp else 1.0,
        "wrong_links": wrong,
    }


# -- the systems -------------------------------------------------------------------------------------


Found = tuple[list[list[int]], float, dict[str, Any]]
"""What a system answers for one set: its groups (record indexes), its seconds, and notes."""


def run_engine(labelled: LabelledSet) -> Found:
    papers = [dedup_paper(i, paper_fields(r)) for i, r in enumerate(labelled.records)]
    began = time.perf_counter()
    result = find_duplicates(papers)
    return result.groups, time.perf_counter() - began, {"by_rule": result.by_rule}


def run_bib_dedupe(python: Path, labelled: LabelledSet) -> Found:
    done = subprocess.run(
        [str(python), "-c", _PEER_DRIVER, *map(str, labelled.files)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    position = {row["ID"]: index for index, row in enumerate(labelled.records)}
    groups = [[position[i] for i in group] for group in answer["groups"]]
    return groups, answer["seconds"], {"version": answer["version"]}


class Server:
    """A ``taskapi serve`` of its own on a fresh SQLite file, and the HTTP calls the bench makes."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        db = f"sqlite:///{workdir / 'dedup-bench.db'}"
        command = [str(ROOT / ".venv" / "bin" / "taskapi"), "serve", "--port", str(self.port), "--db", db]
        self.process = start(command, taskapi_env(), workdir / "serve.log")
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120)
        wait_for(self._ready, 60, "taskapi serve to answer /readyz")
        self.dedup(WARM_UP_PROJECT)  # the worker's first task pays its start-up, not a measured set

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"taskapi serve exited with {self.process.returncode}: see serve.log")
        try:
            return self.client.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self.client.close()
        stop(self.process)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def import_papers(self, project: int, papers: list[dict[str, Any]]) -> list[int]:
        ids: list[int] = []
        for chunk in _chunks(papers):
            body = {"project_id": project, "papers": chunk}
            ids += self.call("POST", "/api/v1/papers", json=body).json()["data"]["ids"]
        return ids

    def dedup(self, project: int) -> dict[str, Any]:
        body = {"project_id": project, "task_type": "dedup", "params": {}}
        task_id = self.call("POST", "/api/v1/tasks", json=body).json()["data"]["id"]
        final: dict[str, Any] = {}

        def finished() -> bool:
            final.update(self.call("GET", f"/api/v1/tasks/{task_id}").json()["data"])
            return final["status"] in ("completed", "failed", "cancelled")

        wait_for(finished, 3600, f"dedup task {task_id}", interval=0.01)
        if final["status"] != "completed":
            raise RuntimeError(f"dedup task {task_id} {final['status']}: {final.get('error_message')}")
        return final

    def duplicate_of(self, project: int) -> dict[int, int | None]:
        found: dict[int, int | None] = {}
        params: dict[str, Any] = {"project_id": project, "include_duplicates": "true", "limit": 1000}
        while True:
            response = self.call("GET", "/api/v1/papers", params=params)
            found.update({paper["id"]: paper["duplicate_of"] for paper in response.json()["data"]})
            cursor = response.headers.get("X-Next-Cursor")
            if not cursor:
                return found
            params["cursor"] = cursor


def _chunks(papers: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for paper in papers:
        length = len(json.dumps(paper)) + 2
        if chunk and (len(chunk) == CHUNK_RECORDS or size + length > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(paper)
        size += length
    if chunk:
        yield chunk


def run_api(server: Server, project: int, labelled: LabelledSet) -> Found:
    """Import, dedup and read back; records the API refuses (no title, no identifier) stay alone."""
    fields = [paper_fields(record) for record in labelled.records]
    kept = [i for i, f in enumerate(fields) if f.get("title") or f.get("doi")]
    began = time.perf_counter()
    ids = server.import_papers(project, [fields[i] for i in kept])
    imported = time.perf_counter() - began
    began = time.perf_counter()
    task = server.dedup(project)
    seconds = time.perf_counter() - began
    parent = server.duplicate_of(project)
    by_work: dict[int, list[int]] = {}
    for index, paper_id in zip(kept, ids, strict=True):
        by_work.setdefault(_canonical(parent, paper_id), []).append(index)
    groups = [group for group in by_work.values() if len(group) > 1]
    extra = {"import_seconds": imported, "result": task.get("result"), "refused": len(fields) - len(kept)}
    return groups, seconds, extra


def _canonical(parent: dict[int, int | None], paper_id: int) -> int:
    seen = {paper_id}
    while (up := parent.get(paper_id)) is not None and up not in seen:
        seen.add(up)
        paper_id = up
    return paper_id


# -- the run -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    dataset: str
    system: str
    records: int
    seconds: float | None
    scores: dict[str, Any]
    extra: dict[str, Any]
    error: str = ""

    @property
    def rate(self) -> float | None:
        return self.records / self.seconds if self.seconds else None


def measure(dataset: LabelledSet, system: str, call: Any) -> Outcome:
    """One system on one set; a failure becomes an outcome that says so, and the run goes on."""
    print(f"- {dataset.name}: {system}", file=sys.stderr, flush=True)
    try:
        groups, seconds, extra = call(dataset)
    except Exception as exc:  # a broken system must not hide the others
        failure = f"{type(exc).__name__}: {exc}"
        return Outcome(dataset.name, system, len(dataset.records), None, {}, {}, failure)
    scores = score(len(dataset.records), dataset.truth, groups)
    return Outcome(dataset.name, system, len(dataset.records), seconds, scores, extra)


def verdicts(outcomes: list[Outcome], ours: str) -> list[str]:
    """The issue's targets per set: F1 within 0.01 of bib-dedupe, specificity >= 0.999, no more wrong
    links, at >= 10x its speed."""
    lines = []
    peer = {o.dataset: o for o in outcomes if o.system == "bib-dedupe" and not o.error}
    for mine in (o for o in outcomes if o.system == ours and not o.error):
        other = peer.get(mine.dataset)
        if other is None:
            continue
        checks = {
            "F1 within 0.01": mine.scores["f1"] >= other.scores["f1"] - 0.01,
            "specificity >= 0.999": mine.scores["specificity"] >= 0.999,
            "wrong links <= bib-dedupe's": mine.scores["wrong_links"] <= other.scores["wrong_links"],
        }
        if mine.records >= SPEED_FROM:
            checks[">= 10x faster"] = bool(mine.rate and other.rate and mine.rate >= 10 * other.rate)
        speed = mine.rate / other.rate if mine.rate and other.rate else 0.0
        failed = [name for name, ok in checks.items() if not ok]
        lines.append(
            f"{mine.dataset}: F1 {mine.scores['f1']:.4f} vs {other.scores['f1']:.4f}, "
            f"wrong links {mine.scores['wrong_links']} vs {other.scores['wrong_links']}, x{speed:.0f} speed: "
            + ("all targets met" if not failed else "MISSED " + ", ".join(failed))
        )
    return lines


COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("true pairs", "true_pairs", ",d"),
    ("precision", "precision", ".4f"),
    ("recall", "recall", ".4f"),
    ("F1", "f1", ".4f"),
    ("specificity", "specificity", ".6f"),
    ("FP", "fp", "d"),
    ("FN", "fn", "d"),
    ("wrong links", "wrong_links", "d"),
)
"""The table's score columns: heading, key of ``score()``, format."""


def print_table(outcomes: list[Outcome]) -> None:
    table = Table(title="Dedup quality on labelled exports (pairwise)")
    for heading in ("set", "system", "records", *(c[0] for c in COLUMNS), "seconds", "records/s", "note"):
        table.add_column(heading, justify="left" if heading in ("set", "system", "note") else "right")
    for o in outcomes:
        scores = [format(o.scores[key], shape) if o.scores else "" for _, key, shape in COLUMNS]
        seconds = f"{o.seconds:.3f}" if o.seconds is not None else ""
        rate = f"{o.rate:,.0f}" if o.rate else ""
        table.add_row(o.dataset, o.system, f"{o.records:,}", *scores, seconds, rate, o.error[:80])
    Console(width=max(170, Console().width)).print(table)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the sets are cached")
    parser.add_argument("--from-git", type=Path, metavar="REPO", help="copy the sets from a bib-dedupe clone")
    parser.add_argument("--sets", help="only these sets, comma-separated")
    parser.add_argument("--engine-only", action="store_true", help="call find_duplicates, no server")
    parser.add_argument("--no-bib-dedupe", action="store_true", help="leave bib-dedupe out")
    parser.add_argument("--bib-dedupe-python", type=Path, help="a Python that has bib-dedupe installed")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


def _sets(args: argparse.Namespace) -> list[LabelledSet]:
    if args.from_git:
        missing = extract(args.from_git, args.data)
        if missing:
            print(f"not in that clone (large files it lacks): {', '.join(missing)}", file=sys.stderr)
    folders = sorted(p for p in args.data.glob("*") if (p / "merged_record_ids.csv").exists())
    if args.sets:
        folders = [p for p in folders if p.name in args.sets.split(",")]
    if not folders:
        sys.exit(f"no labelled sets under {args.data}: run once with --from-git <bib-dedupe clone>")
    return [load_set(folder) for folder in folders]


def _bib_dedupe_python(args: argparse.Namespace, workdir: Path) -> Path | str:
    if args.bib_dedupe_python:
        return Path(args.bib_dedupe_python)
    return ensure_venv(BIB_DEDUPE, False, workdir / "bib-dedupe-install.log")


def run_peer(python: Path | str, datasets: list[LabelledSet]) -> list[Outcome]:
    """bib-dedupe on every set, or a row per set saying why it could not run."""
    if isinstance(python, str):
        return [Outcome(d.name, "bib-dedupe", len(d.records), None, {}, {}, python) for d in datasets]
    return [measure(d, "bib-dedupe", lambda one: run_bib_dedupe(python, one)) for d in datasets]


def main() -> None:
    args = parse()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    datasets = _sets(args)
    ours = "taskapi engine" if args.engine_only else "taskapi API"
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="taskapi-dedup-bench-") as folder:
        workdir = Path(folder)
        server = None if args.engine_only else Server(workdir)
        try:
            for project, dataset in enumerate(datasets, start=1):
                if server is None:
                    outcomes.append(measure(dataset, ours, run_engine))
                else:
                    outcomes.append(measure(dataset, ours, lambda d, p=project: run_api(server, p, d)))
        finally:
            if server is not None:
                server.close()
        if not args.no_bib_dedupe:
            outcomes += run_peer(_bib_dedupe_python(args, workdir), datasets)
    print_table(outcomes)
    lines = verdicts(outcomes, ours)
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"dedup-quality-{stamp}.json"
    meta = {"stamp": stamp, "command": " ".join(sys.argv), "sets": [d.name for d in datasets]}
    body = {"meta": meta, "outcomes": [asdict(o) for o in outcomes], "verdicts": lines}
    path.write_text(json.dumps(body, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
