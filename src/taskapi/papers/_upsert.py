"""The upsert's and dedup's rules, on papers held in memory: where each record goes, what it fills.

The repository loads the papers a batch can meet (one set-based query per batch), lets ``BatchUpsert``
place every record, then writes the new papers and the changed ones. Nothing here touches a database,
so the rules are the same on both dialects and cheap: a batch of a thousand records costs a few dict
look-ups per record, plus a title comparison when an identifier is found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from taskapi.papers.records import IDENTIFIERS, PaperRecord, titles_clearly_differ

_DESCRIPTIVE = ("title", "abstract", "year", "venue", "volume", "issue", "pages")
SCALARS = (*_DESCRIPTIVE, *IDENTIFIERS, "pdf_url", "oa_status")
"""Single-valued columns: a merge fills them when empty, never overwrites them."""
LISTS = ("authors", "sources", "pdf_candidates")
MAX_HOPS = 8
"""``duplicate_of`` is kept one hop deep (see ``dedup_apply``); a longer chain is followed this far."""


@dataclass(eq=False, slots=True)
class Draft:
    """A paper while a batch changes it: loaded (``id`` set) or new (``id`` given at insert).

    ``changed`` says whether a loaded paper must be written back (``updated_at`` moves only then).
    """

    id: int | None
    values: dict[str, Any]
    duplicate_of: int | None = None
    changed: bool = False

    @classmethod
    def new(cls, record: PaperRecord) -> Draft:
        values: dict[str, Any] = {name: getattr(record, name) for name in SCALARS}
        values["authors"] = list(record.authors)
        values["sources"] = [record.source] if record.source else []
        values["pdf_candidates"] = list(record.pdf_candidates)
        return cls(None, values)

    @classmethod
    def loaded(cls, paper_id: int, row: Mapping[str, Any], as_list: Callable[[object], list[str]]) -> Draft:
        values: dict[str, Any] = {name: row[name] for name in SCALARS}
        values.update({name: as_list(row[name]) for name in LISTS})
        return cls(paper_id, values, row["duplicate_of"])

    @property
    def title(self) -> str | None:
        title = self.values["title"]
        return title if isinstance(title, str) else None

    def columns(self, encode_list: Callable[[list[str]], Any] | None = None) -> dict[str, Any]:
        """Every mutable column, lists as they are or encoded (SQLite: JSON text)."""
        columns = dict(self.values)
        if encode_list is not None:
            columns.update({name: encode_list(self.values[name]) for name in LISTS})
        columns["duplicate_of"] = self.duplicate_of
        return columns

    def absorb_record(self, record: PaperRecord) -> None:
        """A record of this paper arrived: fill empty fields, add its source and PDF candidates."""
        for name in SCALARS:
            self._fill(name, getattr(record, name))
        if not self.values["authors"] and record.authors:
            self._set("authors", list(record.authors))
        self._extend("sources", [record.source] if record.source else [])
        self._extend("pdf_candidates", [*record.pdf_candidates, *self._other_pdf_url(record.pdf_url)])

    def absorb_duplicate(self, other: Draft) -> None:
        """``other`` is a copy of this paper: take its identifiers (into empty fields), sources and
        PDF candidates, and its ``pdf_url`` (a candidate too when this paper has another one)."""
        for name in (*IDENTIFIERS, "pdf_url"):
            self._fill(name, other.values[name])
        self._extend("sources", other.values["sources"])
        candidates = other.values["pdf_candidates"]
        self._extend("pdf_candidates", [*candidates, *self._other_pdf_url(other.values["pdf_url"])])

    def _other_pdf_url(self, url: str | None) -> list[str]:
        """A ``pdf_url`` that this paper's own (filled first) is not: kept as a candidate, not lost."""
        return [url] if url and url != self.values["pdf_url"] else []

    def point_at(self, canonical: int) -> None:
        if self.duplicate_of != canonical:
            self.duplicate_of = canonical
            self.changed = True

    def _fill(self, name: str, value: object) -> None:
        if value is not None and value != "" and self.values[name] in (None, ""):
            self._set(name, value)

    def _extend(self, name: str, items: Iterable[str]) -> None:
        present = self.values[name]
        missing = [item for item in dict.fromkeys(items) if item not in present]
        if missing:
            self._set(name, [*present, *missing])

    def _set(self, name: str, value: object) -> None:
        self.values[name] = value
        self.changed = True


