"""OCR throughput: text-layer pages per second, Tesseract pages per second on the machine's 2 cores,
and how close ``ocr`` comes to Tesseract run alone on the same pages.

The pages are made here: A4 pages of dense text with a text layer (reportlab), and A4 scans (45 lines
of words drawn with Pillow into a 300 dpi image placed on a page, no text layer). Figures:

- text layer: ``read_document`` with ``engine: text`` over every text page (PDFium's text only);
- OCR, 1 and 2 processes: ``read_document`` with ``engine: auto`` over the scans (each page rendered
  at ``--dpi`` and read by Tesseract), in one process, then in two processes at once, each with half
  the pages (what two handlers on two cores do);
- Tesseract alone: the ``tesseract`` program on the same pages rendered beforehand at the same dpi,
  same outputs (txt and tsv), one process then two at once. The ratio ``alone / ocr`` of the pages
  per second is what our rendering, temporary files and parsing cost (1.0: nothing). One process
  reads page by page, ours then alone on the same page, in wall and in CPU seconds: on a shared
  machine the wall figures swing with the others' load, the CPU figures hardly;
- OpenMP: Tesseract alone on ``--openmp-pages`` pages with its OpenMP threads (the default of the
  Debian build) instead of ``OMP_THREAD_LIMIT=1``, which ``ocr`` sets unless the operator did.

Also the word recall of the OCR (words of the truth found in what Tesseract read) and its mean word
confidence. Results: ``bench/results/ocr-pages-<stamp>.json``. Standalone::

    .venv/bin/python -m bench.ocr_pages [--text-pages 300] [--scan-pages 8] [--dpi 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from statistics import mean, median
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

from bench.common import ROOT
from taskapi.pipeline.ocr import (
    TEXT,
    ReadOptions,
    Tesseract,
    open_pdf,
    read_document,
    read_page,
    render_page,
)
from taskapi.pipeline.ocr.tesseract import tesseract_env

LINES_PER_PAGE = 45
WORDS_PER_LINE = 11
SCAN_DPI = 300
_VOCABULARY = (
    "the of and to in a is that for on with as by we are this our from be an which model models data "
    "learning graph graphs neural network networks results method methods analysis robust training "
    "show approach improves baselines benchmark tasks attention layers representation node nodes edge "
    "edges citation adversarial perturbations certified prediction accuracy experiments dataset "
    "datasets performance evaluation proposed framework structure features feature semantic scholar"
)
VOCABULARY = tuple(_VOCABULARY.split())


def _lines(rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(VOCABULARY) for _ in range(WORDS_PER_LINE)) for _ in range(LINES_PER_PAGE)]


def make_text_pdf(path: Path, pages: int, rng: random.Random) -> Path:
    c = canvas.Canvas(str(path), pagesize=A4)
    for _ in range(pages):
        c.setFont("Times-Roman", 10)
        for row, line in enumerate(_lines(rng)):
            c.drawString(60, A4[1] - 60 - row * 16, line)
        c.showPage()
    c.save()
    return path


def scan_image(lines: Sequence[str]) -> Image.Image:
    """An A4 page at 300 dpi with ``lines`` in a 10-point font (42 px), as a scanner gives it."""
    size = (round(A4[0] / 72 * SCAN_DPI), round(A4[1] / 72 * SCAN_DPI))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=42)
    for row, line in enumerate(lines):
        draw.text((250, 250 + row * 66), line, fill=0, font=font)
    return image


def make_scan_pdf(path: Path, pages: Sequence[Sequence[str]]) -> Path:
    c = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        c.drawImage(ImageReader(scan_image(lines)), 0, 0, width=A4[0], height=A4[1])
        c.showPage()
    c.save()
    return path


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = run()
    return time.perf_counter() - began, value


def text_layer_rate(pdf: Path, pages: int, repeats: int = 3) -> float:
    """Pages per second of ``read_document`` with ``engine: text`` (median of ``repeats`` runs)."""
    options = ReadOptions(engine=TEXT, max_pages=pages)
    nobody = Tesseract("/nonexistent/tesseract")
    return pages / median(_timed(lambda: read_document(pdf, options, nobody))[0] for _ in range(repeats))


def ocr_document(pdf: str, dpi: int) -> list[tuple[str, float | None]]:
    """The text and confidence of every page of ``pdf`` as ``ocr`` reads it (a process pool's job)."""
    read = read_document(Path(pdf), ReadOptions(dpi=dpi, max_pages=5000), Tesseract())
    assert all(page.missing is None for page in read.pages), [p.detail for p in read.pages]
    return [(page.text, page.confidence) for page in read.pages]


def ocr_wall(pdfs: Sequence[Path], dpi: int) -> float:
    """Wall seconds to read ``pdfs`` as ``ocr`` does, one process each, all at once."""
    with ProcessPoolExecutor(len(pdfs)) as pool:
        wall, _ = _timed(lambda: list(pool.map(ocr_document, [str(p) for p in pdfs], [dpi] * len(pdfs))))
    return float(wall)


def render_all(pdf: Path, dpi: int, folder: Path) -> list[Path]:
    """The pages of ``pdf`` as grey images at ``dpi``, as ``ocr`` hands them to Tesseract."""
    images = []
    with open_pdf(pdf) as document:
        for index in range(len(document)):
            image, _ = render_page(document[index], dpi)
            path = folder / f"page-{index:03}.pgm"
            image.save(path)
            images.append(path)
    return images


def tesseract_once(image: Path, dpi: int, env: dict[str, str]) -> None:
    """The ``tesseract`` program alone on one page image, same outputs as ``ocr`` (txt and tsv)."""
    argv = ["tesseract", str(image), str(image.with_suffix("")), "-l", "eng", "--dpi", str(dpi)]
    subprocess.run([*argv, "txt", "tsv"], check=True, capture_output=True, env=env)


def tesseract_wall(images: Sequence[Path], dpi: int, processes: int, *, openmp: bool = False) -> float:
    """Wall seconds for the ``tesseract`` program alone on ``images``, ``processes`` at once."""
    env = tesseract_env()
    if openmp:
        env.pop("OMP_THREAD_LIMIT", None)
    with ThreadPoolExecutor(processes) as pool:
        wall, _ = _timed(lambda: list(pool.map(lambda image: tesseract_once(image, dpi, env), images)))
    return float(wall)


def _cpu_timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds (this process and the children it waited for) and ``run()``'s value."""
    before = os.times()
    wall, value = _timed(run)
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])  # user, system, children's user, children's system
    return wall, cpu, value


