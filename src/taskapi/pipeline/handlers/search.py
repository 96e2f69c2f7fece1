"""``search``: ask the scholarly sources for a query and import what they answer into the library.

The sources run side by side (each is its own host, paced by the store so that every worker sharing
the database keeps to the source's limit together). Each page is imported in one transaction fenced by
the task's attempt, so a cancelled or rescued run writes nothing late, and a run again after a lost
worker merges into what the first run imported instead of importing it twice. One source failing is
reported in ``by_source``; the task fails only when every source it asked failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from taskapi.domain import StoreUnavailable
from taskapi.papers.records import PaperRecord
from taskapi.papers.repository import Fence, FenceLost
from taskapi.pipeline.params import SearchParams, validate_search
from taskapi.pipeline.resources import PipelineResources, StorePacer, resources_of
from taskapi.pipeline.sources import SearchQuery, SourceError, open_source
from taskapi.worker.context import TaskCancelled, TaskContext
from taskapi.worker.registry import handler


@dataclass(slots=True)
class _Tally:
    """What one source gave: records received, papers created, records merged, its error."""

    found: int = 0
    imported: int = 0
    already_present: int = 0
    error: str | None = None
    done: bool = False

    def as_result(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "imported": self.imported,
            "already_present": self.already_present,
            "error": self.error,
        }


@dataclass(slots=True)
class _Run:
    ctx: TaskContext
    resources: PipelineResources
    params: SearchParams
    fence: Fence
    tallies: dict[str, _Tally] = field(default_factory=dict)

    def report(self) -> None:
        """Progress in records: received so far, out of at most ``limit`` per source still running."""
        done = sum(t.found for t in self.tallies.values())
        total = sum(t.found if t.done else max(self.params.limit, t.found) for t in self.tallies.values())
        self.ctx.progress(done, total)

    async def import_page(self, tally: _Tally, records: list[PaperRecord]) -> None:
        papers = self.resources.papers
        try:
            result = await asyncio.to_thread(
                papers.import_records, self.ctx.project_id, records, fence=self.fence
            )
        except FenceLost:
            raise TaskCancelled("the task is no longer running at this attempt") from None
        tally.found += len(records)
        tally.imported += result.created
        tally.already_present += result.already_present
        self.report()

    async def run_source(self, name: str) -> None:
        tally = self.tallies[name]
        query = SearchQuery(
            query=self.params.query,
            limit=self.params.limit,
            year_from=self.params.year_from,
            year_to=self.params.year_to,
            open_access_only=self.params.open_access_only,
        )
        try:
            async with open_source(self.resources.sources[name], StorePacer(self.resources.papers)) as source:
                async for page in source.pages(query):
                    self.ctx.check_cancelled()
                    if page:
                        await self.import_page(tally, page[: self.params.limit - tally.found])
                    if tally.found >= self.params.limit:
                        break
        except SourceError as exc:
            tally.error = str(exc) or type(exc).__name__
        except (TaskCancelled, StoreUnavailable):
            raise
        except Exception as exc:  # a source answering what its client cannot read fails alone
            tally.error = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            tally.done = True


class SearchFailed(Exception):
    """Every source the search asked failed: nothing was found, and the task fails saying why."""


def _named(source: str, error: str) -> str:
    """The error of one source, prefixed with its name unless it already names it."""
    return error if source in error else f"{source}: {error}"


async def _all_or_stop(steps: list[Coroutine[Any, Any, None]]) -> None:
    """Run the steps together; the first that raises stops the others (none is left running)."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@handler("search", validate=validate_search)
async def search(ctx: TaskContext) -> dict[str, Any]:
    """Search every asked source at once; import each page as it arrives."""
    params = SearchParams.read(ctx.params)
    run = _Run(ctx, resources_of(ctx), params, Fence(ctx.task_id, ctx.attempt))
    run.tallies = {name: _Tally() for name in params.sources}
    run.report()
    await _all_or_stop([run.run_source(name) for name in params.sources])
    run.report()
    tallies = run.tallies
    if all(t.error is not None for t in tallies.values()):
        errors = "; ".join(_named(name, t.error or "") for name, t in tallies.items())
        raise SearchFailed(f"every source failed: {errors}")
    return {
        "query": params.query,
        "papers_found": sum(t.found for t in tallies.values()),
        "imported": sum(t.imported for t in tallies.values()),
        "already_present": sum(t.already_present for t in tallies.values()),
        "by_source": {name: t.as_result() for name, t in tallies.items()},
    }
