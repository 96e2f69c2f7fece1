"""Built-in handlers that need nothing outside the task's own params: ``keyword_expand`` (spelling
variants of the keywords it is given). The library steps (``search``, ``dedup``, ``crawl``) live in
``taskapi.pipeline.handlers``; ``ocr`` and ``index`` come from the user's handler modules for now.
"""

from __future__ import annotations

from typing import Any

from taskapi.worker.context import TaskContext
from taskapi.worker.registry import handler

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
