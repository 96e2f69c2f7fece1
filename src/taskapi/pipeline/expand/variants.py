"""The ``variants`` method: spelling variants of the keywords a task is given (plural and singular,
hyphenated and spaced, the acronym), needing no library. The first ``keyword_expand`` the service had;
its params (``keywords``) and result (``{"keywords": {kw: [variants]}, "count": n}``) are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

_SUFFIXES = ("s", "es", "ing", "ed", "ation")


def keyword_variants(keyword: str) -> set[str]:
    """Every variant of ``keyword``, itself (lower-cased) included."""
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


def expand_keywords(
    keywords: Sequence[str], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """The ``variants`` result: each keyword's variants (sorted, itself left out) and their count."""
    expanded: dict[str, list[str]] = {}
    for done, keyword in enumerate(keywords, start=1):
        expanded[keyword] = sorted(keyword_variants(keyword) - {keyword})
        if progress is not None:
            progress(done, len(keywords))
    return {"keywords": expanded, "count": sum(len(v) for v in expanded.values()), "method": "variants"}
