"""The chaos run, short (CI): about 15 s of faults on each store, through the same entry point as
``make chaos`` (a separate process, as a person would run it). It must inject every kind of fault,
reconnect its stream clients, and find no violation of any invariant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.procs import REPO
from tests.conftest import unavailable
from tests.helpers.private_postgres import postgres_missing

SECONDS = "15"


def _chaos(store: str, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "chaos.json"
    command = [sys.executable, "-m", "tests.chaos.chaos", "--seconds", SECONDS, "--store", store]
    command += ["--fault-interval", "1.5", "--rate", "25", "--json", str(out), "--verbose"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=200, check=False)
    report = f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, report
    figures: dict[str, object] = json.loads(out.read_text())["figures"]
    assert figures["violations"] == 0, report
    # Low floors: serve's start-up costs about 1 s of CPU, but tens of seconds of wall time on a machine
    # whose cores are busy with other work, and the clients wait meanwhile. The invariants are the test.
    assert int(str(figures["tasks created (API)"])) >= 10, report
    assert int(str(figures["handler runs completed"])) >= 5, report
    assert int(str(figures["workers SIGKILLed"])) >= 1, report
    assert int(str(figures["serve restarts (KILL/TERM)"])) >= 1, report
    # the stream clients were cut off by the restart of serve and came back with Last-Event-ID
    connects = [int(n) for n in str(figures["stream connects (all / project)"]).split(" / ")]
    assert min(connects) >= 2, report
    return figures


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_chaos_on_sqlite(tmp_path: Path) -> None:
    _chaos("sqlite", tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_chaos_on_a_private_postgres(tmp_path: Path) -> None:
    if (missing := postgres_missing()) is not None:
        unavailable(missing)
    figures = _chaos("postgres", tmp_path)
    assert int(str(figures["PostgreSQL SIGKILLed and restarted"])) >= 1, figures
