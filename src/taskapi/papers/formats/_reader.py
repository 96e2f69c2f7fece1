"""Which format a file is, and reading it within a size bound into ``ImportedRecord`` values."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from taskapi.papers.formats._bibtex import parse_bibtex
from taskapi.papers.formats._common import ImportedRecord, ImportFormatError
from taskapi.papers.formats._csl_json import parse_csl_json
from taskapi.papers.formats._jsonl import parse_jsonl
from taskapi.papers.formats._ris import parse_ris

FORMATS = ("bibtex", "ris", "csl-json", "jsonl")
DEFAULT_MAX_BYTES = 200_000_000

_PARSERS: dict[str, Callable[[str, Path], list[ImportedRecord]]] = {
    "bibtex": parse_bibtex,
    "ris": parse_ris,
    "csl-json": parse_csl_json,
    "jsonl": parse_jsonl,
}
_EXTENSIONS = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".ris": "ris",
    ".json": "csl-json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_SNIFF_BYTES = 65_536
_RIS_START = re.compile(r"^TY  -", re.MULTILINE)
_BIBTEX_ENTRY = re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]", re.MULTILINE)
_UNKNOWN = "unknown format: expected BibTeX (.bib), RIS (.ris), CSL-JSON (.json) or JSON Lines (.jsonl)"


def detect_format(path: Path) -> str:
    """The format of ``path``: by its extension (``.bib``, ``.ris``, ``.json``, ``.jsonl``/
    ``.ndjson``), else by its first 64 KB; an ``ImportFormatError`` if neither tells."""
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    if by_extension:
        return by_extension
    try:
        with path.open("rb") as file:
            head = file.read(_SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise ImportFormatError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    sniffed = _sniff(head)
    if sniffed is None:
        raise ImportFormatError(path, None, _UNKNOWN)
    return sniffed


def _sniff(head: str) -> str | None:
    start = head.lstrip()
    if start.startswith("["):
        return "csl-json"
    if start.startswith("{"):
        return "jsonl" if _is_json_object(start.split("\n", 1)[0]) else "csl-json"
    if _RIS_START.search(head):
        return "ris"
    if _BIBTEX_ENTRY.search(head):
        return "bibtex"
    return None


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def read_records(
    path: Path, fmt: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[ImportedRecord]:
    """Every record of the import file ``path`` (UTF-8, a BOM allowed), in file order, in the
    format ``fmt`` (one of ``FORMATS``; detected when ``None``). An ``ImportFormatError`` names the
    file and the spot for anything wrong: unreadable, larger than ``max_bytes``, not UTF-8, a record
    that does not parse or has neither a title nor an identifier. All or nothing: one bad record
    fails the file, so an import never half-happens."""
    fmt = fmt or detect_format(path)
    if fmt not in _PARSERS:
        raise ImportFormatError(path, None, f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return _PARSERS[fmt](_read_text(path, max_bytes), path)


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise ImportFormatError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ImportFormatError(path, None, f"is larger than {max_bytes:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFormatError(path, f"line {line}", "not UTF-8 text: export the file as UTF-8") from None
