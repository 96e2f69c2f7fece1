"""The first documents of the project's stream as a sample, to leave out of the exact count the common
candidates that cannot reach the top.

Counting is what costs once a document is tokenised: a candidate that is a common word is found in
most documents, and each find is a hash-table update. The first ``SAMPLE_DOCS`` documents are
tokenised once, kept (as key lists, a few megabytes) and counted like the rest afterwards; meanwhile
they show each candidate's share of documents, as an interval (Wilson's, ``Z`` deviations wide). Each
candidate then gets a pessimistic and an optimistic score from its method; a common candidate (in
``MIN_SUPPORT`` sampled documents at least) is left out only when even its optimistic score is below
the pessimistic scores of enough others to fill the result. Rare candidates are always counted: they
are cheap, and a sample says little about them; so are the two-word terms that may make a counted
word redundant (``terms.pick``). Where nothing stands out, the intervals overlap and everything is
counted; where some terms stand out, the common words that trail them are skipped.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import pairwise

from taskapi.pipeline.expand.tokens import Term, split_terms

SAMPLE_DOCS = 2_000
MIN_SUPPORT = 10
Z = 3.0

Share = tuple[float, float]
"""A share of documents as an interval: (lowest, highest) plausible."""
Bounds = Callable[[Term, Share], tuple[float, float]]
"""A candidate's (pessimistic, optimistic) score, given its share of the sampled documents."""


@lru_cache(maxsize=65_536)
def share_interval(found: int, size: int) -> Share:
    """The Wilson score interval of ``found`` documents out of ``size``, ``Z`` deviations wide."""
    if size <= 0:
        return 0.0, 1.0
    share, spread = found / size, Z * Z / size
    centre = (share + spread / 2) / (1 + spread)
    half = Z * math.sqrt(share * (1 - share) / size + spread / (4 * size)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def sample_frequencies(sample: Sequence[list[str]], candidates: Sequence[Term]) -> Counter[Term]:
    """How many of the sampled documents (key lists) hold each candidate."""
    words, pairs = split_terms(candidates)
    counts: Counter[Term] = Counter()
    for keys in sample:
        counts.update(words.intersection(keys))
        counts.update(pairs.intersection(pairwise(keys)))
    return counts


def promising(candidates: list[Term], sample: Sequence[list[str]], bounds: Bounds, wanted: int) -> list[Term]:
    """The candidates worth an exact count when ``wanted`` terms are to be picked (see the module)."""
    if not sample or len(candidates) <= wanted:
        return candidates
    held = sample_frequencies(sample, candidates)
    scored = {term: bounds(term, share_interval(held[term], len(sample))) for term in candidates}
    floor = heapq.nlargest(wanted, (low for low, _ in scored.values()))[-1]
    kept = {term for term in candidates if held[term] < MIN_SUPPORT or scored[term][1] >= floor}
    return [term for term in candidates if term in kept or _may_subsume(term, kept, held)]


def _may_subsume(term: Term, kept: set[Term], held: Counter[Term]) -> bool:
    """Whether ``term`` is a two-word term that may hold most of a kept word's documents: it must be
    counted with the word, which ``terms.pick`` leaves out if so."""
    return not isinstance(term, str) and any(word in kept and 2 * held[term] >= held[word] for word in term)
