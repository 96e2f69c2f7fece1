"""PostgreSQL's LISTEN, on a thread and a connection of its own: the carrier of ``PostgresNotifier``
(creates and cancels, for workers; ``taskapi_changes``, for the change feed)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

import psycopg

from taskapi.signals import TaskSignal
from taskapi.store import codec

log = logging.getLogger("taskapi.store")


class Listener:
    """A thread on its own connection that LISTENs and hands each NOTIFY payload to ``on_payload``.

    A lost connection is reopened with backoff; ``on_listening`` runs each time LISTEN is (re)issued,
    since what was announced meanwhile was missed. A notification is a shortcut, never the only path:
    the worker polls and the change feed re-reads the log.
    """

    def __init__(
        self,
        url: str,
        listen_sql: str,
        on_payload: Callable[[str], None],
        where: str,
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        self._url = url
        self._sql = listen_sql
        self._on_payload = on_payload
        self._on_listening = on_listening
        self._where = where
        self._stopping = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="taskapi-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(self._sql)
                    self.listening.set()
                    backoff = 0.1
                    self._call(self._on_listening)
                    while not self._stopping.is_set():
                        for notify in conn.notifies(timeout=0.25):
                            self._call(functools.partial(self._on_payload, notify.payload))
            except Exception as exc:  # psycopg's errors and any other: reconnect, never die silently
                self.listening.clear()
                log.warning("LISTEN on %s lost (%s); reconnecting in %.1f s", self._where, exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    @staticmethod
    def _call(callback: Callable[[], None] | None) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:  # a listener's bug must not stop the notifications
            log.exception("a notification listener failed")


def deliver(payload: str, on_signal: Callable[[TaskSignal], None]) -> None:
    """Turn a 'taskapi' payload into a ``TaskSignal``; a malformed one is logged and dropped."""
    heard = codec.decode(payload)
    if heard is not None:
        on_signal(heard.signal)