def page_by_page(pdf: Path, images: Sequence[Path], dpi: int, rounds: int) -> dict[str, Any]:
    """One process: each page read as ``ocr`` reads it (render, Tesseract, parse) and by Tesseract
    alone on the same image, one after the other, so that the machine's load (shared, 2 cores) weighs
    on both alike; the best of ``rounds`` per page, in wall and in CPU seconds (CPU time hardly
    depends on what else the machine runs)."""
    options, tesseract = ReadOptions(dpi=dpi), Tesseract()
    ours: list[list[tuple[float, float]]] = [[] for _ in images]
    alone: list[list[tuple[float, float]]] = [[] for _ in images]
    texts: list[str] = [""] * len(images)
    confidences: list[float] = []
    env = tesseract_env()
    with open_pdf(pdf) as document:
        for _ in range(rounds):
            for index, image in enumerate(images):
                wall, cpu, page = _cpu_timed(partial(read_page, document, index, options, tesseract))
                ours[index].append((wall, cpu))
                texts[index] = page.text
                confidences += [page.confidence] if page.confidence is not None else []
                wall, cpu, _ = _cpu_timed(partial(tesseract_once, image, dpi, env))
                alone[index].append((wall, cpu))

    def best(times: list[list[tuple[float, float]]], which: int) -> list[float]:
        return [min(t[which] for t in page) for page in times]

    return {
        "texts": texts,
        "ours_s": sum(best(ours, 0)),
        "alone_s": sum(best(alone, 0)),
        "ours_cpu_s": sum(best(ours, 1)),
        "alone_cpu_s": sum(best(alone, 1)),
        "mean_word_confidence": round(mean(confidences), 2) if confidences else None,
    }


