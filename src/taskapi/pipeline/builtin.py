"""Built-in handlers that need nothing outside the task's own params.

``dedup`` and ``keyword_expand`` work on what the task carries. ``search``, ``crawl``, ``ocr`` and
``index`` need the user's sources, crawlers and engines, so they come from the user's handler modules
(``--handlers``); until one is loaded, tasks of those types wait for a worker that has them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from taskapi.worker.context import TaskContext
from taskapi.worker.registry import handler

_WORD = re.compile(r"[a-z0-9]+")


def _normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(_WORD.findall(text))


def _record_key(record: dict[str, Any]) -> str:
    doi = str(record.get("doi") or "").strip().lower()
    return f"doi:{doi}" if doi else f"title:{_normalise_title(str(record.get('title', '')))}"


@handler("dedup")
def dedup(ctx: TaskContext) -> dict[str, Any]:
    """Drop duplicate records (same DOI, else same normalised title); keeps the first of each."""
    records = ctx.params.get("records", [])
    if not isinstance(records, list):
        raise ValueError("params.records must be a list of objects")
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for done, record in enumerate(records, start=1):
        key = _record_key(record if isinstance(record, dict) else {"title": str(record)})
        if key not in seen:
            seen.add(key)
            kept.append(record)
        ctx.progress(done, len(records))
    return {
        "input": len(records),
        "unique": len(kept),
        "duplicates": len(records) - len(kept),
        "records": kept,
    }


_SUFFIXES = ("s", "es", "ing", "ed", "ation")


@handler("keyword_expand")
def keyword_expand(ctx: TaskContext) -> dict[str, Any]:
    """Expand keywords with simple spelling variants (plural, hyphenation, acronym) for a search."""
    keywords = ctx.params.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ValueError("params.keywords must be a list of strings")
    expanded: dict[str, list[str]] = {}
    for done, keyword in enumerate(keywords, start=1):
        expanded[keyword] = sorted(_variants(keyword) - {keyword})
        ctx.progress(done, len(keywords))
    return {"keywords": expanded, "count": sum(len(v) for v in expanded.values())}


def _variants(keyword: str) -> set[str]:
    base = keyword.strip().lower()
    variants = {base, base.replace("-", " "), base.replace(" ", "-")}
    words = base.replace("-", " ").split()
    if len(words) > 1:
        variants.add("".join(word[0] for word in words).upper())
    stem = words[-1] if words else base
    for suffix in _SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix) + 2:
            variants.add(base[: -len(suffix)])
    if not base.endswith("s"):
        variants.add(base + "s")
    return {v for v in variants if v}
