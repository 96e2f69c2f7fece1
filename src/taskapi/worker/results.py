"""Turning what a handler returned or raised into what the store keeps."""

from __future__ import annotations

import json
from typing import Any

from taskapi.domain import json_has_nul

MAX_ERROR_CHARS = 2000


def normalise_result(value: Any) -> dict[str, Any]:
    """A handler's return value as a JSON object: ``None`` is ``{}``, another JSON value is wrapped.

    Raises ``TypeError``/``ValueError`` when the value is not JSON (the task then fails saying so).
    """
    if value is None:
        return {}
    result = value if isinstance(value, dict) else {"value": value}
    text = json.dumps(result, allow_nan=False)
    if json_has_nul(text):
        raise ValueError("a result must not contain the NUL character (PostgreSQL cannot store it)")
    return result


def describe_error(exc: BaseException) -> str:
    """``"ExceptionType: message"``, bounded in size (the traceback goes to the log, not the task)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 15] + "... (truncated)"
    return text
