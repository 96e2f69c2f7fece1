"""The Tesseract side of ``ocr``: is it installed (with the languages asked for), and what does it read
on one page image, with the mean confidence of its words.

Tesseract is run as its command-line program, one process per page, in a private temporary folder,
through ``subprocess.run``: a page that takes longer than ``timeout`` is killed, and so is the one
running when the handler is stopped (the worker interrupts a ``def`` handler with an exception; a
process left behind would read on for nothing). pytesseract wraps the same program but leaves it
running on such an interruption, and caches its version check for the life of the process; with one
call to make, the program itself is the simpler dependency. The command comes from the deployment
(``TASKAPI_TESSERACT_CMD``, default ``tesseract``), never from a task's params.
"""

from __future__ import annotations

import csv
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

DEFAULT_CMD = "tesseract"
PAGE_TIMEOUT_S = 120.0
"""Seconds Tesseract may spend on one page (a dense A4 page at 300 dpi takes a few)."""
CHECK_TIMEOUT_S = 15.0
MAX_OUTPUT_BYTES = 4_000_000
"""Bytes read of one page's outputs (its text is capped far lower afterwards)."""

OCR_UNAVAILABLE = "ocr_unavailable"
OCR_TIMEOUT = "ocr_timeout"
OCR_ERROR = "ocr_error"


class OcrFailed(Exception):
    """Tesseract did not read a page; ``reason`` is one short word for a result."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OcrText:
    """What Tesseract read on a page; ``confidence``: the mean of its words' (0 to 100), None if no word."""

    text: str
    confidence: float | None


def mean_word_confidence(tsv: str) -> float | None:
    """The mean confidence of the words of Tesseract's TSV output (rows with a word and ``conf`` >= 0;
    the rows of blocks, paragraphs and lines carry -1)."""
    rows = csv.DictReader(tsv.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    scores: list[float] = []
    for row in rows:
        try:
            conf = float(row.get("conf") or -1)
        except ValueError:
            continue
        if conf >= 0 and (row.get("text") or "").strip():
            scores.append(conf)
    return round(sum(scores) / len(scores), 2) if scores else None


def tesseract_env() -> dict[str, str]:
    """Our environment, with Tesseract's OpenMP held to one thread unless the operator set
    ``OMP_THREAD_LIMIT``: measured on 2 busy cores, a dense page took 14 s with OpenMP's threads
    and 2 s without (they spin waiting for cores the other processes hold). Pages run in parallel
    as tasks, in the worker's processes, instead."""
    return {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    # The command is the operator's setting and every argument ours (temporary paths, a language
    # validated as [a-z_+]); no shell. run() kills the process on a timeout and on any exception.
    return subprocess.run(  # noqa: S603
        argv, capture_output=True, timeout=timeout, check=False, env=tesseract_env()
    )


def _stderr(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stderr.decode("utf-8", "replace").strip()[-500:]


class Tesseract:
    """One task's Tesseract: ``command``, the ``lang`` of its params (``eng``, ``eng+deu``), the
    per-page ``timeout``."""

    def __init__(
        self, command: str = DEFAULT_CMD, lang: str = "eng", timeout: float = PAGE_TIMEOUT_S
    ) -> None:
        self.command = command
        self.lang = lang
        self.timeout = timeout
        self._checked = False
        self._problem: str | None = None

    def problem(self) -> str | None:
        """Why Tesseract cannot read pages here (not installed, a language missing), or None if it
        can. Asked on first use, then remembered: one quick run of the program."""
        if not self._checked:
            self._problem = self._check()
            self._checked = True
        return self._problem

    def _check(self) -> str | None:
        try:
            done = _run([self.command, "--list-langs"], CHECK_TIMEOUT_S)
        except FileNotFoundError:
            return f"Tesseract is not installed (no program {self.command!r})"
        except (OSError, subprocess.SubprocessError) as exc:
            return f"Tesseract ({self.command!r}) does not run: {type(exc).__name__}: {exc}"
        if done.returncode != 0:
            return f"Tesseract ({self.command!r}) does not run: {_stderr(done) or done.returncode}"
        lines = done.stdout.decode("utf-8", "replace").splitlines()
        installed = {line.strip() for line in lines[1:]}  # the first line names the folder
        missing = [name for name in self.lang.split("+") if name not in installed]
        if missing:
            return f"Tesseract has no language data for {', '.join(missing)} (installed: {sorted(installed)})"
        return None

    def read(self, image: Image.Image, dpi: float) -> OcrText:
        """The text of ``image`` (rendered at ``dpi``) and its mean word confidence; ``OcrFailed``
        (``ocr_timeout``, ``ocr_error``, ``ocr_unavailable``) when Tesseract reads nothing."""
        with tempfile.TemporaryDirectory(prefix="taskapi-ocr-") as folder:
            source, base = Path(folder) / "page.pgm", Path(folder) / "page"
            image.convert("L").save(source)  # uncompressed grey: the quickest to write and to read
            argv = [self.command, str(source), str(base), "-l", self.lang, "--dpi", str(round(dpi))]
            try:
                done = _run([*argv, "txt", "tsv"], self.timeout)
            except subprocess.TimeoutExpired:
                raise OcrFailed(OCR_TIMEOUT, f"Tesseract took longer than {self.timeout:g} s") from None
            except OSError as exc:
                raise OcrFailed(OCR_UNAVAILABLE, f"{type(exc).__name__}: {exc}") from None
            if done.returncode != 0:
                raise OcrFailed(OCR_ERROR, _stderr(done) or f"exit code {done.returncode}")
            text, tsv = (_output(base.with_suffix(suffix)) for suffix in (".txt", ".tsv"))
        return OcrText(text=text, confidence=mean_word_confidence(tsv))


def _output(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_OUTPUT_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:
        raise OcrFailed(OCR_ERROR, f"Tesseract wrote no {path.suffix} output") from None
