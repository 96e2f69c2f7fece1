"""The file store: PDFs (and anything else the pipeline keeps) addressed by the sha256 of their content.

One small interface (``FileStore``) so an object store can replace the local directory later; the
database keeps only ``StoredFile.path``. ``LocalFileStore`` writes every file to a temporary name under
``<root>/tmp`` (the same filesystem as its final place) and renames it when complete, so a reader never
sees a half-written file under its final name: a crash leaves only temporary files, removed by the next
``LocalFileStore`` opened on that root once they are older than an hour (a younger one may belong to a
writer still running in another process). Two writes of the same bytes keep one file.

Every worker that runs ``crawl`` or ``ocr`` must see the same root (a shared volume across hosts).
This module imports nothing of ours.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

TEMP_MAX_AGE_S = 3600.0
"""A temporary file older than this is a crashed writer's leftover."""
_COPY_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file in the store: its content's sha256, its size in bytes and its path relative to the root
    (``pdf/ab/cd/abcd....pdf``), which is what the database keeps."""

    sha256: str
    size: int
    path: str


class FileWriter(Protocol):
    """Bytes on their way into the store, hashed as they are written."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> StoredFile:
        """Make the file visible under its content address; the writer is done afterwards."""
        ...


class FileStore(Protocol):
    """Where the pipeline's files live; the local directory is one implementation."""

    def writer(self) -> AbstractContextManager[FileWriter]:
        """A writer whose file is discarded unless ``commit()`` is called before the block ends (an
        exception or a cancel inside the block leaves nothing behind)."""
        ...

    def put_file(self, source: Path) -> StoredFile:
        """Copy a local file in (an import's attached PDF)."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The stored file for reading; ``FileNotFoundError`` if there is none."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def local_path(self, sha256: str) -> Path | None:
        """The file's path on this machine (for tools that need one), ``None`` if not stored or the
        store is not local."""
        ...


def check_sha256(sha256: str) -> str:
    """``sha256`` if it is 64 lower-case hex digits; anything else (a path such as ``../x``) is a
    ``ValueError``, so a caller's input can never leave the root."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256


class _LocalWriter:
    """One temporary file being written; ``commit`` renames it to its content address."""

    def __init__(self, store: LocalFileStore, temp: Path) -> None:
        self._store = store
        self._temp = temp
        self._handle: BinaryIO = temp.open("wb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            raise ValueError("this writer is closed")
        self._handle.write(data)
        self._hash.update(data)
        self._size += len(data)

    def commit(self) -> StoredFile:
        if self._done:
            raise ValueError("this writer is closed")
        self._handle.flush()
        os.fsync(self._handle.fileno())  # the bytes are on disk before the name says they are
        self._handle.close()
        self._done = True
        stored = self._store.stored_file(self._hash.hexdigest(), self._size)
        final = self._store.root / stored.path
        if final.exists():  # same content already stored: keep the one there
            self._temp.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._temp, final)
        return stored

    def discard(self) -> None:
        """Remove the temporary file unless committed (also after a failed commit)."""
        if not self._handle.closed:
            self._handle.close()
        self._done = True
        self._temp.unlink(missing_ok=True)


class LocalFileStore:
    """The file store in a local (or shared, mounted) directory:
    ``<root>/<namespace>/ab/cd/<sha256><suffix>``, temporary files in ``<root>/tmp``."""

    def __init__(self, root: Path, *, namespace: str = "pdf", suffix: str = ".pdf") -> None:
        self.root = Path(root).resolve()
        self.namespace = namespace
        self.suffix = suffix
        self._temp_dir = self.root / "tmp"
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        self.remove_stale_temp_files()

    def stored_file(self, sha256: str, size: int) -> StoredFile:
        """Where content with this digest lives, relative to the root."""
        digest = check_sha256(sha256)
        path = f"{self.namespace}/{digest[:2]}/{digest[2:4]}/{digest}{self.suffix}"
        return StoredFile(sha256=digest, size=size, path=path)

    @contextmanager
    def writer(self) -> Iterator[FileWriter]:
        temp = self._temp_dir / f".part-{secrets.token_hex(8)}"
        writer = _LocalWriter(self, temp)
        try:
            yield writer
        finally:
            writer.discard()

    def put_file(self, source: Path) -> StoredFile:
        with self.writer() as writer, Path(source).open("rb") as handle:
            while chunk := handle.read(_COPY_CHUNK):
                writer.write(chunk)
            return writer.commit()

    def open(self, sha256: str) -> BinaryIO:
        return (self.root / self.stored_file(sha256, 0).path).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.local_path(sha256) is not None

    def local_path(self, sha256: str) -> Path | None:
        path = self.root / self.stored_file(sha256, 0).path
        return path if path.is_file() else None

    def remove_stale_temp_files(self, max_age_s: float = TEMP_MAX_AGE_S) -> int:
        """Remove temporary files older than ``max_age_s`` (crashed writers' leftovers); answers how many."""
        cutoff = time.time() - max_age_s
        removed = 0
        for temp in self._temp_dir.glob(".part-*"):
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:  # another process cleaned it first
                continue
        return removed

    def temp_files(self) -> list[Path]:
        """The temporary files present now (tests check that none is left behind)."""
        return sorted(self._temp_dir.glob(".part-*"))
