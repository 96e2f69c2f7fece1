"""Task slots: where a handler leaves progress and finds its stop request (see ``context.py``).

``LocalSlot`` serves handlers on the worker's event loop; ``SharedSlot`` lives in shared memory so a
handler in a child process reports with plain memory stores and the worker reads without any IPC.
"""

from __future__ import annotations

from typing import Any

_PROGRESS, _TOTAL, _SEQ, _STOP = range(4)
SHARED_FIELDS = 4


class LocalSlot:
    """A slot in this process: plain attributes, read and written on one event loop."""

    __slots__ = ("progress", "seq", "stop_requested", "total")

    def __init__(self) -> None:
        self.progress = 0
        self.total = 0
        self.seq = 0
        self.stop_requested = False

    def set_progress(self, done: int, total: int | None) -> None:
        self.progress = done
        if total is not None:
            self.total = total
        self.seq += 1

    def request_stop(self) -> None:
        self.stop_requested = True

    def snapshot(self) -> tuple[int, int, int]:
        """``(progress, total, seq)``; ``seq`` changes with every report."""
        return self.progress, self.total, self.seq


class SharedSlot:
    """A slot over a shared ``int64[4]`` array: progress, total, report count, stop flag.

    Writes are not atomic as a group; a reader may see a new progress with an old total for one flush,
    and the next flush (seq moved on) corrects it. The last value always lands: the worker reads the
    slot again after the handler has returned.
    """

    __slots__ = ("_array",)

    def __init__(self, array: Any) -> None:
        self._array = array

    def set_progress(self, done: int, total: int | None) -> None:
        array = self._array
        array[_PROGRESS] = done
        if total is not None:
            array[_TOTAL] = total
        array[_SEQ] += 1

    @property
    def stop_requested(self) -> bool:
        return bool(self._array[_STOP])

    def request_stop(self) -> None:
        self._array[_STOP] = 1

    def reset(self) -> None:
        for index in range(SHARED_FIELDS):
            self._array[index] = 0

    def snapshot(self) -> tuple[int, int, int]:
        array = self._array
        return array[_PROGRESS], array[_TOTAL], array[_SEQ]


__all__ = ["SHARED_FIELDS", "LocalSlot", "SharedSlot"]
