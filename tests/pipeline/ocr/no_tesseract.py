"""A handler module for tests: the built-in ``ocr`` handler on a host without Tesseract (its command
points at a program that does not exist). Loaded by name in the worker's child process, like any."""

from __future__ import annotations

from typing import Any

from taskapi.pipeline.handlers.ocr import run_ocr
from taskapi.pipeline.params_ocr import validate_ocr
from taskapi.worker.context import TaskContext
from taskapi.worker.registry import handler

MISSING_TESSERACT = "/nonexistent/bin/tesseract"


@handler("ocr", validate=validate_ocr)
def ocr_without_tesseract(ctx: TaskContext) -> dict[str, Any]:
    return run_ocr(ctx, tesseract_cmd=MISSING_TESSERACT)
