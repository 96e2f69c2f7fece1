"""The ``variants`` method: the first ``keyword_expand``'s spelling variants, unchanged."""

from __future__ import annotations

from taskapi.pipeline.expand import expand_keywords, keyword_variants


def test_a_phrase_gets_its_hyphenated_form_its_plural_and_its_acronym() -> None:
    assert keyword_variants("Graph Neural Network") == {
        "graph neural network",
        "graph-neural-network",
        "graph neural networks",
        "GNN",
    }


def test_a_plural_or_inflected_word_gets_its_stem() -> None:
    assert keyword_variants("networks") == {"networks", "network"}
    assert "learn" in keyword_variants("learning")
    assert keyword_variants("self-supervised") == {  # crude, as it always was
        *("self-supervised", "self supervised", "SS", "self-supervis", "self-superviseds"),
    }


def test_the_result_keeps_its_shape_each_keyword_without_itself() -> None:
    calls: list[tuple[int, int]] = []
    result = expand_keywords(["graph", "graphs"], lambda done, total: calls.append((done, total)))
    assert result == {
        "keywords": {"graph": ["graphs"], "graphs": ["graph"]},
        "count": 2,
        "method": "variants",
    }
    assert calls == [(1, 2), (2, 2)]
    assert expand_keywords([]) == {"keywords": {}, "count": 0, "method": "variants"}
