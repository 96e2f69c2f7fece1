"""From the wire to the Python API's records: the envelope, then its ``data`` into ``Task``,
``ListedTask``, ``TaskEvent``, ``Paper``, ``PipelineRun`` and the rest.

The records are the ones ``TaskService``, ``PaperService`` and ``RunService`` return. Where the wire
carries less than a record holds, the field keeps its default and the decoder says so: a task's
``attempt``, ``max_attempts``, ``worker_id`` and lease are internal to the server; a stored file's
``path`` is the server's; a run step's ``params``, ``progress`` and ``total`` are not in a run's answer
(its task's are, at ``get(step.task_id)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson

from taskapi.client._errors import ProtocolError
from taskapi.domain import EventKind, ListedTask, Task, TaskEvent, TaskStatus
from taskapi.papers.records import ListedPaper, Paper, PaperDetail, PaperFile
from taskapi.papers.texts import PageText, PaperText
from taskapi.run_records import PipelineRun, RunStatus, RunStep

T = TypeVar("T")
Json = dict[str, Any]


class Malformed(Exception):
    """``data`` does not have the shape the route documents (the caller turns it into ProtocolError)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is set when the page was full (the next may be empty)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TaskChange:
    """One message of the live stream: the task as it stood (the list fields, its error and times)
    and what happened (``event``: ``created``, ``claimed``, ``completed``, ... or ``progress``).
    ``event_id`` is the change log's id (``None`` for progress), what a resume starts after."""

    event_id: int | None
    event: str
    task_id: int
    project_id: int
    task_type: str
    status: TaskStatus
    progress: int
    total: int
    error_message: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImportedPapers:
    """What ``import_papers`` did: papers created, records merged into existing papers, and each
    record's paper id in the order given."""

    created: int
    merged: int
    ids: list[int]


def envelope(content: bytes, status: int, content_type: str, url: str) -> Json:
    """The ``{"code","message","data"}`` object of an answer, or ``ProtocolError`` saying what came
    instead (an HTML page, a JSON body of another shape, a truncated body)."""
    excerpt = content[:200].decode("utf-8", "replace").strip()
    if "json" not in content_type:
        raise ProtocolError(url, status, f"content type {content_type or 'none'!r}", excerpt)
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ProtocolError(url, status, "the body is not valid JSON", excerpt) from None
    if not isinstance(body, dict) or not {"code", "message", "data"} <= body.keys():
        raise ProtocolError(url, status, "not the {code, message, data} envelope", excerpt)
    if body["code"] != status:
        raise ProtocolError(url, status, f"the envelope's code is {body['code']!r}", excerpt)
    return body


def time_of(value: Any) -> datetime:
    """The API renders times in UTC without an offset (``2025-03-12T10:00:00``)."""
    if not isinstance(value, str):
        raise Malformed(f"a time must be a string, got {value!r}")
    return _parsed_time(value)


