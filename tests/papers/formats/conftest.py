"""Fixtures of the import-format tests: real small PDFs made with reportlab where an export says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

MakePdf = Callable[[Path], Path]


def write_pdf(path: Path, text: str = "A paper") -> Path:
    """A one-page PDF with ``text`` at ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(str(path))
    canvas.drawString(72, 720, text)
    canvas.save()
    return path


@pytest.fixture
def make_pdf() -> MakePdf:
    """``make_pdf(path)``: a real one-page PDF at ``path``."""
    return write_pdf
