"""``expanded_query``: what the expansion hands back to the search step must be valid input for it and
for Semantic Scholar's bulk syntax, whatever the terms and the query hold."""

from __future__ import annotations

import random
import re

from taskapi.pipeline.expand import clean_query, expanded_query, search_clause
from taskapi.pipeline.expand.query import MAX_QUERY_CHARS
from taskapi.pipeline.sources import SearchQuery, arxiv_search_query

HOSTILE = "ab \"'()|+-*~\\:^OR AND NOT é ß 中 _\t\n-"
BARE = re.compile(r"^[^\W_]+$")
PHRASE = re.compile(r'^"[^"\s](?:[^"]*[^"\s])?"$')


def test_the_query_comes_first_then_each_term_with_phrases_quoted() -> None:
    terms = ["neural network", "transformer", "self-supervised", "Transformer"]
    assert expanded_query("machine learning", terms) == (
        'machine learning OR "neural network" OR transformer OR "self-supervised"'
    )


def test_operators_and_quotes_inside_a_term_never_reach_the_query_as_syntax() -> None:
    assert search_clause('say "hello" (world)') == '"say hello world"'
    assert search_clause("OR") is None
    assert search_clause("this or that") == '"this that"'
    assert search_clause("-negated") == "negated"
    assert search_clause("a|b+c~2*") == '"a b c 2"'
    assert search_clause(' "" ( ) ') is None


def test_the_users_query_loses_only_quotes_and_parentheses_that_do_not_pair() -> None:
    assert clean_query('  "graph  neural" networks ') == '"graph neural" networks'
    assert clean_query('graph "neural networks') == "graph neural networks"
    assert clean_query("(graph neural) networks)") == "graph neural networks"
    assert clean_query("OR graph AND networks OR") == "graph AND networks"


def test_terms_that_do_not_fit_the_search_steps_limit_are_left_out() -> None:
    query = "q" * 985
    assert expanded_query(query, ["toolongtoolong", "fits", "x"]) == f"{query} OR fits OR x"
    many = expanded_query("graph", [f"term{n}" for n in range(500)])
    assert len(many) <= MAX_QUERY_CHARS and many.startswith("graph OR term0 OR term1 OR")


def _random_text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(HOSTILE) for _ in range(rng.randint(0, longest)))


def test_any_terms_and_query_give_balanced_quotes_and_clauses_the_sources_read() -> None:
    """Property-style: 2,000 random queries and term lists drawn from quotes, operators, symbols and
    non-ASCII letters; every expanded query must keep its shape."""
    rng = random.Random(11)
    for _ in range(2_000):
        query = _random_text(rng, 30)
        terms = [_random_text(rng, 12) for _ in range(rng.randint(0, 12))]
        expanded = expanded_query(query, terms)
        head = clean_query(query)
        assert expanded.count('"') % 2 == 0, (query, terms, expanded)
        assert len(expanded) <= MAX_QUERY_CHARS
        assert expanded.startswith(head)
        tail = expanded[len(head) :].removeprefix(" OR ") if head else expanded
        for clause in tail.split(" OR ") if tail else []:
            assert BARE.match(clause) or PHRASE.match(clause), (terms, clause)
        if expanded:
            arxiv = arxiv_search_query(SearchQuery(query=expanded, limit=10))
            assert arxiv.count('"') % 2 == 0
        assert head.count('"') % 2 == 0 and head.count("(") == head.count(")")
