"""Ranked search on both stores over a small library whose right order is plain: a word in the title
beats it in the abstract, which beats it in the text; and each piece of the search-box syntax finds
what people expect (phrases, OR, exclusions, prefixes, stems, accents, case)."""

from __future__ import annotations

import pytest

from taskapi.papers import PageText, PaperRecord, PapersRepository

FILLERS = [
    ("Plasma physics of stellarators", "Magnetic confinement in twisted devices."),
    ("Fusion energy economics", "Costs of building reactors."),
    ("Superconducting magnets", "High field coils for confinement."),
    ("Neutron transport", "Monte Carlo methods for shielding."),
    ("Tritium breeding blankets", "Lithium ceramics and their behaviour."),
    ("Inertial confinement", "Lasers compress small pellets."),
    ("Divertor heat loads", "Power exhaust on plasma facing components."),
    ("Edge localized modes", "Instabilities at the plasma edge."),
    ("Gyrokinetic simulation", "Turbulence codes on supercomputers."),
    ("Runaway electrons", "Mitigation during disruptions."),
    ("Diagnostics of hot plasmas", "Thomson scattering and interferometry."),
    ("Materials under irradiation", "Tungsten damage by neutrons."),
    ("Stellarator optimisation", "Quasi symmetric magnetic fields."),
    ("Graph neural networks", "Message passing over molecular graphs."),
    ("Neural network pruning", "Smaller networks with equal accuracy."),
    ("Network science", "Neural activity recorded in mice."),
    ("Schr\u00f6dinger bridges", "Entropic optimal transport between distributions."),
    ("Category theory for programmers", "Functors, monads and natural transformations."),
]


class Library:
    """The corpus above plus four papers about tokamaks, the word placed where the ranking needs it."""

    def __init__(self, papers: PapersRepository) -> None:
        self.papers = papers
        records = [PaperRecord(title=title, abstract=abstract) for title, abstract in FILLERS]
        records += [
            PaperRecord(title="Tokamak plasma control", abstract="We steer a tokamak discharge."),
            PaperRecord(title="Tokamak plasma control", abstract="We steer a reactor discharge."),
            PaperRecord(title="Reactor plasma control", abstract="We steer a tokamak discharge."),
            PaperRecord(title="Reactor plasma control", abstract="We steer a reactor discharge."),
        ]
        ids = papers.import_records(1, records).ids
        self.fillers = ids[: len(FILLERS)]
        self.title_and_abstract, self.title, self.abstract, self.body = ids[len(FILLERS) :]
        pages = [PageText(1, "Appendix: the tokamak used for calibration.", "text")]
        papers.text_store(self.body, pages, fence=None)
        papers.import_records(2, [PaperRecord(title="Tokamak in another project")])
        papers.index_update(1, rebuild=False, fence=None)
        papers.index_update(2, rebuild=False, fence=None)

    def ids(self, q: str) -> list[int]:
        return [hit.paper.id for hit in self.papers.search(1, q, limit=50)]

    def filler(self, title: str) -> int:
        return self.fillers[[t for t, _ in FILLERS].index(title)]


@pytest.fixture
def library(papers: PapersRepository) -> Library:
    return Library(papers)


def test_a_title_hit_beats_an_abstract_hit_which_beats_a_body_hit(library: Library) -> None:
    assert len(FILLERS) + 4 >= 20
    hits = library.papers.search(1, "tokamak", limit=50)

    assert [hit.paper.id for hit in hits] == [
        library.title_and_abstract,
        library.title,
        library.abstract,
        library.body,
    ]
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert hits[0].score > hits[1].score > hits[2].score > hits[3].score > 0
    assert "<b>Tokamak</b>" in hits[1].snippet
    assert "<b>tokamak</b>" in hits[3].snippet  # the page's passage shows why the body matched


def test_pages_of_a_ranking_follow_each_other(library: Library) -> None:
    everything = library.ids("plasma")
    pages = [
        [hit.paper.id for hit in library.papers.search(1, "plasma", limit=3, offset=offset)]
        for offset in range(0, len(everything) + 3, 3)
    ]
    assert [paper for page in pages for paper in page] == everything and pages[-1] == []


@pytest.mark.parametrize(
    ("q", "titles"),
    [
        ('"plasma control"', {"tokamak", "reactor"}),  # the phrase, in order
        ('"control plasma"', set()),
        ("confinement -lasers", {"Plasma physics of stellarators", "Superconducting magnets"}),
        ('neural -"graph neural"', {"Neural network pruning", "Network science"}),
        (
            "stellarator OR tungsten",
            {"Plasma physics of stellarators", "Stellarator optimisation", "Materials under irradiation"},
        ),
        ("stellar*", {"Plasma physics of stellarators", "Stellarator optimisation"}),
        ("networks", {"Graph neural networks", "Neural network pruning", "Network science"}),  # stems
        ("SCHRODINGER", {"Schr\u00f6dinger bridges"}),  # case and accents folded
        ("schr\u00f6dinger bridge", {"Schr\u00f6dinger bridges"}),
        ("transformations functor", {"Category theory for programmers"}),
        ("plasma lasers", set()),  # every word must match in one paper
    ],
)
def test_the_syntax_finds_what_people_expect(library: Library, q: str, titles: set[str]) -> None:
    by_id = {library.filler(title): title for title, _ in FILLERS}
    by_id |= {library.title_and_abstract: "tokamak", library.title: "tokamak"}
    by_id |= {library.abstract: "reactor", library.body: "reactor"}
    assert {by_id[paper] for paper in library.ids(q)} == titles


def test_a_project_finds_only_its_own_papers(library: Library) -> None:
    assert len(library.ids("tokamak")) == 4
    assert [hit.paper.project_id for hit in library.papers.search(2, "tokamak", limit=10)] == [2]
    assert len(library.papers.search(None, "tokamak", limit=10)) == 5
    assert library.papers.search(3, "tokamak", limit=10) == []  # never indexed: nothing, not an error
