"""One notifier per dialect: how a store announces its creates and cancels, and its log's growth.

A store publishes after its own commits, and nothing else does: the service, the API and the worker
only subscribe. Each subscriber hears each announcement once:

- this store object's announcements are delivered directly, in the writing thread, after the commit;
- other store objects' (other processes', other hosts') arrive through the dialect's carrier, and
  a listener drops the ones its own store published (the ``origin`` of ``taskapi.store.codec``).

SQLite's carrier is the host's datagram sockets (``_host_signals``); PostgreSQL's is NOTIFY, sent in
the writing transaction by the store's SQL and heard by a LISTEN thread (``_pg_listen``). The change
feed's wake-up ("the event log grew") is local calls on SQLite (other processes are polled) and the
``taskapi_changes`` channel on PostgreSQL (every process's writes, this one's included).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from taskapi.signals import Signals, TaskSignal
from taskapi.store import codec
from taskapi.store._host_signals import HostSignals
from taskapi.store._pg_listen import Listener

log = logging.getLogger("taskapi.store")

OnSignal = Callable[[TaskSignal], None]
Stop = Callable[[], None]


def _both(first: Stop, second: Stop) -> Stop:
    def stop() -> None:
        first()
        second()

    return stop


class Notifier:
    """The part both dialects share: this store object's subscribers and the change listeners.

    ``local`` is the list of in-process subscribers (``TaskService.signals`` is this object, so code
    that subscribes there keeps working)."""

    def __init__(self) -> None:
        self.local = Signals()
        self._changes: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, on_signal: OnSignal, *, remote: bool = True) -> Stop:
        """Call ``on_signal`` for every create and cancel this store commits and, with ``remote``,
        those of every other store object on the database (from another thread); answer the stopper."""
        stop_local = self.local.subscribe(on_signal)
        return _both(stop_local, self._listen_remote(on_signal)) if remote else stop_local

    def announce(self, signals: Sequence[TaskSignal]) -> None:
        """After a commit: tell this process's subscribers (and, where the carrier is ours to send,
        the other processes). Never fails the write that committed."""
        for signal in signals:
            self.local.publish(signal)
        self._send_remote(signals)

    def listen_changes(self, on_change: Callable[[], None]) -> Stop:
        """Call ``on_change`` soon after the event log grows (see the dialect's notes)."""
        with self._lock:
            self._changes.append(on_change)

        def stop() -> None:
            with self._lock:
                if on_change in self._changes:
                    self._changes.remove(on_change)

        return stop

    def changed(self) -> None:
        """After a commit that grew the event log: call this process's change listeners."""
        with self._lock:
            listeners = list(self._changes)
        for listener in listeners:
            try:
                listener()
            except Exception:  # a listener's bug must not fail the write that committed
                log.exception("change listener failed")

    def close(self) -> None:
        return None

    def _listen_remote(self, on_signal: OnSignal) -> Stop:
        raise NotImplementedError

    def _send_remote(self, signals: Sequence[TaskSignal]) -> None:
        raise NotImplementedError


class SQLiteNotifier(Notifier):
    """SQLite: in-process calls, and host datagrams to the other processes that use the same file.
    Changes are local only: other processes' writes are found by polling."""

    def __init__(self, database: Path) -> None:
        super().__init__()
        self.host = HostSignals(database)

    def _listen_remote(self, on_signal: OnSignal) -> Stop:
        return self.host.listen(on_signal)

    def _send_remote(self, signals: Sequence[TaskSignal]) -> None:
        """Other processes need only what their workers act on: a bulk cancel of pending tasks sends
        no datagrams."""
        self.host.publish_all([s for s in signals if s.kind == "created" or s.worker_id is not None])

    def close(self) -> None:
        self.host.close()


class PostgresNotifier(Notifier):
    """PostgreSQL: NOTIFY goes with the writing transaction (the store's SQL sends it, tagged with
    ``origin`` through the session setting ``taskapi.origin`` of the store's connections); a LISTEN
    thread per subscriber hears the other stores'. Changes come from the ``taskapi_changes`` channel
    only (also this process's: the local ``changed`` does nothing), so they wake a listener once."""

    ORIGIN_SETTING = "taskapi.origin"

    def __init__(self, url: str, where: str, listen_sql: str, changes_sql: str, timeout: float) -> None:
        super().__init__()
        self.origin = uuid.uuid4().hex
        self._url, self._where, self._timeout = url, where, timeout
        self._listen_sql, self._changes_sql = listen_sql, changes_sql

    def _listen_remote(self, on_signal: OnSignal) -> Stop:
        """Returns once LISTEN is in place (or after ``timeout`` if the server does not answer: the
        listener keeps trying), so a caller that polls once afterwards misses nothing in between."""

        def on_payload(payload: str) -> None:
            heard = codec.decode(payload)
            if heard is not None and heard.origin != self.origin:
                on_signal(heard.signal)

        return self._start(Listener(self._url, self._listen_sql, on_payload, self._where))

    def _send_remote(self, signals: Sequence[TaskSignal]) -> None:
        return None  # sent by the writing statement, delivered at its commit

    def listen_changes(self, on_change: Callable[[], None]) -> Stop:
        """Every statement that grew the log, from any process; also each (re)connect, since changes
        may have been missed while disconnected."""
        listener = Listener(
            self._url, self._changes_sql, lambda _payload: on_change(), self._where, on_listening=on_change
        )
        return self._start(listener)

    def changed(self) -> None:
        return None

    def _start(self, listener: Listener) -> Stop:
        listener.start()
        listener.listening.wait(self._timeout)
        return listener.stop
