"""Papers for the dedup tests, written as a library would hold them: only what a case needs is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from taskapi.pipeline.dedup import DedupPaper

MakePaper = Callable[..., DedupPaper]


def make_paper(paper_id: int, title: str | None, **fields: Any) -> DedupPaper:
    """A paper with the given fields, the others empty (``authors`` as a list or tuple of names)."""
    values: dict[str, Any] = dict.fromkeys(
        ("year", "venue", "volume", "issue", "pages", "doi", "arxiv_id", "s2_id", "openalex_id", "pmid")
    )
    values.update(fields)
    values["authors"] = tuple(values.get("authors", ()))
    return DedupPaper(id=paper_id, title=title, **values)


@pytest.fixture
def paper() -> MakePaper:
    return make_paper
