"""The hot routes' answers as bytes, shared by the two doors that serve them: the FastAPI routes
(``routes_tasks``) and the fast path in front of them (``taskapi.api.fast``). One encoder per answer,
so that whichever door answers, the bytes are the same; ``tests/unit/test_api_fast_path.py`` holds the
fast path to the FastAPI routes' bytes.

A list page is the hottest answer (every dashboard and client poll): orjson encodes the store's rows
as they are, with their times cut to the second, instead of a dict built per row in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC
from operator import attrgetter

import orjson
from pydantic import TypeAdapter
from starlette.datastructures import URL

from taskapi.api.schemas import CURSOR_FORM, ApiResponse, TaskDetailSchema, TaskSchema
from taskapi.domain import Cursor, InvalidInput, ListedTask, Task, TaskType, decode_cursor, encode_cursor
from taskapi.service import next_cursor

__all__ = [
    "CANCELLED",
    "JSON_TYPE",
    "NOT_A_CURSOR",
    "detail_body",
    "list_body",
    "next_page_headers",
    "page_after",
]

JSON_TYPE = "application/json"
NOT_A_CURSOR = "not a cursor this API issued (use the X-Next-Cursor header)"

_LIST_HEAD = b'{"code":200,"message":"success","data":'
_UTC_END = b'+00:00"'
_ROWS_AS_SCHEMA = tuple(f.name for f in fields(ListedTask)) == tuple(TaskSchema.model_fields)
"""Whether a ``ListedTask``'s fields are the list schema's, in its order: then orjson encodes the rows
themselves (else each becomes a ``TaskSchema.row`` dict first)."""
_KNOWN_TYPES = frozenset(t.value for t in TaskType)
_type_of = attrgetter("task_type")
_zone_of = attrgetter("created_at.tzinfo")


def list_body(page: Sequence[ListedTask]) -> bytes:
    """``{"code":200,"message":"success","data":[...]}`` of a page of the list, as ``TaskSchema``
    documents each row.

    orjson writes an aware time as ``2025-03-12T10:00:00+00:00`` (``OPT_OMIT_MICROSECONDS`` cuts it to
    the second, as ``render_time`` does); the ``+00:00"`` ends are then the only ones in the text when
    every row is a ``ListedTask`` in UTC of a known type (the other strings), so dropping them gives
    ``render_time``'s form. Any other page goes row by row."""
    if (
        _ROWS_AS_SCHEMA
        and set(map(type, page)) <= {ListedTask}
        and set(map(_zone_of, page)) <= {UTC}
        and set(map(_type_of, page)) <= _KNOWN_TYPES
    ):
        data = orjson.dumps(page, option=orjson.OPT_OMIT_MICROSECONDS).replace(_UTC_END, b'"')
    else:
        data = orjson.dumps([TaskSchema.row(task) for task in page])
    return _LIST_HEAD + data + b"}"


def page_after(token: str | None) -> Cursor | None:
    """The position a ``cursor`` names: only in the document's form (URL-safe base64, which the decoder
    alone would take with other characters mixed in), and only one this API issued."""
    if token is None:
        return None
    if CURSOR_FORM.fullmatch(token) is None:
        raise InvalidInput("cursor", NOT_A_CURSOR)
    return decode_cursor(token)


def next_page_headers(page: Sequence[ListedTask], limit: int, url: URL) -> dict[str, str]:
    """``X-Next-Cursor`` and ``Link: rel="next"`` (``url`` with the cursor) of a full page, else none."""
    following = next_cursor(page, limit)
    if following is None:
        return {}
    token = encode_cursor(following)
    return {"X-Next-Cursor": token, "Link": f'<{url.include_query_params(cursor=token)}>; rel="next"'}


_DETAIL = TypeAdapter(ApiResponse[TaskDetailSchema])
_EMPTY = TypeAdapter(ApiResponse[None])


def detail_body(code: int, message: str, task: Task) -> bytes:
    """A task in full in the envelope, by the serializer of the documented response model (what FastAPI
    answers with it, minus FastAPI's validating it again on the way out)."""
    answer = ApiResponse[TaskDetailSchema].model_construct(
        code=code, message=message, data=TaskDetailSchema.of(task)
    )
    return _DETAIL.dump_json(answer, by_alias=True)


CANCELLED = _EMPTY.dump_json(ApiResponse[None](code=200, message="Task cancelled", data=None), by_alias=True)
"""The answer of a cancel (the spec's body)."""
