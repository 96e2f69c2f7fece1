"""``dedup``: find the papers of a project that are copies of one work and mark them.

A ``def`` handler (CPU-bound: it runs in the worker's child process, where a cancel stops it at once).
The engine (``taskapi.pipeline.dedup``) turns papers into groups; this module reads the library and
writes the groups back, fenced by the task's attempt. The canonical paper of a group keeps the merged
identifiers; running it again finds nothing new and changes nothing.

With ``params.records`` it keeps its older params-only mode: it drops duplicate records from the list
it was given (same DOI, else same normalised title) and returns the rest, touching no library.
"""

from __future__ import annotations

from typing import Any

from taskapi.papers.records import Paper, fold
from taskapi.papers.repository import Fence, FenceLost
from taskapi.pipeline.dedup import DedupOptions, DedupPaper, find_duplicates
from taskapi.pipeline.params import DedupParams, validate_dedup
from taskapi.pipeline.resources import resources_of
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import handler

_FILLED = ("title", "abstract", "year", "venue", "volume", "issue", "pages", "doi", "arxiv_id", "pmid")


def as_dedup_paper(paper: Paper) -> DedupPaper:
    """What the engine compares of a paper."""
    return DedupPaper(
        id=paper.id,
        title=paper.title,
        authors=tuple(paper.authors),
        year=paper.year,
        venue=paper.venue,
        volume=paper.volume,
        issue=paper.issue,
        pages=paper.pages,
        doi=paper.doi,
        arxiv_id=paper.arxiv_id,
        s2_id=paper.s2_id,
        openalex_id=paper.openalex_id,
        pmid=paper.pmid,
        has_pdf=paper.file is not None,
        filled_fields=sum(1 for name in _FILLED if getattr(paper, name)) + (1 if paper.authors else 0),
    )


@handler("dedup", validate=validate_dedup)
def dedup(ctx: TaskContext) -> dict[str, Any]:
    """Mark the project's duplicate papers (or, with ``params.records``, dedup that list)."""
    if "records" in ctx.params:
        return dedup_records(ctx)
    params = DedupParams.read(ctx.params)
    papers_repo = resources_of(ctx).papers
    papers = papers_repo.papers_for_dedup(ctx.project_id)
    ctx.check_cancelled()
    options = DedupOptions(title_threshold=params.title_threshold, year_tolerance=params.year_tolerance)
    found = find_duplicates([as_dedup_paper(p) for p in papers], options, progress=ctx.progress)
    changed = 0
    if not params.dry_run and found.duplicate_of:
        try:
            changed = papers_repo.dedup_apply(
                ctx.project_id, found.duplicate_of, fence=Fence(ctx.task_id, ctx.attempt)
            )
        except FenceLost:
            raise TaskCancelled("the task is no longer running at this attempt") from None
    return {
        "papers_checked": found.papers_checked,
        "duplicate_groups": len(found.groups),
        "marked_duplicate": len(found.duplicate_of),
        "by_rule": found.by_rule,
        "dry_run": params.dry_run,
        "papers_changed": changed,
    }


def _record_key(record: dict[str, Any]) -> str:
    doi = str(record.get("doi") or "").strip().lower()
    return f"doi:{doi}" if doi else f"title:{fold(str(record.get('title', '')))}"


def dedup_records(ctx: TaskContext) -> dict[str, Any]:
    """The params-only mode: the records of ``params.records`` without duplicates (first one kept)."""
    records = ctx.params.get("records", [])
    if not isinstance(records, list):
        raise ValueError("params.records must be a list of objects")
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for done, record in enumerate(records, start=1):
        key = _record_key(record if isinstance(record, dict) else {"title": str(record)})
        if key not in seen:
            seen.add(key)
            kept.append(record)
        ctx.progress(done, len(records))
    return {
        "input": len(records),
        "unique": len(kept),
        "duplicates": len(records) - len(kept),
        "records": kept,
    }
