"""The one payload format of an announcement (a task created or cancelled), for every carrier.

PostgreSQL's NOTIFY payloads (a create's built here by the store, once per task type; a cancel's in
SQL by ``json_build_object`` with the same keys) and SQLite's host datagrams (built here) are the
same JSON object: ``kind``, ``task_id``, ``task_type``,
``worker_id`` and ``origin``, the token of the store object that published it. A store delivers its
own announcements to its subscribers directly, after its commit, so a listener drops a payload whose
origin is its own store's: each subscriber hears each announcement once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from taskapi.signals import TaskSignal

log = logging.getLogger("taskapi.store")


@dataclass(frozen=True, slots=True)
class Heard:
    """A decoded payload: the signal and the origin token of the store that published it (``None``
    when the writer set none, e.g. SQL run by hand)."""

    signal: TaskSignal
    origin: str | None


def encode(signal: TaskSignal, origin: str) -> bytes:
    """The payload of ``signal`` published by the store whose token is ``origin``."""
    fields = {
        "kind": signal.kind,
        "task_id": signal.task_id,
        "task_type": signal.task_type,
        "worker_id": signal.worker_id,
        "origin": origin,
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def decode(payload: str | bytes) -> Heard | None:
    """The signal in ``payload``; ``None`` (logged, never raised) when it is not one of ours."""
    try:
        data = json.loads(payload)
        kind = data["kind"]
        if kind not in ("created", "cancelled"):
            raise ValueError(kind)
        signal = TaskSignal(
            kind=kind,
            task_id=int(data.get("task_id") or 0),
            task_type=data.get("task_type"),
            worker_id=data.get("worker_id"),
        )
        origin = data.get("origin")
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignoring a malformed announcement: %r", payload[:200])
        return None
    return Heard(signal, origin if isinstance(origin, str) else None)
