"""The settings this part adds: tokens (never shown), the unauthenticated escape hatch, retention days
reaching the worker, the live stream's intervals."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from taskapi.app import server_config, worker_options
from taskapi.http_guard import GuardedHttpToolsProtocol, HttpLimits
from taskapi.settings import Settings

SECRET = "operate-token-that-must-not-show"


def from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"TASKAPI_{name.upper()}", value)
    return Settings()  # type: ignore[call-arg]  # the fields come from the environment


def test_tokens_come_from_the_environment_and_never_show_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, api_tokens=f"operate:{SECRET}", allow_unauthenticated="true")
    assert settings.api_tokens is not None and settings.api_tokens.get_secret_value() == f"operate:{SECRET}"
    assert settings.allow_unauthenticated is True
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_defaults_keep_access_control_off_and_thirty_days_of_history(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch)
    assert (settings.api_tokens, settings.api_tokens_file, settings.allow_unauthenticated) == (
        None,
        None,
        False,
    )
    assert settings.retention_days == 30
    assert (settings.events_poll_interval, settings.events_keepalive) == (0.25, 15.0)


@pytest.mark.parametrize(("days", "seconds"), [(30, 2_592_000), (7, 604_800), (0, 0)])
def test_retention_days_reach_the_worker_in_seconds(
    monkeypatch: pytest.MonkeyPatch, days: int, seconds: int
) -> None:
    assert worker_options(from_env(monkeypatch, retention_days=str(days))).retention_seconds == seconds


def test_a_negative_retention_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="retention_days"):
        from_env(monkeypatch, retention_days="-1")


def test_one_api_process_by_default_and_auto_is_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_env(monkeypatch).processes == 1
    assert from_env(monkeypatch, processes="3").processes == 3
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert from_env(monkeypatch, processes="auto").processes == 6


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_process_count_that_is_not_a_positive_number_or_auto_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with pytest.raises(ValidationError, match="processes"):
        from_env(monkeypatch, processes=value)


def test_the_protective_limits_reach_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(
        monkeypatch,
        header_timeout="2.5",
        max_header_bytes="4096",
        keep_alive_timeout="7",
        limit_concurrency="50",
    )
    config = server_config(FastAPI(), settings)
    config.load()
    protocol = config.http_protocol_class
    assert issubclass(protocol, GuardedHttpToolsProtocol)
    assert protocol.limits == HttpLimits(header_timeout=2.5, max_header_bytes=4096, limit_concurrency=50)
    assert config.timeout_keep_alive == 7


def test_the_limits_default_to_a_ten_second_head_of_at_most_64_kib_and_no_concurrency_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = from_env(monkeypatch)
    assert (settings.header_timeout, settings.max_header_bytes, settings.keep_alive_timeout) == (
        10.0,
        65536,
        5.0,
    )
    assert settings.limit_concurrency is None
