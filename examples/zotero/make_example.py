"""Writes the example Zotero export of the README's walk-through: ``library.bib`` and its PDFs under
``files/`` (text-layer PDFs, and one scanned page without a text layer for the ocr step).

The files are committed; run this again only to change them (needs reportlab and Pillow, the
development extras)::

    .venv/bin/python examples/zotero/make_example.py
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

HERE = Path(__file__).parent
PAPERS = [
    (
        "velickovic2018",
        "Graph Attention Networks",
        "Veli{\\v{c}}kovi{\\'c}, Petar and Cucurull, Guillem and Casanova, Arantxa",
        2018,
        "10.48550/arXiv.1710.10903",
        "We present graph attention networks, neural network architectures that operate on "
        "graph-structured data, leveraging masked self-attention layers to address the shortcomings "
        "of prior methods based on graph convolutions.",
    ),
    (
        "velickovic2018iclr",
        "Graph attention networks.",
        "Velickovic, P. and Cucurull, G.",
        2018,
        None,
        "Graph attention networks use masked self-attention over node neighbourhoods.",
    ),
    (
        "kipf2017",
        "Semi-Supervised Classification with Graph Convolutional Networks",
        "Kipf, Thomas N. and Welling, Max",
        2017,
        "10.48550/arXiv.1609.02907",
        "We present a scalable approach for semi-supervised learning on graph-structured data that is "
        "based on an efficient variant of convolutional neural networks which operate directly on graphs.",
    ),
    (
        "hamilton2017",
        "Inductive Representation Learning on Large Graphs",
        "Hamilton, William L. and Ying, Rex and Leskovec, Jure",
        2017,
        "10.48550/arXiv.1706.02216",
        "Low-dimensional embeddings of nodes in large graphs have proved extremely useful; we present "
        "GraphSAGE, an inductive framework that leverages node feature information to generate node "
        "embeddings for previously unseen data by sampling and aggregating features from a neighbourhood.",
    ),
    (
        "xu2019",
        "How Powerful are Graph Neural Networks?",
        "Xu, Keyulu and Hu, Weihua and Leskovec, Jure and Jegelka, Stefanie",
        2019,
        "10.48550/arXiv.1810.00826",
        "Graph neural networks are an effective framework for representation learning of graphs; we "
        "characterise their discriminative power with the Weisfeiler-Lehman graph isomorphism test and "
        "develop a simple architecture, the graph isomorphism network.",
    ),
    (
        "wu2021",
        "A Comprehensive Survey on Graph Neural Networks",
        "Wu, Zonghan and Pan, Shirui and Chen, Fengwen and Long, Guodong",
        2021,
        "10.1109/TNNLS.2020.2978386",
        "Deep learning has revolutionised many machine learning tasks; this survey gives an overview of "
        "graph neural networks in data mining and machine learning: recurrent, convolutional and "
        "spatial-temporal graph neural networks, their benchmarks and open problems.",
    ),
]
SCANNED = "hamilton2017"  # its PDF is a scanned page: no text layer, the ocr step reads it


def text_pdf(title: str, abstract: str) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=True)
    page.setFont("Helvetica-Bold", 14)
    page.drawString(72, 770, title)
    page.setFont("Helvetica", 11)
    y = 740
    for line in [*textwrap.wrap(abstract, 90), "", "1 Introduction", *textwrap.wrap(abstract * 2, 90)]:
        page.drawString(72, y, line)
        y -= 16
    page.showPage()
    page.save()
    return out.getvalue()


def scanned_pdf(title: str, abstract: str) -> bytes:
    """A page that is only an image of its text, as a scanner makes it."""
    image = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=36)
    y = 160
    for line in [title, "", *textwrap.wrap(abstract, 60)]:
        draw.text((140, y), line, fill=0, font=font)
        y += 56
    png = io.BytesIO()
    image.save(png, format="PNG")
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=True)
    page.drawImage(ImageReader(io.BytesIO(png.getvalue())), 0, 0, width=A4[0], height=A4[1])
    page.showPage()
    page.save()
    return out.getvalue()


def main() -> None:
    entries = []
    for number, (key, title, authors, year, doi, abstract) in enumerate(PAPERS, start=1):
        folder = HERE / "files" / str(number)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{key}.pdf"
        maker = scanned_pdf if key == SCANNED else text_pdf
        (folder / name).write_bytes(maker(title, abstract))
        fields = [
            f"  title = {{{title}}}",
            f"  author = {{{authors}}}",
            f"  year = {{{year}}}",
            f"  abstract = {{{abstract}}}",
            f"  file = {{Full Text PDF:files/{number}/{name}:application/pdf}}",
        ]
        if doi:
            fields.insert(3, f"  doi = {{{doi}}}")
        entries.append(f"@article{{{key},\n" + ",\n".join(fields) + "\n}\n")
    (HERE / "library.bib").write_text("\n".join(entries), encoding="utf-8")


if __name__ == "__main__":
    main()
