"""The resources of the built-in pipeline's handlers: the papers library, the file store, the sources'
settings. Opened once per process by the worker (``ResourceSpec`` names ``open_pipeline``) and handed
to handlers as ``ctx.resources``.

In the worker's own process the library shares the worker's store (one pool); in a handler's child
process ``open_pipeline`` opens a store of its own from the configured URL, after the fork.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from taskapi.papers.files import FileStore, LocalFileStore
from taskapi.papers.repository import PapersRepository
from taskapi.pipeline.sources import SourceConfig
from taskapi.store import Store, open_store
from taskapi.worker.context import TaskContext

FACTORY = "taskapi.pipeline.resources:open_pipeline"
CHILD_POOL_SIZE = 2
"""Connections of a handler's child process (it runs one task at a time)."""


@dataclass(frozen=True, slots=True)
class CrawlSettings:
    """The deployment's crawl settings (the task's params bound one run)."""

    allow_private: bool = False
    host_interval: float = 1.0
    unpaywall_url: str | None = None
    contact_email: str | None = None
    user_agent: str = "taskapi"


@dataclass(frozen=True, slots=True)
class PipelineResources:
    store: Store
    papers: PapersRepository
    files: FileStore
    sources: Mapping[str, SourceConfig]
    crawl: CrawlSettings
    tesseract_cmd: str = "tesseract"


def user_agent(contact_email: str | None) -> str:
    """What every request of the pipeline says it is: taskapi, and whom to tell when it misbehaves."""
    try:
        version = metadata.version("taskapi")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        version = "0"
    contact = f" (mailto:{contact_email})" if contact_email else ""
    return f"taskapi/{version}{contact}"


def _sources(config: Mapping[str, Any]) -> dict[str, SourceConfig]:
    contact = config.get("contact_email")
    return {
        name: SourceConfig(
            name=name,
            url=str(source["url"]).rstrip("/"),
            api_key=source.get("api_key"),
            contact_email=contact,
            min_interval=float(source.get("min_interval", 1.0)),
            timeout=float(config.get("source_timeout", 30.0)),
        )
        for name, source in dict(config.get("sources", {})).items()
    }


@contextmanager
def open_pipeline(config: Mapping[str, Any], store: Store | None) -> Iterator[PipelineResources]:
    """The resources for ``config`` (built by the composition root from the settings)."""
    own = store is None
    if store is None:
        store = open_store(str(config["database_url"]), pool_min_size=1, pool_max_size=CHILD_POOL_SIZE)
    contact = config.get("contact_email")
    try:
        yield PipelineResources(
            store=store,
            papers=PapersRepository(store),
            files=LocalFileStore(Path(str(config.get("data_dir", "./taskapi-data")))),
            sources=_sources(config),
            crawl=CrawlSettings(
                allow_private=bool(config.get("crawl_allow_private_hosts", False)),
                host_interval=float(config.get("crawl_host_interval", 1.0)),
                unpaywall_url=(config.get("unpaywall_url") or None),
                contact_email=contact,
                user_agent=user_agent(contact),
            ),
            tesseract_cmd=str(config.get("tesseract_cmd") or "tesseract"),
        )
    finally:
        if own:
            store.close()


def resources_of(ctx: TaskContext) -> PipelineResources:
    """The pipeline's resources from a handler's context (a worker started without them cannot run
    the built-in pipeline's library steps)."""
    value = ctx.resources
    if not isinstance(value, PipelineResources):
        raise RuntimeError("this worker was not given the pipeline's resources (taskapi.pipeline.resources)")
    return value


class StorePacer:
    """The next allowed request time per source, kept in the store: every worker and host sharing the
    database takes its turn from one clock, and a 429 pushes everyone back."""

    def __init__(self, papers: PapersRepository) -> None:
        self._papers = papers

    async def wait_turn(self, source: str, interval: float) -> None:
        wait = await asyncio.to_thread(self._papers.pace_reserve, f"source:{source}", interval)
        if wait > 0:
            await asyncio.sleep(wait)

    async def push_back(self, source: str, seconds: float) -> None:
        await asyncio.to_thread(self._papers.pace_push, f"source:{source}", seconds)
