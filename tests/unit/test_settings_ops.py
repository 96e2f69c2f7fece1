"""The settings this part adds: tokens (never shown), the unauthenticated escape hatch, retention days
reaching the worker, the live stream's intervals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskapi.app import worker_options
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
