"""When a call is tried again, and after how long: bounded exponential backoff with jitter (tenacity),
longer when a 503 says ``Retry-After``.

A call is tried again on a 503 or a broken connection only when it may safely be sent twice
(``Call.resend``: reads, cancels, creates with an idempotency key); any call is tried again when the
connection could not even be made, since then nothing reached the server. A failed TLS handshake is
never retried: it will fail the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from taskapi.client._calls import Call
from taskapi.client._errors import ConnectionFailed, ServiceUnavailable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries at most, within ``total`` seconds, waiting ``first_delay`` then doubling (with
    jitter) up to ``max_delay``; a 503's ``Retry-After`` is honoured up to ``max_delay``.
    ``RetryPolicy(attempts=1)`` never retries."""

    attempts: int = 5
    first_delay: float = 0.1
    max_delay: float = 2.0
    total: float = 15.0

    def may_retry(self, call: Call[Any], exc: BaseException) -> bool:
        if isinstance(exc, ConnectionFailed):
            return not exc.tls and (call.resend or not exc.sent)
        return isinstance(exc, ServiceUnavailable) and call.resend

    def delay(self, state: RetryCallState) -> float:
        """The backoff's wait, or a 503's ``Retry-After`` when longer; at most ``max_delay``."""
        wait = self._backoff(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, ServiceUnavailable) and failure.retry_after is not None:
            wait = max(wait, failure.retry_after)
        return min(wait, self.max_delay)

    @property
    def _backoff(self) -> wait_exponential_jitter:
        return wait_exponential_jitter(
            multiplier=self.first_delay, max=self.max_delay, jitter=self.first_delay
        )

    def _options(self, call: Call[Any]) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.attempts) | stop_after_delay(self.total),
            "wait": self.delay,
            "retry": retry_if_exception(lambda exc: self.may_retry(call, exc)),
            "reraise": True,
        }

    def retrying(self, call: Call[Any]) -> Retrying:
        return Retrying(**self._options(call))

    def async_retrying(self, call: Call[Any]) -> AsyncRetrying:
        return AsyncRetrying(**self._options(call))