def recall(truth: Sequence[Sequence[str]], read: Sequence[str]) -> float:
    """Share of the truth's words (in order, per page) found among the words Tesseract read."""
    found = total = 0
    for lines, text in zip(truth, read, strict=True):
        words = " ".join(lines).split()
        seen = text.lower().split()
        pool: dict[str, int] = {}
        for word in seen:
            pool[word] = pool.get(word, 0) + 1
        for word in words:
            total += 1
            if pool.get(word, 0) > 0:
                pool[word] -= 1
                found += 1
    return found / total if total else 0.0


def measure(
    text_pages: int, scan_pages: int, dpi: int, openmp_pages: int, rounds: int, folder: Path
) -> dict[str, Any]:
    rng = random.Random(11)
    text_pdf = make_text_pdf(folder / "text.pdf", text_pages, rng)
    truth = [_lines(rng) for _ in range(scan_pages)]
    half = scan_pages // 2
    whole = make_scan_pdf(folder / "scans.pdf", truth)
    halves = [make_scan_pdf(folder / "a.pdf", truth[:half]), make_scan_pdf(folder / "b.pdf", truth[half:])]
    figures: dict[str, Any] = {"text_layer_pages_per_s": round(text_layer_rate(text_pdf, text_pages), 1)}
    images = render_all(whole, dpi, folder)
    one = page_by_page(whole, images, dpi, rounds)
    # Two at once: ours and Tesseract alone by turns, the best of ``rounds`` each.
    two_ours, two_alone = [], []
    for _ in range(rounds):
        two_ours.append(ocr_wall(halves, dpi))
        two_alone.append(tesseract_wall(images, dpi, 2))
    figures |= {
        "ocr_pages_per_s_1_process": round(scan_pages / one["ours_s"], 3),
        "tesseract_alone_pages_per_s_1_process": round(scan_pages / one["alone_s"], 3),
        "ratio_ocr_to_alone_1_process": round(one["alone_s"] / one["ours_s"], 3),
        "cpu_s_per_page_ocr": round(one["ours_cpu_s"] / scan_pages, 3),
        "cpu_s_per_page_tesseract_alone": round(one["alone_cpu_s"] / scan_pages, 3),
        "ratio_ocr_to_alone_cpu": round(one["alone_cpu_s"] / one["ours_cpu_s"], 3),
        "ocr_pages_per_s_2_processes": round(scan_pages / min(two_ours), 3),
        "tesseract_alone_pages_per_s_2_processes": round(scan_pages / min(two_alone), 3),
        "ratio_ocr_to_alone_2_processes": round(min(two_alone) / min(two_ours), 3),
        "word_recall": round(recall(truth, one["texts"]), 4),
        "mean_word_confidence": one["mean_word_confidence"],
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
    if openmp_pages:
        wall = tesseract_wall(images[:openmp_pages], dpi, 1, openmp=True)
        figures["tesseract_alone_openmp_seconds_per_page"] = round(wall / openmp_pages, 3)
        figures["tesseract_alone_one_thread_seconds_per_page"] = round(one["alone_s"] / scan_pages, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--text-pages", type=int, default=300)
    parser.add_argument("--scan-pages", type=int, default=8)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--openmp-pages", type=int, default=1, help="pages read with OpenMP on (0: skip)")
    parser.add_argument("--rounds", type=int, default=2, help="each figure is the best of these runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskapi-bench-ocr-") as folder:
        figures = measure(
            args.text_pages, args.scan_pages, args.dpi, args.openmp_pages, args.rounds, Path(folder)
        )
    for key, value in figures.items():
        print(f"{key:>42}: {value}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"ocr-pages-{stamp}.json"
    meta = {"stamp": stamp, "command": " ".join(sys.argv), "cpus": os.cpu_count(), "dpi": args.dpi}
    path.write_text(json.dumps({"meta": meta, "figures": figures}, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
