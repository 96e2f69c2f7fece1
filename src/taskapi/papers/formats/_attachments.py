"""The local PDFs an export names, so a library exported from Zotero arrives with its files.

Zotero (and Better BibTeX, JabRef, Mendeley) write BibTeX's ``file`` field as attachments separated
by ``;``, each ``description:path:mime-type``, with ``\\``, ``:`` and ``;`` escaped by a backslash
(``C\\:\\\\Users\\\\jane\\\\Smith.pdf``). RIS names a PDF with ``L1``, a path or a ``file://`` URL.
The paths are the export's, so they are checked here: only regular files that exist are returned;
the others come back apart, for the caller to report.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from pathlib import Path, PureWindowsPath
from urllib.parse import urlsplit
from urllib.request import url2pathname

MAX_PATH_CHARS = 4096
MAX_FILES = 100
"""Attachments looked at per record (each costs a ``stat``); a hostile field may name millions."""
_TYPE_WORD = re.compile(r"[\w.+-]+/[\w.+-]+|[A-Za-z]+")
_ESCAPABLE = frozenset("\\:;")
_PDF_TYPES = frozenset({"application/pdf", "pdf", "application/x-pdf"})


def _split_escaped(value: str, separators: str) -> list[list[str]]:
    """``value`` cut at the unescaped ``separators[0]`` (attachments), each cut at the unescaped
    ``separators[1]`` (parts), with the escapes removed; a backslash before any other character is
    a character (an unescaped Windows path ``C:\\Users\\x.pdf`` keeps its separators)."""
    attachments: list[list[str]] = []
    parts: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            current.append(escaped if escaped in _ESCAPABLE else char + escaped)
        elif char == separators[1]:
            parts.append("".join(current))
            current = []
        elif char == separators[0]:
            attachments.append([*parts, "".join(current)])
            parts, current = [], []
        else:
            current.append(char)
    attachments.append([*parts, "".join(current)])
    return attachments


def _path_and_type(parts: list[str]) -> tuple[str, str]:
    """An attachment's path and mime type from its parts: ``desc:path:type`` (Zotero, Mendeley's
    ``:path:pdf``), a Windows drive left unescaped (``desc:C:\\x.pdf:PDF``), ``path:type``,
    ``desc:path`` or a bare path."""
    if len(parts) >= 3:
        return ":".join(parts[1:-1]), parts[-1]
    if len(parts) == 2:
        first, second = parts
        if _TYPE_WORD.fullmatch(second.strip()) and not second.lower().endswith(".pdf"):
            return first, second
        return second, ""
    return parts[0], ""


def bibtex_file_pdfs(value: str | None) -> list[str]:
    """The paths of the PDF attachments (by mime type, or a ``.pdf`` name) in a BibTeX ``file``
    field, unescaped, in order."""
    if not value:
        return []
    paths = []
    for parts in _split_escaped(value[: MAX_FILES * MAX_PATH_CHARS], ";:"):
        path, mime = _path_and_type(parts)
        path = path.strip()
        if path and (mime.strip().lower() in _PDF_TYPES or path.lower().endswith(".pdf")):
            paths.append(path)
    return paths


def local_path(value: str) -> str | None:
    """A ``file://`` URL as a path (percent-escapes decoded); other URLs (``http``, EndNote's
    ``internal-pdf://``) are not local paths; a plain path stays as it is."""
    if "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return url2pathname(parts.path)


def _candidates(raw: str, base: Path) -> tuple[Path, list[Path]]:
    """How ``raw`` is reported when missing, and where to look for it: relative to ``base`` (the
    export's folder), and a relative Windows path (``files\\12\\x.pdf``) with ``/`` on POSIX."""
    windows = PureWindowsPath(raw)
    if windows.drive and os.sep == "/":
        return Path(raw), []  # C:\Users\... cannot be on this machine
    shown = base / raw
    looks = [shown]
    if "\\" in raw and os.sep == "/":
        looks.append(base / windows.as_posix())
    return shown, looks


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte
        return False


def resolve(paths: Iterable[str], base: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The existing regular files among the first ``MAX_FILES`` of ``paths`` (relative ones against
    ``base``), absolute, and the ones that are not there; each once, in order."""
    found: dict[Path, None] = {}
    missing: dict[Path, None] = {}
    base = base.absolute()
    for raw in itertools.islice(paths, MAX_FILES):
        if not raw or len(raw) > MAX_PATH_CHARS:
            continue
        shown, looks = _candidates(raw, base)
        hit = next((path for path in looks if _is_file(path)), None)
        if hit is None:
            missing[shown] = None
        else:
            found[hit] = None
    return tuple(found), tuple(missing)