def follow(drafts: Mapping[int, Draft], draft: Draft) -> Draft:
    """The canonical paper of ``draft`` (itself when it is not a duplicate) among ``drafts``."""
    for _ in range(MAX_HOPS):
        target = None if draft.duplicate_of is None else drafts.get(draft.duplicate_of)
        if target is None or target is draft:
            return draft
        draft = target
    return draft


class BatchUpsert:
    """Places a batch's records, in order, on the loaded papers or on new ones.

    A record meets a paper through its first identifier (DOI, arXiv id, S2 id, OpenAlex id, PMID, in
    that order) that a paper carries, unless the titles clearly differ (a supplement's abstracts sharing
    one DOI); it then enriches that paper's canonical one. A new paper is indexed at once, so that the
    batch's later records meet it too.
    """

    def __init__(self, known: Mapping[int, Draft]) -> None:
        self._known = known
        self._by_identifier: dict[tuple[str, str], list[Draft]] = {}
        self.created: list[Draft] = []
        for draft in sorted(known.values(), key=lambda d: (d.duplicate_of is not None, d.id)):
            self._index(draft)

    def place(self, record: PaperRecord) -> tuple[Draft, bool]:
        """The paper ``record`` (normalised) goes to, and whether it is a new one."""
        found = self._match(record)
        is_new = found is None
        if found is None:
            found = Draft.new(record)
            self.created.append(found)
        else:
            found.absorb_record(record)
        self._index(found)
        return found, is_new

    @property
    def changed(self) -> list[Draft]:
        """Loaded papers a record enriched, by id."""
        return sorted((d for d in self._known.values() if d.changed), key=lambda d: d.id or 0)

    def _match(self, record: PaperRecord) -> Draft | None:
        for name, value in record.identifiers().items():
            for draft in self._by_identifier.get((name, value), ()):
                if not titles_clearly_differ(draft.title, record.title):
                    return follow(self._known, draft)
        return None

    def _index(self, draft: Draft) -> None:
        for name in IDENTIFIERS:
            value = draft.values[name]
            if value:
                bucket = self._by_identifier.setdefault((name, value), [])
                if not any(other is draft for other in bucket):
                    bucket.append(draft)


def mark_duplicates(drafts: Mapping[int, Draft], pairs: Iterable[tuple[int, int]]) -> None:
    """Point each ``(duplicate, canonical)`` at the canonical's own canonical (its chain followed in
    ``drafts``) and merge it in. A pair whose canonical leads back to the duplicate (the database
    already says the reverse) is skipped: a paper never becomes its own duplicate."""
    for duplicate_id, canonical_id in pairs:
        duplicate = drafts[duplicate_id]
        canonical = follow(drafts, drafts[canonical_id])
        if canonical is duplicate or canonical.id is None:
            continue
        duplicate.point_at(canonical.id)
        canonical.absorb_duplicate(duplicate)


def flatten(pairs: Mapping[int, int]) -> dict[int, int]:
    """Each duplicate mapped to the end of its chain within ``pairs`` (``a->b, b->c`` gives ``a->c``);
    a cycle or a paper mapped to itself is a caller's bug and raises ``ValueError``."""
    flat: dict[int, int] = {}
    for duplicate, target in pairs.items():
        if target == duplicate:
            raise ValueError(f"paper {duplicate} cannot be a duplicate of itself")
        seen = {duplicate}
        while target in pairs:
            if target in seen:
                raise ValueError(f"duplicate_of has a cycle through paper {duplicate}")
            seen.add(target)
            target = pairs[target]
        flat[duplicate] = target
    return flat
