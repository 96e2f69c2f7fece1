"""The params of ``ocr``, checked when a task is created (``validate_ocr``) and read by its handler.

``lang`` is checked for its shape only (Tesseract's names: ``eng``, ``chi_sim``, ``eng+deu``): whether
that language is installed is known only on the host that runs the task, which answers for it there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskapi.domain import InvalidInput
from taskapi.pipeline.ocr import ENGINES, ReadOptions
from taskapi.pipeline.params import _field, _int, _paper_ids

MAX_OCR_PAGES = 5_000
MAX_MIN_CHARS = 10_000
MIN_DPI, MAX_DPI = 50, 600
MAX_LANG_CHARS = 100
_LANG = re.compile(r"^[a-z_+]{3,}$")


@dataclass(frozen=True, slots=True)
class OcrParams:
    """``{"paper_ids": null, "engine": "auto", "min_chars_per_page": 50, "dpi": 200, "max_pages": 300,
    "lang": "eng"}``; ``paper_ids`` None: every non-duplicate paper with a file and no text yet."""

    paper_ids: tuple[int, ...] | None
    engine: str
    min_chars_per_page: int
    dpi: int
    max_pages: int
    lang: str

    @classmethod
    def read(cls, params: Mapping[str, Any]) -> OcrParams:
        return cls(
            paper_ids=_paper_ids(params.get("paper_ids")),
            engine=_engine(params.get("engine")),
            min_chars_per_page=_int(params, "min_chars_per_page", 50, 0, MAX_MIN_CHARS),
            dpi=_int(params, "dpi", 200, MIN_DPI, MAX_DPI),
            max_pages=_int(params, "max_pages", 300, 1, MAX_OCR_PAGES),
            lang=_lang(params.get("lang")),
        )

    def read_options(self) -> ReadOptions:
        return ReadOptions(
            engine=self.engine,
            min_chars_per_page=self.min_chars_per_page,
            dpi=self.dpi,
            max_pages=self.max_pages,
        )


def _engine(value: object) -> str:
    if value is None:
        return "auto"
    if value not in ENGINES:
        raise InvalidInput(_field("engine"), f"must be one of {', '.join(ENGINES)}, got {value!r}")
    return str(value)


def _lang(value: object) -> str:
    if value is None:
        return "eng"
    if not isinstance(value, str) or len(value) > MAX_LANG_CHARS or not _LANG.match(value):
        raise InvalidInput(
            _field("lang"),
            f"must be Tesseract language names such as 'eng' or 'eng+deu' ([a-z_+], 3 to "
            f"{MAX_LANG_CHARS} characters), got {value!r}",
        )
    if any(len(name) < 3 for name in value.split("+")):
        raise InvalidInput(_field("lang"), f"every language name has 3 letters or more, got {value!r}")
    return value


def validate_ocr(params: dict[str, Any]) -> None:
    """Every param given must be right (a 400 at creation, naming the field)."""
    OcrParams.read(params)
