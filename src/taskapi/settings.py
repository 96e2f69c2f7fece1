"""Configuration from the environment (``TASKAPI_*``) with command-line flags on top."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./taskapi.db"


def default_concurrency() -> int:
    """Enough slots to keep the machine busy with I/O-bound handlers, never fewer than 4."""
    return max(4, 2 * (os.cpu_count() or 2))


class Settings(BaseSettings):
    """Every knob of the service; each reads ``TASKAPI_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="TASKAPI_", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="sqlite:///PATH or postgresql://...")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "info"
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    handlers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="handler modules, comma-separated"
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
    events_poll_interval: float = Field(
        0.25, gt=0, description="how often the live stream looks for changes it was not woken for (seconds)"
    )
    events_keepalive: float = Field(
        15.0, gt=0, description="seconds between keep-alive comments on a quiet stream"
    )

    @field_validator("handlers", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
