"""The search box's query, read by us: what each piece of web-search syntax becomes, and that what is
rendered for FTS5 and to_tsquery holds every word quoted (no engine ever sees the user's syntax)."""

from __future__ import annotations

import pytest

from taskapi.papers._search import (
    MAX_QUERY_CHARS,
    EmptyQuery,
    InvalidQuery,
    Query,
    Term,
    parse_query,
    to_fts5,
    to_tsquery,
)


def t(*words: str, prefix: bool = False) -> Term:
    return Term(tuple(words), prefix)


@pytest.mark.parametrize(
    ("q", "required", "excluded"),
    [
        ("graph neural networks", [[t("graph")], [t("neural")], [t("networks")]], []),
        ('"war of the worlds" mars', [[t("war", "of", "the", "worlds")], [t("mars")]], []),
        ("cats OR dogs food", [[t("cats"), t("dogs")], [t("food")]], []),
        ("a OR b OR c", [[t("b"), t("c")]], []),  # "a" is a stopword: dropped from its group
        ("graph -trees", [[t("graph")]], [t("trees")]),
        ('graph -"binary trees"', [[t("graph")]], [t("binary", "trees")]),
        ("graph* net", [[t("graph", prefix=True)], [t("net")]], []),
        ("covid-19 vaccine", [[t("covid", "19")], [t("vaccine")]], []),  # one chunk: a phrase
        ("M\u00fcller \u00c9COLE", [[t("muller")], [t("ecole")]], []),  # folded
        ("the graph of a tree", [[t("graph")], [t("tree")]], []),  # stopwords dropped
        ("graph graph GRAPH", [[t("graph")]], []),  # each term once
        ("OR graph OR", [[t("graph")]], []),  # a dangling OR is nothing
        ("-x OR y", [[t("y")]], [t("x")]),  # OR never joins an exclusion
        ("(graph AND trees)", [[t("graph")], [t("trees")]], []),  # brackets separate; AND a stopword
        ('"unbalanced phrase', [[t("unbalanced", "phrase")]], []),
        ("NEAR(a b)", [[t("near")], [t("b")]], []),
        ("graph\x00trees", [[t("graph")], [t("trees")]], []),
        ("title:graph", [[t("title", "graph")]], []),
    ],
)
def test_each_piece_of_the_syntax_reads_as_people_mean_it(
    q: str, required: list[list[Term]], excluded: list[Term]
) -> None:
    query = parse_query(q)
    assert query == Query(tuple(tuple(group) for group in required), tuple(excluded))


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("", "must contain a letter or a digit"),
        ('"" * : ( ) ^ -', "must contain a letter or a digit"),
        ("the of and", "only common words"),
        ('"to be or not to be"', "only common words"),
        ("-graph", "only excludes"),
        ("x" * (MAX_QUERY_CHARS + 1), "at most"),
        ("w" * 101, "longer than 100"),
        (" ".join(f"w{n}" for n in range(65)), "at most 64"),
        ('"' + " ".join(f"w{n}" for n in range(33)) + '"', "more than 32 words"),
    ],
)
def test_a_query_with_nothing_to_search_or_too_much_is_refused(q: str, says: str) -> None:
    with pytest.raises(InvalidQuery, match=says) as refused:
        parse_query(q)
    assert isinstance(refused.value, EmptyQuery) == (
        says in {"must contain a letter or a digit", "only common words", "only excludes"}
    )


def test_fts5_gets_double_quoted_strings_only() -> None:
    query = parse_query('graph* "neural network" OR trees -"binary search"')
    assert to_fts5(query) == '("graph" * AND ("neural network" OR "trees")) NOT "binary search"'
    assert to_fts5(query, ("title", "body")).startswith("{title body} : (")


def test_to_tsquery_gets_quoted_lexemes_only() -> None:
    query = parse_query('graph* "neural network" OR trees -o\'neil')
    assert to_tsquery(query) == "'graph':* & (('neural' <-> 'network') | 'trees') & !('o' <-> 'neil')"
    assert to_tsquery(query, positive_only=True) == "'graph':* & (('neural' <-> 'network') | 'trees')"


def test_words_are_what_is_left_to_highlight() -> None:
    assert parse_query('graph "neural net" OR tree -x').words == ["graph", "neural", "net", "tree"]
