"""``keyword_expand``: suggest search terms that co-occur with the query in the project's own literature.

A ``def`` handler: counting terms over a whole library is CPU-bound, so it runs in the worker's child
process (a cancel stops it at once; it also checks between every thousand documents it reads). It only
reads the library. Methods (``taskapi.pipeline.expand``): ``prf`` (pseudo-relevance feedback over the
index, the default), ``cooccurrence`` (NPMI with the query over every document), and ``variants``
(spelling variants of ``params.keywords``, the first ``keyword_expand``, which needs no library).
"""

from __future__ import annotations

from typing import Any

from taskapi.pipeline.expand import Corpus, ExpandOptions, expand, expand_keywords
from taskapi.pipeline.params_expand import ExpandParams, validate_keyword_expand
from taskapi.pipeline.resources import resources_of
from taskapi.worker.context import TaskContext
from taskapi.worker.registry import handler


@handler("keyword_expand", validate=validate_keyword_expand)
def keyword_expand(ctx: TaskContext) -> dict[str, Any]:
    """Expand ``params.query`` from the project's index (or ``params.keywords`` by spelling variants)."""
    params = ExpandParams.read(ctx.params)
    if params.method == "variants":
        return expand_keywords(params.keywords, ctx.progress)
    assert params.query is not None  # read() requires one for these methods
    corpus: Corpus = resources_of(ctx).papers
    options = ExpandOptions(
        method=params.method,
        max_terms=params.max_terms,
        fb_docs=params.fb_docs,
        min_df=params.min_df,
        original_query_weight=params.original_query_weight,
    )
    ctx.progress(0)
    return expand(corpus, ctx.project_id, params.query, options, ctx.progress).as_result()
