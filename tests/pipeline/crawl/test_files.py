"""The file store: content-addressed, never a half-written file under a final name, one copy per
content, crashed writers' leftovers removed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskapi.papers import files
from taskapi.papers.files import TEMP_MAX_AGE_S, LocalFileStore, StoredFile
from tests.pipeline.crawl.pdf_server import make_pdf


def _final_files(store: LocalFileStore) -> list[Path]:
    return sorted(path for path in (store.root / "pdf").rglob("*") if path.is_file())


def test_a_committed_file_is_stored_under_its_sha256(store: LocalFileStore) -> None:
    pdf = make_pdf("a paper")
    digest = hashlib.sha256(pdf).hexdigest()
    with store.writer() as writer:
        writer.write(pdf[:100])
        writer.write(pdf[100:])
        stored = writer.commit()
    assert stored == StoredFile(digest, len(pdf), f"pdf/{digest[:2]}/{digest[2:4]}/{digest}.pdf")
    assert store.exists(digest) and store.local_path(digest) == store.root / stored.path
    with store.open(digest) as handle:
        assert handle.read() == pdf
    assert store.temp_files() == []


def test_nothing_is_under_a_final_name_before_commit(store: LocalFileStore) -> None:
    with store.writer() as writer:
        writer.write(b"%PDF-1.4 half of it")
        assert _final_files(store) == []
        (temp,) = store.temp_files()
        assert temp.stat().st_dev == store.root.stat().st_dev  # a rename, never a copy, makes it final
        writer.commit()
    assert len(_final_files(store)) == 1


def test_an_exception_or_no_commit_discards_the_file(store: LocalFileStore) -> None:
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"%PDF-1.4 partial")
        raise RuntimeError("the download broke")
    with store.writer() as writer:
        writer.write(b"%PDF-1.4 not wanted")
    assert store.temp_files() == [] and _final_files(store) == []


def test_the_same_content_twice_is_one_file(store: LocalFileStore, tmp_path: Path) -> None:
    pdf = make_pdf("twice")
    source = tmp_path / "zotero.pdf"
    source.write_bytes(pdf)
    with store.writer() as writer:
        writer.write(pdf)
        first = writer.commit()
    second = store.put_file(source)
    assert first == second and len(_final_files(store)) == 1
    assert store.temp_files() == []
    assert source.read_bytes() == pdf  # put_file copies


def test_a_missing_file_and_a_bad_digest(store: LocalFileStore) -> None:
    missing = "0" * 64
    assert not store.exists(missing) and store.local_path(missing) is None
    with pytest.raises(FileNotFoundError):
        store.open(missing)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(ValueError, match="not a sha256"):
            store.exists(bad)


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from taskapi.papers.files import LocalFileStore
with LocalFileStore(Path(sys.argv[1])).writer() as writer:
    writer.write(b"%PDF-1.4 " + bytes(100_000))
    os._exit(3)  # the process dies mid-write: no cleanup runs
"""


def test_a_crashed_writer_leaves_only_a_temp_file_removed_once_old(store: LocalFileStore) -> None:
    src = Path(files.__file__).resolve().parents[2]  # where ``taskapi`` is importable from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(store.root)], env=env, check=False)
    assert result.returncode == 3
    (leftover,) = store.temp_files()
    assert _final_files(store) == []
    assert LocalFileStore(store.root).temp_files() == [leftover]  # young: maybe a live writer's
    old = time.time() - TEMP_MAX_AGE_S - 60
    os.utime(leftover, (old, old))
    assert LocalFileStore(store.root).temp_files() == []
