"""PDFs made at test time for ``ocr``: pages with a text layer (reportlab), scanned pages (words drawn
with Pillow into an image, the image placed on a page: no text layer), an encrypted PDF, a truncated
one and a file that only claims to be a PDF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

PAGE = (432.0, 288.0)
"""6 x 4 inches: small pages keep Tesseract quick."""
SCAN_DPI = 150
TEXT_FONT_SIZE = 11
SCAN_FONT_PX = 36


def text_page(c: canvas.Canvas, lines: Sequence[str]) -> None:
    c.setFont("Helvetica", TEXT_FONT_SIZE)
    for row, line in enumerate(lines):
        c.drawString(36, PAGE[1] - 48 - row * 16, line)


def scanned_image(lines: Sequence[str]) -> Image.Image:
    """A white page image with ``lines`` in black, as a scanner at 150 dpi would give it."""
    size = (round(PAGE[0] / 72 * SCAN_DPI), round(PAGE[1] / 72 * SCAN_DPI))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=SCAN_FONT_PX)
    for row, line in enumerate(lines):
        draw.text((60, 60 + row * SCAN_FONT_PX * 1.6), line, fill=0, font=font)
    return image


def scanned_page(c: canvas.Canvas, lines: Sequence[str]) -> None:
    c.drawImage(ImageReader(scanned_image(lines)), 0, 0, width=PAGE[0], height=PAGE[1])


def make_pdf(
    path: Path, pages: Sequence[tuple[str, Sequence[str]]], *, user_password: str | None = None
) -> Path:
    """A PDF whose pages are ``("text", lines)`` or ``("scan", lines)``, optionally encrypted."""
    c = canvas.Canvas(str(path), pagesize=PAGE, encrypt=user_password)
    for kind, lines in pages:
        if kind == "scan":
            scanned_page(c, lines)
        else:
            text_page(c, lines)
        c.showPage()
    c.save()
    return path


def truncated(source: Path, path: Path) -> Path:
    """The first half of ``source``: what an interrupted download leaves."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def not_a_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.7\n<html><body>Sign in to read this article</body></html>\n")
    return path


ABSTRACT = [
    "Graph neural networks learn representations of nodes by passing messages.",
    "We study their robustness to adversarial edge perturbations on citation graphs.",
    "Our method certifies predictions for perturbations of up to ten edges.",
]
SCANNED = ["Scanned pages need OCR", "Tesseract reads these words"]
SCANNED_WORDS = {"scanned", "pages", "need", "ocr", "tesseract", "reads", "these", "words"}
