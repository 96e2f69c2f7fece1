"""How the client reads the stream's messages (no server needed: the wire format is the contract)."""

from __future__ import annotations

import json

from taskapi.client._decode import change_of

ROW = {
    "id": 2,
    "project_id": 1,
    "task_type": "ocr",
    "status": "running",
    "progress": 1,
    "total": 2,
    "error_message": "",
    "created_at": "2026-12-01T10:00:00",
    "started_at": "2026-12-01T10:00:01",
    "completed_at": None,
}


def test_a_progress_message_is_not_the_log_entry_whose_id_the_sse_parser_carries_over() -> None:
    """Progress messages have no ``id:`` line; an SSE parser still reports the last id seen. Taken
    as that log entry, the progress was dropped as a repeat (the CLI's remote watch missed it)."""
    progress = change_of(json.dumps(ROW | {"event": "progress"}), "8")
    created = change_of(json.dumps(ROW | {"event": "created", "progress": 0}), "8")

    assert progress.event_id is None and progress.progress == 1
    assert created.event_id == 8
