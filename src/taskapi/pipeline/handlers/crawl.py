"""``crawl``: fetch the open-access PDFs of a project's papers into the file store.

Async (network-bound): downloads to different hosts overlap, one host at a time per host, with the
deployment's per-host interval. Each PDF is stored by its sha256 (written to a temporary name, then
renamed) before its paper is pointed at it in a transaction fenced by the task's attempt: a cancelled
or rescued run attaches nothing late, and a run again skips the papers that already have a file.
Every failure is an entry of ``failed`` with its reason; the task itself completes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from taskapi.domain import utcnow
from taskapi.papers.records import PaperFile
from taskapi.papers.repository import CrawlTarget, Fence, FenceLost
from taskapi.pipeline.crawl import CrawlJob, CrawlOptions, CrawlOutcome, crawl
from taskapi.pipeline.params import CrawlParams, validate_crawl
from taskapi.pipeline.resources import PipelineResources, resources_of
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import handler

ARXIV_PDF = "https://arxiv.org/pdf/"
MAX_FAILED_LISTED = 10_000
"""Failures listed in the result at most (the count stays exact)."""


@dataclass(slots=True)
class _Tally:
    attempted: int
    downloaded: int = 0
    skipped_no_url: int = 0
    failures: int = 0
    bytes: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.downloaded + self.skipped_no_url + self.failures

    def as_result(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "downloaded": self.downloaded,
            "skipped_no_url": self.skipped_no_url,
            "failed": self.failed,
            "failed_count": self.failures,
            "bytes": self.bytes,
        }


def _options(resources: PipelineResources, params: CrawlParams) -> CrawlOptions:
    settings = resources.crawl
    return CrawlOptions(
        max_bytes=params.max_bytes,
        timeout_s=params.timeout_s,
        allow_private=settings.allow_private,
        host_interval=settings.host_interval,
        user_agent=settings.user_agent,
        unpaywall_url=settings.unpaywall_url,
        contact_email=settings.contact_email,
    )


def _candidates(target: CrawlTarget) -> tuple[str, ...]:
    """The paper's own candidates; an arXiv paper that came without a PDF link has arXiv's."""
    if not target.candidates and target.arxiv_id:
        return (f"{ARXIV_PDF}{target.arxiv_id}",)
    return tuple(target.candidates)


@handler("crawl", validate=validate_crawl)
async def crawl_papers(ctx: TaskContext) -> dict[str, Any]:
    """Download the PDFs of the chosen papers (default: every non-duplicate paper without a file)."""
    params = CrawlParams.read(ctx.params)
    resources = resources_of(ctx)
    targets = await asyncio.to_thread(
        resources.papers.crawl_candidates,
        ctx.project_id,
        params.paper_ids,
        overwrite=params.overwrite,
        limit=params.max_papers,
    )
    jobs = [CrawlJob(t.paper_id, _candidates(t), t.doi) for t in targets]
    tally = _Tally(attempted=len(jobs))
    fence = Fence(ctx.task_id, ctx.attempt)
    ctx.progress(0, len(jobs))

    async def on_outcome(outcome: CrawlOutcome) -> None:
        if outcome.stored is not None:
            await _attach(resources, outcome, fence)
            tally.downloaded += 1
            tally.bytes += outcome.stored.size
        elif outcome.reason is None:
            tally.skipped_no_url += 1
        else:
            tally.failures += 1
            if len(tally.failed) < MAX_FAILED_LISTED:
                entry = {"paper_id": outcome.paper_id, "url": outcome.url, "reason": outcome.reason}
                tally.failed.append(entry)
        ctx.progress(tally.done, len(jobs))

    await crawl(jobs, resources.files, _options(resources, params), on_outcome)
    return tally.as_result()


async def _attach(resources: PipelineResources, outcome: CrawlOutcome, fence: Fence) -> None:
    stored = outcome.stored
    assert stored is not None
    file = PaperFile(
        sha256=stored.sha256,
        bytes=stored.size,
        url=outcome.url,
        content_type=outcome.content_type or "application/pdf",
        path=stored.path,
        fetched_at=utcnow(),
    )
    try:
        await asyncio.to_thread(resources.papers.file_attach, outcome.paper_id, file, fence=fence)
    except FenceLost:
        raise TaskCancelled("the task is no longer running at this attempt") from None
