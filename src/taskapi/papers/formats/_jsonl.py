"""JSON Lines files: one paper a line, the JSON object ``POST /api/v1/papers`` takes, read with the
standard ``json``. Blank lines are skipped; a line that is not JSON, not an object, or has a wrong
field fails the import naming the line (and the field). A record's own ``source`` is not kept: every
record of a file is an ``import``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from taskapi.papers.formats._common import NEEDS_TITLE_OR_ID, ImportedRecord, ImportFormatError
from taskapi.papers.formats._json_record import FieldError, parse_record


def parse_jsonl(text: str, path: Path) -> list[ImportedRecord]:
    """Every non-blank line of a JSON Lines file as a record, in order (``line 1`` is the first)."""
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            records.append(_imported(line, path, f"line {number}"))
    return records


def _imported(line: str, path: Path, where: str) -> ImportedRecord:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(path, where, f"not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ImportFormatError(path, where, "JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise ImportFormatError(path, where, f"must be a JSON object, got {type(value).__name__}")
    try:
        record = replace(parse_record(value), source="import")
    except FieldError as exc:
        raise ImportFormatError(path, where, str(exc)) from None
    if record.is_empty:
        raise ImportFormatError(path, where, NEEDS_TITLE_OR_ID)
    return ImportedRecord(record, (), where)
