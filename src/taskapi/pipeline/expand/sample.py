"""The first documents of the project's stream as a sample, to leave out of the exact count the common
candidates that cannot reach the top.

Counting is what costs once a document is tokenised: a candidate that is a common word is found in
most documents, and each find is a hash-table update. The first ``SAMPLE_DOCS`` documents are
tokenised once, kept (as key lists, a few megabytes) and counted like the rest afterwards; meanwhile
they show each candidate's share of documents. A candidate in fewer than ``MIN_SUPPORT`` of them is
rare (cheap to count: always kept); of the common ones only the ``keep`` of the best estimate are
counted: many times the terms a result holds, since an estimate from a sample is rough.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import pairwise

from taskapi.pipeline.expand.tokens import Term, split_terms

SAMPLE_DOCS = 2_000
MIN_SUPPORT = 10


def common_kept(max_terms: int) -> int:
    """How many common candidates the exact count keeps for a result of ``max_terms`` terms."""
    return 200 + 10 * max_terms


def sample_frequencies(sample: Sequence[list[str]], candidates: Sequence[Term]) -> Counter[Term]:
    """How many of the sampled documents (key lists) hold each candidate."""
    words, pairs = split_terms(candidates)
    counts: Counter[Term] = Counter()
    for keys in sample:
        counts.update(words.intersection(keys))
        counts.update(pairs.intersection(pairwise(keys)))
    return counts


def promising(
    candidates: list[Term],
    sample: Sequence[list[str]],
    estimate: Callable[[Term, float], float],
    keep: int,
) -> list[Term]:
    """The candidates worth an exact count: the rare ones, and the ``keep`` common ones of the best
    ``estimate(term, share of the sample holding it)``."""
    if not sample:
        return candidates
    held = sample_frequencies(sample, candidates)
    common = [term for term in candidates if held[term] >= MIN_SUPPORT]
    if len(common) <= keep:
        return candidates
    size = len(sample)
    kept = set(heapq.nlargest(keep, common, key=lambda term: estimate(term, held[term] / size)))
    return [term for term in candidates if held[term] < MIN_SUPPORT or term in kept]
