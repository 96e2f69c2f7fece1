"""Configuration from the environment (``TASKAPI_*``) with command-line flags on top."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./taskapi.db"
DEFAULT_SOURCE_MIN_INTERVAL = {"semantic_scholar": 1.0, "arxiv": 3.0, "openalex": 0.1, "crossref": 1.0}
"""Seconds between two requests to a source, for the whole deployment (its published limits)."""


def default_concurrency() -> int:
    """Enough slots to keep the machine busy with I/O-bound handlers, never fewer than 4."""
    return max(4, 2 * (os.cpu_count() or 2))


def _process_count(value: object) -> object:
    """``auto`` is one API process per core (the HTTP layer is CPU-bound; the store does the rest)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return os.cpu_count() or 1
        if not text.lstrip("-").isdigit():
            raise ValueError(f"expected a number of processes or auto, got {value!r}")
    return value


class Settings(BaseSettings):
    """Every knob of the service; each reads ``TASKAPI_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="TASKAPI_", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="sqlite:///PATH or postgresql://...")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    processes: Annotated[int, BeforeValidator(_process_count)] = Field(
        1, ge=1, description="API processes sharing the port (auto: one per core); one embedded worker"
    )
    header_timeout: float = Field(
        10.0, gt=0, description="seconds a client may take to send a request's line and headers"
    )
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="largest request line plus headers; more is answered 431"
    )
    keep_alive_timeout: float = Field(
        5.0, gt=0, description="seconds an idle keep-alive connection stays open"
    )
    limit_concurrency: int | None = Field(
        None, ge=1, description="connections (streams included) per API process beyond which requests get 503"
    )
    log_level: str = "info"
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    max_import_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="largest body of POST /api/v1/papers (10,000 records)"
    )
    handlers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="handler modules, comma-separated"
    )
    builtin_handlers: bool = Field(
        True, description="run the built-in pipeline's handlers (false: only the --handlers modules)"
    )
    concurrency: int = Field(default_factory=default_concurrency, ge=1)
    lease_seconds: float = Field(30.0, gt=0)
    cancel_grace: float = Field(5.0, ge=0)
    shutdown_timeout: float = Field(30.0, ge=0)
    poll_interval: float = Field(0.25, gt=0, description="fallback poll for work and cancels (seconds)")
    rescue_interval: float = Field(5.0, gt=0)
    run_worker: bool = True
    listen: bool = Field(True, description="use PostgreSQL LISTEN/NOTIFY (false: poll only)")
    pool_min_size: int = Field(1, ge=1, description="PostgreSQL pool: connections kept open")
    pool_max_size: int = Field(10, ge=1, description="PostgreSQL pool: most connections per process")
    api_tokens: SecretStr | None = Field(
        None, description="access tokens, comma-separated role:token (roles: read, operate)"
    )
    api_tokens_file: Path | None = Field(None, description="a file of access tokens, one role:token a line")
    allow_unauthenticated: bool = Field(
        False,
        description="serve without tokens on a non-loopback address (anyone who reaches it may operate)",
    )
    retention_days: int = Field(30, ge=0, description="prune finished tasks older than this (0: keep all)")
    startup_wait: float = Field(
        60.0,
        ge=0,
        description="seconds serve and worker wait at start for a store not reachable yet (0: fail at once)",
    )
    events_poll_interval: float = Field(
        0.25, gt=0, description="how often the live stream looks for changes it was not woken for (seconds)"
    )
    events_keepalive: float = Field(
        15.0, gt=0, description="seconds between keep-alive comments on a quiet stream"
    )
    events_max_clients: int = Field(
        1000, ge=1, description="live streams one API process holds at once; more are answered 503"
    )
    events_client_buffer: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="bytes queued for one stream client before it is dropped and cut off",
    )
    events_send_timeout: float = Field(
        30.0, gt=0, description="seconds a stream write may wait for its client to read before it is cut off"
    )

    # -- the pipeline's sources and files (PIPELINE.md "Settings") --------------------------------
    semantic_scholar_url: str = "https://api.semanticscholar.org/graph/v1"
    semantic_scholar_api_key: SecretStr | None = None
    arxiv_url: str = "https://export.arxiv.org/api"
    openalex_url: str = "https://api.openalex.org"
    openalex_api_key: SecretStr | None = None
    crossref_url: str = "https://api.crossref.org"
    contact_email: str | None = Field(None, description="the mailto and User-Agent contact of the sources")
    source_min_interval: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_SOURCE_MIN_INTERVAL),
        description="seconds between requests per source, e.g. semantic_scholar=1,arxiv=3",
    )
    source_timeout: float = Field(30.0, gt=0, description="seconds a source request may take")
    unpaywall_url: str = Field(
        "https://api.unpaywall.org/v2", description="Unpaywall for crawl's DOI lookups (empty: none)"
    )
    data_dir: Path = Field(Path("./taskapi-data"), description="the file store (PDFs), shared by workers")
    crawl_allow_private_hosts: bool = Field(
        False, description="let crawl fetch loopback and private addresses (tests; never in production)"
    )
    crawl_host_interval: float = Field(1.0, ge=0, description="seconds between two downloads from one host")
    tesseract_cmd: str = Field("tesseract", description="the Tesseract program the ocr step runs")

    @field_validator("source_min_interval", mode="before")
    @classmethod
    def _parse_intervals(cls, value: object) -> object:
        """``semantic_scholar=1,arxiv=3``: the sources named override the defaults, the rest keep them."""
        if not isinstance(value, str):
            return value
        intervals = dict(DEFAULT_SOURCE_MIN_INTERVAL)
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            name, sep, seconds = part.partition("=")
            name = name.strip()
            if not sep or name not in DEFAULT_SOURCE_MIN_INTERVAL:
                raise ValueError(
                    f"expected source=seconds with a source among {', '.join(DEFAULT_SOURCE_MIN_INTERVAL)},"
                    f" got {part!r}"
                )
            try:
                intervals[name] = float(seconds)
            except ValueError:
                raise ValueError(f"{name}: {seconds.strip()!r} is not a number of seconds") from None
            if not intervals[name] >= 0:
                raise ValueError(f"{name}: the interval must be 0 or more seconds")
        return intervals

    @field_validator("handlers", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
