"""A circuit breaker for a database server: fail fast while it is known to be down.

A pool that cannot connect makes every caller wait its whole timeout (5 s) before failing; an API
request should answer 503 at once instead. The store trips the circuit when a connection breaks or
the pool times out; while it is open, ``check`` raises ``StoreUnavailable`` without touching the pool,
and a background thread probes the server every ``interval`` seconds with a direct connection. The
first probe that succeeds closes the circuit: the store recovers by itself, without a request having
to pay for the probe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from taskapi.domain import StoreUnavailable

log = logging.getLogger("taskapi.store")

PROBE_INTERVAL = 0.25
"""Seconds between two probes while the server is down: how soon after it is back requests succeed."""


class Circuit:
    """Closed (calls go through) or open (calls fail at once, a thread probes until the server
    answers). Thread-safe."""

    def __init__(self, probe: Callable[[], None], what: str, interval: float = PROBE_INTERVAL) -> None:
        self._probe = probe
        self._what = what
        self._interval = interval
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._open_since: float | None = None
        self._reason = ""
        self._prober: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    def check(self) -> None:
        """Raise ``StoreUnavailable`` while the server is known to be down."""
        since = self._open_since
        if since is not None:
            down = time.monotonic() - since
            raise StoreUnavailable(f"{self._what} is unavailable (down for {down:.1f} s): {self._reason}")

    def trip(self, reason: str) -> None:
        """A connection broke or could not be had: open, and probe in the background until it answers."""
        with self._lock:
            self._reason = reason
            if self._open_since is not None or self._closing.is_set():
                return
            self._open_since = time.monotonic()
            self._prober = threading.Thread(target=self._run, name="taskapi-db-probe", daemon=True)
            self._prober.start()
        log.warning("%s is unavailable (%s): failing fast until it answers again", self._what, reason)

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                self._probe()
            except Exception as exc:  # any failure means still down; keep the latest reason
                self._reason = str(exc).strip() or type(exc).__name__
                self._closing.wait(self._interval)
                continue
            with self._lock:
                since, self._open_since = self._open_since, None
            if since is not None:
                log.warning("%s answers again after %.1f s", self._what, time.monotonic() - since)
            return

    def close(self) -> None:
        """Stop probing (the store is closing)."""
        self._closing.set()
        prober = self._prober
        if prober is not None and prober is not threading.current_thread():
            prober.join(timeout=5)
