"""Author display names in any export's format meet on one key: surname and first initial."""

from __future__ import annotations

import pytest

from taskapi.pipeline.dedup.authors import author, author_key, authors_of


@pytest.mark.parametrize(
    "name",
    ["Smith, John A.", "John A. Smith", "J. Smith", "J. A. Smith", "SMITH J", "Smith JA", "smith, j"],
)
def test_the_formats_of_one_name(name: str) -> None:
    assert author_key(name) == "smith j"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("van der Heijden, Hans", "heijden h"),
        ("Hans van der Heijden", "heijden h"),
        ("Radice-Neumann, D.", "neumann d"),
        ("Müller, Jürgen", "muller j"),
        ("Jürgen Müller", "muller j"),
        ("Wu JF", "wu j"),
        ("Wright Jr., T. C.", "wright t"),
        ("Plato", "plato"),
    ],
)
def test_particles_double_names_diacritics_and_suffixes(name: str, key: str) -> None:
    assert author_key(name) == key


def test_a_name_split_at_its_hyphen_or_swapped_has_its_other_reading() -> None:
    split, swapped = author("Andres, Gamboa O"), author("Xiaoguang, Wang")
    assert split is not None and split.keys == ("andres g", "gamboa o")
    assert swapped is not None and swapped.keys == ("xiaoguang w", "wang x")


def test_nothing_name_like() -> None:
    assert [author_key(name) for name in ("", "  ", ",", "et al.", "-")] == [None] * 5
    assert authors_of(["Smith, J.", "J. Smith", "et al.", "Garcia, M."]) == (
        author("Smith, J."),
        author("Garcia, M."),
    )
