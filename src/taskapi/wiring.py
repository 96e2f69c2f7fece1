"""The light half of the composition root: the configured store, the pipeline's resources and the
handlers' params checks, built from the settings without the web framework (the CLI opens stores for
every command; FastAPI costs it most of a second). ``taskapi.app`` adds the API and the worker."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from taskapi.domain import StoreUnavailable
from taskapi.papers import PAPERS_COMPONENT
from taskapi.service import ParamsValidator
from taskapi.settings import Settings
from taskapi.store import Store, open_store
from taskapi.worker import ResourceSpec, load_handlers, params_validators

log = logging.getLogger("taskapi")
PIPELINE_FACTORY = "taskapi.pipeline.resources:open_pipeline"
"""Opens the built-in pipeline's resources in each process (named, so the worker never imports it)."""
PIPELINE_COMPONENTS = (PAPERS_COMPONENT,)
"""Tables beside the task store's: the papers library, migrated with it, after it."""


def open_migrated_store(settings: Settings, *, wait: float = 0.0) -> Store:
    """The configured store with every migration applied (the service never runs on an old schema).

    With ``wait``, a store that cannot be reached yet (a database starting beside us, restarting, or
    not yet reachable over the network) is tried again with a growing pause, for up to ``wait``
    seconds, each try logged; then ``StoreUnavailable``. A malformed URL fails at once."""
    deadline = time.monotonic() + wait
    pause = 0.25
    while True:
        try:
            return _open_migrated(settings)
        except StoreUnavailable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            pause = min(pause * 2, 5.0, left)
            log.warning("the task store is unavailable (%s): trying again in %.1f s", exc, pause)
            time.sleep(pause)


def _open_migrated(settings: Settings) -> Store:
    store = open_store(
        settings.database_url, pool_min_size=settings.pool_min_size, pool_max_size=settings.pool_max_size
    )
    try:
        applied = store.migrate(PIPELINE_COMPONENTS)
    except BaseException:
        store.close()
        raise
    if applied:
        log.info("applied migrations %s to %s", ", ".join(applied), redacted(settings.database_url))
    return store


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def pipeline_resources(settings: Settings) -> ResourceSpec:
    """What the built-in pipeline's handlers are given (``ctx.resources``): the same store, the file
    store and the sources, as plain values a handler's child process can open again."""
    intervals = settings.source_min_interval
    urls = {
        "semantic_scholar": (settings.semantic_scholar_url, _secret(settings.semantic_scholar_api_key)),
        "arxiv": (settings.arxiv_url, None),
        "openalex": (settings.openalex_url, _secret(settings.openalex_api_key)),
        "crossref": (settings.crossref_url, None),
    }
    config = {
        "database_url": settings.database_url,
        "data_dir": str(settings.data_dir),
        "contact_email": settings.contact_email,
        "source_timeout": settings.source_timeout,
        "sources": {
            name: {"url": url, "api_key": key, "min_interval": intervals.get(name, 1.0)}
            for name, (url, key) in urls.items()
        },
        "unpaywall_url": settings.unpaywall_url or None,
        "crawl_allow_private_hosts": settings.crawl_allow_private_hosts,
        "crawl_host_interval": settings.crawl_host_interval,
        "tesseract_cmd": settings.tesseract_cmd,
    }
    return ResourceSpec(PIPELINE_FACTORY, config)


def params_validators_for(settings: Settings) -> dict[str, ParamsValidator]:
    """The creation-time params checks of the handlers this deployment runs (the built-in ones,
    overridden by ``--handlers``): the API and the CLI check with the same set as the workers run."""
    return params_validators(load_handlers(settings.handlers, builtin=settings.builtin_handlers))
