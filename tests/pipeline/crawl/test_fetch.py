"""One paper's download against a real server: what is kept, what is refused and why, and how much
was read before stopping."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from taskapi.papers.files import FileWriter, LocalFileStore, StoredFile
from taskapi.pipeline.crawl import CrawlJob
from tests.conftest import WaitUntil
from tests.pipeline.crawl.conftest import one, run_crawl
from tests.pipeline.crawl.pdf_server import PdfServer, closed_port

GIGABYTE = 1_000_000_000


class CountingStore(LocalFileStore):
    """A file store that counts the bytes crawl writes into it (what it read of the bodies)."""

    written = 0

    @contextmanager
    def writer(self) -> Iterator[FileWriter]:
        with super().writer() as inner:
            yield _CountingWriter(self, inner)


class _CountingWriter:
    def __init__(self, owner: CountingStore, inner: FileWriter) -> None:
        self._owner, self._inner = owner, inner

    def write(self, data: bytes) -> None:
        self._owner.written += len(data)
        self._inner.write(data)

    def commit(self) -> StoredFile:
        return self._inner.commit()


def test_a_pdf_is_stored_under_its_sha256_with_its_content_type(
    server: PdfServer, store: LocalFileStore
) -> None:
    pdf = server.add_pdf("paper")
    outcome = one(server.url("/pdf/paper"), store)
    assert outcome.reason is None and outcome.stored is not None
    assert outcome.stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert outcome.stored.size == len(pdf)
    assert outcome.url == server.url("/pdf/paper")
    assert outcome.content_type == "application/pdf"
    with store.open(outcome.stored.sha256) as handle:
        assert handle.read() == pdf
    assert store.temp_files() == []


def test_a_landing_page_answering_200_with_html_is_not_pdf(server: PdfServer, store: LocalFileStore) -> None:
    outcome = one(server.url("/landing/paper"), store)
    assert (outcome.reason, outcome.stored, outcome.url) == ("not_pdf", None, server.url("/landing/paper"))
    assert store.temp_files() == []


def test_redirects_are_followed_relative_and_absolute(server: PdfServer, store: LocalFileStore) -> None:
    pdf = server.add_pdf("paper")
    via_302 = one(server.redirect_url(server.url("/pdf/paper")), store)
    via_chain = one(server.url("/chain/5/paper"), store)
    for outcome in (via_302, via_chain):
        assert outcome.stored is not None and outcome.stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert [hit.path for hit in server.hits("/chain")] == [f"/chain/{n}/paper" for n in (5, 4, 3, 2)] + [
        "/chain/1/paper"
    ]


def test_a_redirect_chain_past_ten_hops_gives_up_with_the_redirect_status(
    server: PdfServer, store: LocalFileStore
) -> None:
    server.add_pdf("paper")
    assert one(server.url("/chain/10/paper"), store).stored is not None  # 10 redirects: followed
    before = len(server.hits())
    outcome = one(server.url("/chain/11/paper"), store)
    assert outcome.reason == "http_302"
    # 11 requests; the 11th redirect (to the PDF) is not followed
    assert [hit.path for hit in server.hits()[before:]] == [f"/chain/{n}/paper" for n in range(11, 0, -1)]


def test_http_errors_are_reported_with_their_status(server: PdfServer, store: LocalFileStore) -> None:
    assert one(server.url("/pdf/missing"), store).reason == "http_404"
    assert one(server.url("/status/403"), store).reason == "http_403"
    assert one(server.url("/status/500"), store).reason == "http_500"
    assert one(server.url("/status/302"), store).reason == "http_302"  # a redirect without a Location


def test_a_slow_body_past_the_timeout_is_timeout(server: PdfServer, store: LocalFileStore) -> None:
    server.add_pdf("paper")
    began = time.monotonic()
    outcome = one(server.url("/slow/paper?every=0.05"), store, timeout_s=0.3)
    elapsed = time.monotonic() - began
    assert outcome.reason == "timeout"
    assert elapsed < 1.5, f"the download went on for {elapsed:.2f} s past a 0.3 s timeout"
    assert store.temp_files() == []


def test_a_declared_length_over_max_bytes_is_refused_before_reading(
    server: PdfServer, store: LocalFileStore, wait: WaitUntil
) -> None:
    counting = CountingStore(store.root)
    outcome = one(server.url(f"/big?size={GIGABYTE}"), counting, max_bytes=1_000_000)
    assert outcome.reason == "too_large"
    assert counting.written == 0  # not one byte of the body was taken
    (hit,) = server.hits("/big")
    wait(lambda: hit.ended, what="the server to see the connection closed")
    # What the server wrote is what the sockets' buffers took before the close, not the gigabyte.
    assert not hit.finished and hit.sent < 64_000_000, hit.sent
    assert store.temp_files() == []


def test_an_undeclared_body_is_read_only_up_to_max_bytes(
    server: PdfServer, store: LocalFileStore, wait: WaitUntil
) -> None:
    counting = CountingStore(store.root)
    outcome = one(server.url(f"/big?size={GIGABYTE}&declared=0"), counting, max_bytes=2_000_000)
    assert outcome.reason == "too_large"
    assert 2_000_000 - 65_536 <= counting.written <= 2_000_000  # read up to the limit and stopped
    (hit,) = server.hits("/big")
    wait(lambda: hit.ended, what="the server to see the connection closed")
    assert not hit.finished and hit.sent < 64_000_000, hit.sent
    assert store.temp_files() == []


def test_a_body_of_exactly_max_bytes_is_kept(server: PdfServer, store: LocalFileStore) -> None:
    pdf = server.add_pdf("paper", size=300_000)
    assert len(pdf) == 300_000
    assert one(server.url("/pdf/paper"), store, max_bytes=300_000).stored is not None
    assert one(server.url("/pdf/paper"), store, max_bytes=299_999).reason == "too_large"


def test_a_refused_connection_is_connection(store: LocalFileStore) -> None:
    assert one(f"http://127.0.0.1:{closed_port()}/paper.pdf", store).reason == "connection"
    assert one("http://no-such-host.invalid/paper.pdf", store).reason == "connection"


def test_candidates_are_tried_in_order_until_one_is_a_pdf(server: PdfServer, store: LocalFileStore) -> None:
    server.add_pdf("paper")
    urls = (
        server.url("/status/403"),
        server.url("/landing/paper"),
        server.url("/pdf/paper"),
        server.url("/x"),
    )
    (outcome,) = run_crawl([CrawlJob(7, urls)], store)
    assert outcome.paper_id == 7 and outcome.url == urls[2] and outcome.stored is not None
    assert [hit.path for hit in server.hits()] == ["/status/403", "/landing/paper", "/pdf/paper"]


def test_when_every_candidate_fails_the_last_failure_is_the_outcome(
    server: PdfServer, store: LocalFileStore
) -> None:
    urls = (server.url("/pdf/missing"), server.url("/landing/paper"))
    (outcome,) = run_crawl([CrawlJob(7, urls)], store)
    assert (outcome.url, outcome.reason, outcome.stored) == (urls[1], "not_pdf", None)


def test_the_same_pdf_twice_is_stored_once(server: PdfServer, store: LocalFileStore) -> None:
    server.add_pdf("paper")
    jobs = [CrawlJob(1, (server.url("/pdf/paper"),)), CrawlJob(2, (server.url("/chain/2/paper"),))]
    first, second = run_crawl(jobs, store)
    assert first.stored == second.stored and first.stored is not None
    assert len(list((store.root / "pdf").rglob("*.pdf"))) == 1
