"""Many papers across hosts: politeness seen from the servers' logs, overlap, one outcome per paper,
Unpaywall, and stopping everything (temporary files removed) when the caller raises or cancels."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from itertools import pairwise

import pytest

from taskapi.papers.files import LocalFileStore
from taskapi.pipeline.crawl import CrawlJob, CrawlOutcome, crawl
from tests.conftest import WaitUntil, wait_until
from tests.pipeline.crawl.conftest import FAST, run_crawl
from tests.pipeline.crawl.pdf_server import PdfServer, closed_port

INTERVAL = 0.2
SLACK = 0.05
"""The server stamps a request when its handler thread runs, which a loaded machine delays (late,
never early: the client starts its requests to one host at least the interval apart; 0.1 s late was
seen with three suites at once on two cores). One gap can therefore look short by that delay, the
mean gap over a host's requests only by a share of it; a scheduler without the interval would show
gaps of a few ms."""


def _jobs_by_host(servers: list[PdfServer], per_host: int) -> list[CrawlJob]:
    """``per_host`` papers on each server, listed host after host (the worst order for a naive pool)."""
    jobs = []
    for index, server in enumerate(servers):
        for number in range(per_host):
            server.add_pdf(f"p{number}")
            jobs.append(CrawlJob(index * 100 + number, (server.url(f"/pdf/p{number}"),)))
    return jobs


def test_each_host_is_asked_one_request_at_a_time_and_interval_apart(
    servers: list[PdfServer], store: LocalFileStore
) -> None:
    jobs = _jobs_by_host(servers, per_host=4)
    outcomes = run_crawl(jobs, store, host_interval=INTERVAL)
    assert sorted(o.paper_id for o in outcomes) == sorted(j.paper_id for j in jobs)
    assert all(o.stored is not None for o in outcomes)
    for server in servers:
        times = [hit.at for hit in server.hits()]
        assert len(times) == 4 and server.peak_active == 1
        gaps = [later - earlier for earlier, later in pairwise(times)]
        # never two requests in a burst (a busy test process stamps an arrival late, never early: one
        # late stamp shortens the gap after it, so only a burst, a gap near 0, is a failure here)
        assert min(gaps) >= INTERVAL / 4, gaps
        assert (times[-1] - times[0]) / len(gaps) >= INTERVAL - SLACK, gaps  # and the interval kept


def test_downloads_to_different_hosts_overlap(servers: list[PdfServer], store: LocalFileStore) -> None:
    run_crawl(_jobs_by_host(servers, per_host=2), store, host_interval=INTERVAL)
    first_hits = [server.hits()[0].at for server in servers]
    second_hits = [server.hits()[1].at for server in servers]
    # every host had its first request before any host had its second: they ran side by side
    assert max(first_hits) < min(second_hits), (first_hits, second_hits)


def test_max_hosts_bounds_the_hosts_downloaded_from_at_once(
    servers: list[PdfServer], store: LocalFileStore
) -> None:
    run_crawl(_jobs_by_host(servers, per_host=2), store, host_interval=INTERVAL, max_hosts=2)
    by_start = sorted(servers, key=lambda server: server.hits()[0].at)
    first_two_done = min(server.hits()[1].at for server in by_start[:2])
    # the third host starts only when one of the first two is done, after its second request, not at
    # once with them (an order, not a duration: a busy server stamps arrivals late, never early)
    assert by_start[2].hits()[0].at >= first_two_done - 0.02, [s.hits()[0].at for s in by_start]


def test_a_failed_candidate_moves_on_to_another_host(servers: list[PdfServer], store: LocalFileStore) -> None:
    first, second, _ = servers
    second.add_pdf("paper")
    (outcome,) = run_crawl([CrawlJob(1, (first.url("/status/404"), second.url("/pdf/paper")))], store)
    assert outcome.stored is not None and outcome.url == second.url("/pdf/paper")


def test_a_paper_without_candidates_is_skipped(store: LocalFileStore) -> None:
    (outcome,) = run_crawl([CrawlJob(3, (), doi="10.1000/x")], store)
    assert outcome == CrawlOutcome(3, None, None, None)
    assert outcome.skipped


# -- Unpaywall -------------------------------------------------------------------------------------


def test_a_doi_without_candidates_is_looked_up_in_unpaywall(
    servers: list[PdfServer], store: LocalFileStore
) -> None:
    lookup, pdfs, _ = servers
    pdfs.add_pdf("open")
    lookup.unpaywall["10.1000/abc"] = {
        "doi": "10.1000/abc",
        "best_oa_location": {"url_for_pdf": pdfs.url("/landing/open"), "url": pdfs.url("/landing/open")},
        "oa_locations": [
            {"url_for_pdf": pdfs.url("/landing/open")},
            {"url_for_pdf": None, "url": "https://example.org/x"},
            "not a location",
            {"url_for_pdf": pdfs.url("/pdf/open")},
        ],
    }
    options = replace(FAST, unpaywall_url=lookup.url("/v2"), contact_email="me@example.org")
    (outcome,) = run_crawl([CrawlJob(1, (), doi="10.1000/abc")], store, options)
    assert outcome.stored is not None and outcome.url == pdfs.url("/pdf/open")
    assert [hit.path for hit in lookup.hits()] == ["/v2/10.1000/abc?email=me%40example.org"]
    assert [hit.path for hit in pdfs.hits()] == ["/landing/open", "/pdf/open"]  # each URL tried once


def test_unpaywall_lookups_and_their_outcomes(server: PdfServer, store: LocalFileStore) -> None:
    server.add_pdf("paper")
    options = replace(FAST, unpaywall_url=server.url("/v2/"), contact_email="me@example.org")
    jobs = [
        CrawlJob(1, (), doi="10.1000/unknown"),  # 404: no open copy known
        CrawlJob(2, (server.url("/status/404"),), doi="10.1000/has-candidates"),  # never looked up
        CrawlJob(3, ()),  # no DOI: nothing to look up
    ]
    outcomes = {o.paper_id: o for o in run_crawl(jobs, store, options)}
    assert outcomes[1] == CrawlOutcome(1, None, None, None)
    assert outcomes[2].reason == "http_404"
    assert outcomes[3] == CrawlOutcome(3, None, None, None)
    assert [hit.path for hit in server.hits("/v2")] == ["/v2/10.1000/unknown?email=me%40example.org"]


def test_a_failed_lookup_is_a_failure_without_the_contact_address(store: LocalFileStore) -> None:
    base = f"http://127.0.0.1:{closed_port()}/v2"
    options = replace(FAST, unpaywall_url=base, contact_email="me@example.org")
    (outcome,) = run_crawl([CrawlJob(1, (), doi="10.1000/a b")], store, options)
    assert (outcome.reason, outcome.url) == ("connection", f"{base}/10.1000/a%20b")


def test_without_a_contact_address_unpaywall_is_not_asked(server: PdfServer, store: LocalFileStore) -> None:
    options = replace(FAST, unpaywall_url=server.url("/v2"), contact_email=None)
    assert run_crawl([CrawlJob(1, (), doi="10.1000/abc")], store, options)[0].skipped
    assert server.hits() == []


# -- stopping ----------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_an_error_of_on_outcome_stops_the_rest_and_leaves_no_temp_file(
    servers: list[PdfServer], store: LocalFileStore, wait: WaitUntil
) -> None:
    fast, slow, many = servers
    fast.add_pdf("paper")
    slow.add_pdf("paper")
    jobs = [CrawlJob(1, (fast.url("/pdf/paper"),)), CrawlJob(2, (slow.url("/slow/paper?every=0.05"),))]
    jobs += _jobs_by_host([many], per_host=3)
    heard: list[CrawlOutcome] = []

    def slow_download_midway() -> bool:
        return bool(slow.hits() and slow.hits()[0].sent >= 2 and store.temp_files())

    async def on_outcome(outcome: CrawlOutcome) -> None:
        heard.append(outcome)
        # the slow download is half-way (bytes sent, a temporary file open) when the caller fails
        await asyncio.to_thread(wait_until, slow_download_midway, what="the slow download midway")
        raise Boom

    with pytest.raises(Boom):
        asyncio.run(crawl(jobs, store, replace(FAST, host_interval=0.5), on_outcome))
    assert len(heard) == 1
    assert store.temp_files() == []
    (slow_hit,) = slow.hits()
    wait(lambda: slow_hit.ended, what="the slow server to see its connection closed")
    assert not slow_hit.finished
    assert len(many.hits()) <= 1  # the next one was due 0.5 s later: never asked


def test_a_cancel_stops_the_downloads_and_leaves_no_temp_file(
    server: PdfServer, store: LocalFileStore, wait: WaitUntil
) -> None:
    server.add_pdf("paper")

    async def cancel_midway() -> None:
        async def ignore(outcome: CrawlOutcome) -> None:
            raise AssertionError(f"no job should end: {outcome}")

        task = asyncio.create_task(
            crawl([CrawlJob(1, (server.url("/slow/paper?every=0.05"),))], store, FAST, ignore)
        )
        await asyncio.to_thread(wait_until, store.temp_files, what="the download's temp file")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert store.temp_files() == []
    (hit,) = server.hits()
    wait(lambda: hit.ended, what="the server to see its connection closed")
    assert not hit.finished