@functools.lru_cache(maxsize=4096)
def _parsed_time(text: str) -> datetime:
    """Cached: a page's tasks often share their second, and a poll reads the same page again."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed(f"not an ISO 8601 time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else time_of(value)


def _object(data: Any) -> Json:
    if not isinstance(data, dict):
        raise Malformed(f"expected an object, got {type(data).__name__}")
    return data


def _objects(data: Any) -> list[Json]:
    if not isinstance(data, list):
        raise Malformed(f"expected a list, got {type(data).__name__}")
    return [_object(item) for item in data]


_STATUS_OF = {status.value: status for status in TaskStatus}


def _status(value: Any) -> TaskStatus:
    found = _STATUS_OF.get(value) if isinstance(value, str) else None
    if found is None:
        raise Malformed(f"unknown task status {value!r}")
    return found


def task_of(data: Any) -> Task:
    """A task in full (``GET /tasks/{id}``, the create's answer)."""
    row = _object(data)
    try:
        return Task(
            id=int(row["id"]),
            project_id=int(row["project_id"]),
            task_type=str(row["task_type"]),
            status=_status(row["status"]),
            progress=int(row["progress"]),
            total=int(row["total"]),
            params=dict(row["params"]),
            result=None if row["result"] is None else dict(row["result"]),
            error_message=str(row["error_message"]),
            created_at=time_of(row["created_at"]),
            started_at=_optional_time(row["started_at"]),
            completed_at=_optional_time(row["completed_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a task: {exc!r}") from None


def listed_task_of(row: Json) -> ListedTask:
    """A task of a list (positional arguments: a page holds up to 1,000 of them)."""
    try:
        return ListedTask(
            int(row["id"]),
            int(row["project_id"]),
            str(row["task_type"]),
            _status(row["status"]),
            int(row["progress"]),
            int(row["total"]),
            time_of(row["created_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a listed task: {exc!r}") from None


def listed_tasks_of(data: Any) -> list[ListedTask]:
    return [listed_task_of(row) for row in _objects(data)]


def events_of(data: Any) -> list[TaskEvent]:
    """A task's timeline, oldest first."""
    try:
        return [
            TaskEvent(
                id=int(row["id"]),
                task_id=int(row["task_id"]),
                at=time_of(row["at"]),
                kind=EventKind(row["kind"]),
                attempt=int(row["attempt"]),
                actor=str(row["actor"]),
                detail=str(row["detail"]),
            )
            for row in _objects(data)
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a timeline: {exc!r}") from None


def change_of(data: str, event_id: str) -> TaskChange:
    """One ``event: task`` message of the stream (its ``data`` and ``id`` fields).

    A progress message carries no ``id:`` line, but an SSE parser hands every event the last id seen
    (the spec's "last event ID" persists): such a message is not that log entry, so it has no id
    here; taken as one it would be dropped as a repeat of it."""
    try:
        row = _object(orjson.loads(data))
        event = str(row["event"])
        return TaskChange(
            event_id=int(event_id) if event_id and event != "progress" else None,
            event=event,
            task_id=int(row["id"]),
            project_id=int(row["project_id"]),
            task_type=str(row["task_type"]),
            status=_status(row["status"]),
            progress=int(row["progress"]),
            total=int(row["total"]),
            error_message=str(row["error_message"]),
            created_at=time_of(row["created_at"]),
            started_at=_optional_time(row["started_at"]),
            completed_at=_optional_time(row["completed_at"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a task change: {exc!r}") from None


def field_of(name: str, cast: type[T]) -> Callable[[Any], T]:
    """A decoder of one field of ``data`` (``{"cancelled": 3}`` -> 3), checked to be a ``cast``."""

    def decode(data: Any) -> T:
        value = _object(data).get(name)
        if not isinstance(value, cast) or isinstance(value, bool):
            raise Malformed(f"expected {name!r} to be {cast.__name__}, got {value!r}")
        return value

    return decode


def ids_of(data: Any) -> list[int]:
    """The ids of a batch create, in the order of the request's tasks."""
    ids = _object(data).get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Malformed(f"expected a list of ids, got {ids!r}")
    return ids


def nothing(data: Any) -> None:
    """A route whose answer carries no data (a cancel)."""
    del data


# -- papers ------------------------------------------------------------------------------------------


def _file_of(value: Any) -> PaperFile | None:
    if value is None:
        return None
    row = _object(value)
    return PaperFile(
        sha256=str(row["sha256"]),
        bytes=int(row["bytes"]),
        url=row["url"],
        content_type=str(row["content_type"]),
        path="",  # where the server's file store keeps it: not on the wire
        fetched_at=time_of(row["fetched_at"]),
    )


def _paper_of(row: Json) -> Paper:
    """A paper of a list or a detail; ``extra["has_pdf"]`` says whether a PDF is stored (a list item
    does not carry the file itself)."""
    return Paper(
        id=int(row["id"]),
        project_id=int(row["project_id"]),
        title=row["title"],
        abstract=row["abstract"],
        authors=list(row["authors"]),
        year=row["year"],
        venue=row["venue"],
        volume=row["volume"],
        issue=row["issue"],
        pages=row["pages"],
        doi=row["doi"],
        arxiv_id=row["arxiv_id"],
        s2_id=row["s2_id"],
        openalex_id=row["openalex_id"],
        pmid=row["pmid"],
        pdf_url=row["pdf_url"],
        oa_status=row["oa_status"],
        sources=list(row["sources"]),
        pdf_candidates=list(row.get("pdf_candidates") or []),
        duplicate_of=row["duplicate_of"],
        created_at=time_of(row["created_at"]),
        updated_at=time_of(row["updated_at"]),
        file=_file_of(row.get("file")),
        extra={"has_pdf": bool(row["has_pdf"])},
    )


def listed_papers_of(data: Any) -> list[ListedPaper]:
    try:
        return [ListedPaper(_paper_of(row), row["score"], row["snippet"]) for row in _objects(data)]
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a list of papers: {exc!r}") from None


def paper_detail_of(data: Any) -> PaperDetail:
    row = _object(data)
    try:
        text = row["text"]
        return PaperDetail(_paper_of(row), None if text is None else dict(text))
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a paper: {exc!r}") from None


def paper_text_of(data: Any) -> PaperText:
    row = _object(data)
    try:
        pages = [
            PageText(int(p["page"]), str(p["text"]), str(p["engine"]), p["confidence"])
            for p in _objects(row["pages"])
        ]
        return PaperText(int(row["paper_id"]), pages)
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a paper's text: {exc!r}") from None


def imported_of(data: Any) -> ImportedPapers:
    row = _object(data)
    try:
        return ImportedPapers(int(row["created"]), int(row["merged"]), [int(i) for i in row["ids"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not an import's answer: {exc!r}") from None


# -- pipeline runs -----------------------------------------------------------------------------------


def run_of(data: Any) -> PipelineRun:
    """A run; ``current_step`` is the failed step of a failed run, else the last step with a task (the
    step in flight, or where the run ended)."""
    row = _object(data)
    try:
        steps = tuple(
            RunStep(position, str(s["task_type"]), {}, s["task_id"], str(s["status"]))
            for position, s in enumerate(_objects(row["steps"]))
        )
        status = RunStatus(row["status"])
        failed = row.get("failed_step")
        started = [step.position for step in steps if step.task_id is not None]
        current = next((s.position for s in steps if s.task_type == failed), started[-1] if started else 0)
        return PipelineRun(
            id=int(row["id"]),
            project_id=int(row["project_id"]),
            status=status,
            query=row["query"],
            steps=steps,
            current_step=current,
            created_at=time_of(row["created_at"]),
            ended_at=_optional_time(row["ended_at"]),
            error=row["error"] or "",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"not a pipeline run: {exc!r}") from None


def runs_of(data: Any) -> list[PipelineRun]:
    return [run_of(row) for row in _objects(data)]


def params_of(values: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters without the ``None`` ones, rendered as the API reads them."""
    rendered: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            rendered[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            rendered[name] = utc.replace(tzinfo=None).isoformat()
        else:
            rendered[name] = str(value)
    return rendered
