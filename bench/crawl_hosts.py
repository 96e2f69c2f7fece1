"""Crawl across hosts: how close does ``crawl`` come to the wall time its politeness sets?

200 local PDFs of 1 MB on 4 hosts (4 ports of 127.0.0.1, served by another process so the servers
do not share our interpreter), listed host after host, crawled with a per-host minimum interval of
0.05 s into a fresh file store. Each host can then serve at best one PDF per interval, so the ideal
wall time is ``papers / hosts * interval`` (2.5 s); the ratio of the measured time to it is the
scheduler's overhead (1.0 is perfect). Also read from the servers' logs: the gaps between two
requests to one host (median and 5th percentile at the interval; the smallest can look shorter,
since a busy server process stamps a request late, never early: the client starts its requests to
a host at least one interval apart) and the most requests a host answered at once (always 1).
Standalone::

    .venv/bin/python -m bench.crawl_hosts [--papers 200] [--hosts 4] [--size 1000000] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from itertools import pairwise
from multiprocessing.connection import Connection
from pathlib import Path

from bench.common import Row, percentile
from taskapi.papers.files import LocalFileStore
from taskapi.pipeline.crawl import CrawlJob, CrawlOptions, CrawlOutcome, crawl
from tests.pipeline.crawl.pdf_server import pdf_servers


def _serve(conn: Connection, hosts: int, per_host: int, size: int) -> None:
    """The servers' process: serve until told to stop, then answer each host's request times and
    peak concurrency."""
    with pdf_servers(hosts) as servers:
        for server in servers:
            for number in range(per_host):
                server.add_pdf(f"p{number}", size=size)
        conn.send([server.base_url for server in servers])
        conn.recv()
        conn.send([([hit.at for hit in server.hits()], server.peak_active) for server in servers])


async def _crawl(jobs: list[CrawlJob], store: LocalFileStore, interval: float) -> list[CrawlOutcome]:
    outcomes: list[CrawlOutcome] = []

    async def keep(outcome: CrawlOutcome) -> None:
        outcomes.append(outcome)

    options = CrawlOptions(allow_private=True, host_interval=interval, max_hosts=8, timeout_s=30.0)
    await crawl(jobs, store, options, keep)
    return outcomes


def measure_crawl(
    workdir: Path, papers: int = 200, hosts: int = 4, size: int = 1_000_000, interval: float = 0.05
) -> list[Row]:
    """One crawl of ``papers`` PDFs of ``size`` bytes on ``hosts`` hosts; one row, wall time in s."""
    per_host = papers // hosts
    here, there = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(there, hosts, per_host, size))
    server.start()
    try:
        bases: list[str] = here.recv()
        jobs = [
            CrawlJob(index * per_host + number, (f"{base}/pdf/p{number}",))
            for index, base in enumerate(bases)
            for number in range(per_host)
        ]
        store = LocalFileStore(workdir / "crawl-data")
        began = time.perf_counter()
        outcomes = asyncio.run(_crawl(jobs, store, interval))
        wall = time.perf_counter() - began
        here.send("stop")
        logs: list[tuple[list[float], int]] = here.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    downloaded = sum(outcome.stored is not None for outcome in outcomes)
    ideal = per_host * interval
    gaps = [later - earlier for times, _ in logs for earlier, later in pairwise(times)]
    extra = {
        "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3),
        "downloaded": downloaded,
        "mb_per_s": round(downloaded * size / wall / 1e6, 1),
        "min_gap_s": round(min(gaps), 4) if gaps else None,
        "p5_gap_s": round(percentile(gaps, 5), 4) if gaps else None,
        "median_gap_s": round(percentile(gaps, 50), 4) if gaps else None,
        "peak_per_host": max(peak for _, peak in logs),
    }
    variant = f"{per_host * hosts} PDFs x {size / 1e6:g} MB, {hosts} hosts, interval {interval:g} s"
    note = "" if downloaded == per_host * hosts else f"only {downloaded} downloaded"
    return [Row("crawl", "taskapi", "local", variant, round(wall, 3), "s", note=note, extra=extra)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes per PDF")
    parser.add_argument("--interval", type=float, default=0.05, help="per-host minimum interval (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-") as folder:
        (row,) = measure_crawl(Path(folder), args.papers, args.hosts, args.size, args.interval)
    extra = row.extra
    print(row.variant)
    print(f"  wall {row.value:.3f} s   ideal {extra['ideal_s']:.3f} s   ratio {extra['ratio']:.2f}")
    print(f"  {extra['downloaded']} downloaded, {extra['mb_per_s']} MB/s")
    print(
        f"  gaps between requests to one host (server's clock): median {extra['median_gap_s']} s,"
        f" p5 {extra['p5_gap_s']} s, min {extra['min_gap_s']} s;"
        f" most requests at once on one host {extra['peak_per_host']}"
    )
    if row.note:
        print(f"  note: {row.note}")


if __name__ == "__main__":
    main()
