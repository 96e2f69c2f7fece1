"""``index``: make the project's library searchable (``GET /api/v1/papers?q=``, ``keyword_expand``).

A ``def`` handler: it runs in the worker's child process, where a cancel stops it at once. The
repository does the work (``PapersRepository.index_update``): incremental by default (only the papers
changed since the last run: title, abstract, ``duplicate_of`` or page text), every paper with
``rebuild``, in short transactions of a few hundred papers each fenced by the task's attempt, so a
claim or a progress report never waits long behind it on SQLite, a cancelled or rescued run writes
nothing late, and a run again (a retry) visits only what is still queued. Progress is in papers.
"""

from __future__ import annotations

from typing import Any

from taskapi.papers.repository import Fence, FenceLost
from taskapi.pipeline.params_index import IndexParams, validate_index
from taskapi.pipeline.resources import resources_of
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import handler


@handler("index", validate=validate_index)
def index(ctx: TaskContext) -> dict[str, Any]:
    """Bring the project's full-text index up to date with its library (``params.rebuild``: all of it).

    Result (PIPELINE.md): ``indexed`` documents written, ``removed`` (papers that became duplicates),
    ``backend`` and ``documents_with_fulltext``; also ``documents``, the index's size after the run,
    and ``rebuild``."""
    params = IndexParams.read(ctx.params)
    papers = resources_of(ctx).papers
    try:
        result = papers.index_update(
            ctx.project_id,
            rebuild=params.rebuild,
            fence=Fence(ctx.task_id, ctx.attempt),
            progress=ctx.progress,
        )
    except FenceLost:
        raise TaskCancelled("the task is no longer running at this attempt") from None
    return {**result.as_result(), "documents": papers.index_size(ctx.project_id), "rebuild": params.rebuild}
