"""Words, two-word terms and the query as the expansion reads them."""

from __future__ import annotations

import pytest

from taskapi.pipeline.expand import Vocabulary, load_stopwords, parse_query, singular
from taskapi.pipeline.expand.tokens import term_counts


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("networks", "network"),
        ("studies", "study"),
        ("processes", "process"),
        ("approaches", "approach"),
        ("images", "image"),
        ("analysis", "analysis"),
        ("corpus", "corpus"),
        ("robotics", "robotics"),
        ("class", "class"),
        ("series", "series"),
        ("gas", "gas"),
    ],
)
def test_singular_folds_plurals_and_leaves_words_that_only_look_plural(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_the_shipped_stopword_list_holds_function_words_and_the_boilerplate_of_abstracts() -> None:
    stopwords = load_stopwords()
    assert {"the", "of", "and", "which", "propose", "paper"} <= stopwords
    assert not {"#", "", "network", "protein"} & stopwords


def test_a_text_becomes_keys_with_breaks_at_stopwords_numbers_and_punctuation() -> None:
    vocabulary = Vocabulary()
    keys = vocabulary.keys_of('Neural Networks, in 2019: "Graph-based" models (GNNs) of the x.')
    assert keys == [
        *("neural", "network", "", "", "", "", ""),  # ", in 2019: "
        *("graph-based", "", "model", ""),  # a quote ends a phrase as a comma does
        *("gnn", "", "", "", "", ""),  # ") of the x."
    ]


def test_bigrams_never_span_a_break_and_plurals_count_as_their_singular() -> None:
    counts = term_counts(Vocabulary().keys_of("Neural networks. Neural network of learning; deep learning"))
    assert counts["network"] == 2 and counts[("neural", "network")] == 2
    assert ("network", "neural") not in counts  # across the full stop
    assert ("network", "learning") not in counts  # across "of"
    assert ("learning", "deep") not in counts and counts[("deep", "learning")] == 1


def test_a_term_is_shown_in_its_shortest_spelling_seen() -> None:
    vocabulary = Vocabulary()
    vocabulary.keys_of("Proteins, proteins' folding and the protein")
    assert vocabulary.shown("protein") == "protein"
    assert vocabulary.shown(("protein", "folding")) == "protein folding"
    only_plural = Vocabulary()
    only_plural.keys_of("case studies")
    assert only_plural.shown("study") == "studies"


def test_pdf_ligatures_junk_and_possessives_are_folded_or_dropped() -> None:
    vocabulary = Vocabulary()
    keys = vocabulary.keys_of("Classi\ufb01cation model's https://example.org/x " + "a" * 50)
    assert keys[:2] == ["classification", "model"]
    assert set(keys[2:]) == {""}  # the URL and the 50-letter run are junk


def test_a_query_is_or_groups_of_required_words_and_remembers_its_excluded_words() -> None:
    vocabulary = Vocabulary()
    terms = parse_query('graph neural networks OR "message passing" | GNN NOT survey -review', vocabulary)
    assert terms.groups == (
        frozenset({"graph", "neural", "network"}),
        frozenset({"message", "passing"}),
        frozenset({"gnn"}),
    )
    assert terms.keys == {"graph", "neural", "network", "message", "passing", "gnn", "survey", "review"}
    assert terms.matches({"graph", "network", "neural", "other"}) and not terms.matches({"graph", "neural"})
    assert terms.names(("neural", "network")) and not terms.names(("neural", "field"))


def test_a_query_of_stopwords_only_has_no_groups() -> None:
    assert parse_query("the of AND which", Vocabulary()).groups == ()
