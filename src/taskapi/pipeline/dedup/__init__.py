"""Duplicate detection for a project's papers, in stages after bib-dedupe's design: ``prep`` (each
paper once into comparable keys), ``block`` (candidate pairs from cheap keys, never all pairs),
``match`` (readable rules with explicit vetoes), ``cluster`` (union-find groups and their canonical).

``find_duplicates`` is pure: it reads ``DedupPaper`` values and answers a ``DedupResult``; the
``dedup`` handler maps the library's papers in and writes ``duplicate_of`` out.
"""

from taskapi.pipeline.dedup.engine import find_duplicates
from taskapi.pipeline.dedup.model import RULES, DedupOptions, DedupPaper, DedupResult

__all__ = ["RULES", "DedupOptions", "DedupPaper", "DedupResult", "find_duplicates"]
