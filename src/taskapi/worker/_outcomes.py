"""What became of one attempt, as a value: one type per outcome, matched by type where it is written.

``Completed`` and ``Failed`` (and ``TimedOut``, a failure) are written as the task's final state;
``HandedBack`` puts the task back to pending; ``Cancelled`` and ``Lost`` write nothing, since the store
already says so. A stop outcome says whether the handler's process had to be killed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar


class StopReason(enum.Enum):
    """Why a running task was asked to stop (the first reason asked wins)."""

    CANCELLED = "cancelled"  # the task is cancelled in the store: write nothing
    LOST = "lost"  # the attempt is no longer ours (rescued elsewhere): write nothing
    TIMEOUT = "timeout"  # the handler ran past its timeout: the task fails
    SHUTDOWN = "shutdown"  # the worker stops: hand the task back as pending


@dataclass(frozen=True, slots=True)
class Completed:
    """The handler returned ``result`` (already a JSON object)."""

    result: dict[str, Any]
    label: ClassVar[str] = "completed"  # in metrics and logs


@dataclass(frozen=True, slots=True)
class Failed:
    """The handler raised, or could not be run; ``error_message`` is what the task shows."""

    error_message: str
    label: ClassVar[str] = "failed"


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The handler ran past its timeout of ``timeout`` seconds: the task fails saying so."""

    timeout: float
    killed: bool = False
    label: ClassVar[str] = StopReason.TIMEOUT.value

    @property
    def error_message(self) -> str:
        message = f"TimeoutError: the task ran longer than its timeout of {self.timeout:g} s"
        return message + " and was killed" if self.killed else message


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Stopped because the task was cancelled: the store already holds the final state."""

    killed: bool = False
    label: ClassVar[str] = StopReason.CANCELLED.value


@dataclass(frozen=True, slots=True)
class Lost:
    """Stopped because the attempt is no longer ours (rescued, or finished elsewhere)."""

    killed: bool = False
    label: ClassVar[str] = StopReason.LOST.value


@dataclass(frozen=True, slots=True)
class HandedBack:
    """Stopped because the worker stops (or held the task too long): back to pending, ``why`` on its
    timeline."""

    why: str = "worker shutdown"
    killed: bool = False
    label: ClassVar[str] = StopReason.SHUTDOWN.value


Stopped = TimedOut | Cancelled | Lost | HandedBack
Outcome = Completed | Failed | Stopped


def stopped(
    reason: StopReason | None,
    timeout: float | None,
    *,
    killed: bool = False,
    why: str = "worker shutdown",
) -> Stopped:
    """The outcome of a handler stopped for ``reason`` (``None``, never asked: taken as a cancel);
    ``timeout`` is the handler's, ``why`` what a task handed back shows on its timeline."""
    match reason:
        case StopReason.TIMEOUT:
            assert timeout is not None, "only a handler with a timeout runs past it"
            return TimedOut(timeout, killed)
        case StopReason.LOST:
            return Lost(killed)
        case StopReason.SHUTDOWN:
            return HandedBack(why, killed)
        case _:
            return Cancelled(killed)


def was_killed(outcome: Outcome) -> bool:
    """Whether the handler's process was killed to end this attempt."""
    return not isinstance(outcome, Completed | Failed) and outcome.killed
