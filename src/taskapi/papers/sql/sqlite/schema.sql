-- The canonical SQLite schema of the papers library: what its migrations, applied in order after the
-- task store's, produce (tests/papers/test_repository_schema.py keeps the two equal). Change it only by
-- adding a migration, then update this file to match.

-- Identifiers are normalised (taskapi.papers.records) and NOT unique: real exports share one DOI among
-- a supplement's many abstracts. duplicate_of points at the canonical paper once dedup merged a copy.
-- AUTOINCREMENT: an id is never reused (duplicate_of and paper_files refer to it).
CREATE TABLE papers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL,
    title          TEXT,
    abstract       TEXT,
    authors        TEXT    NOT NULL DEFAULT '[]',  -- JSON list of display names
    year           INTEGER,
    venue          TEXT,
    volume         TEXT,
    issue          TEXT,
    pages          TEXT,
    doi            TEXT,
    arxiv_id       TEXT,
    s2_id          TEXT,
    openalex_id    TEXT,
    pmid           TEXT,
    pdf_url        TEXT,
    oa_status      TEXT,
    sources        TEXT    NOT NULL DEFAULT '[]',  -- JSON list: where it was found
    pdf_candidates TEXT    NOT NULL DEFAULT '[]',  -- JSON list of URLs, best first
    duplicate_of   INTEGER REFERENCES papers (id),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

-- The list, newest first, per project (duplicates hidden by default, or shown) and across projects.
CREATE INDEX papers_project_created ON papers (project_id, created_at DESC, id DESC);
CREATE INDEX papers_project_canonical_created ON papers (project_id, created_at DESC, id DESC)
    WHERE duplicate_of IS NULL;
CREATE INDEX papers_created ON papers (created_at DESC, id DESC);
-- dedup, crawl and the count read a project's non-duplicates in id order (the rowid ends each entry).
CREATE INDEX papers_project_canonical ON papers (project_id) WHERE duplicate_of IS NULL;
-- The upsert looks a batch's identifiers up per project, one indexed IN list per identifier.
CREATE INDEX papers_project_doi ON papers (project_id, doi) WHERE doi IS NOT NULL;
CREATE INDEX papers_project_arxiv_id ON papers (project_id, arxiv_id) WHERE arxiv_id IS NOT NULL;
CREATE INDEX papers_project_s2_id ON papers (project_id, s2_id) WHERE s2_id IS NOT NULL;
CREATE INDEX papers_project_openalex_id ON papers (project_id, openalex_id) WHERE openalex_id IS NOT NULL;
CREATE INDEX papers_project_pmid ON papers (project_id, pmid) WHERE pmid IS NOT NULL;
-- A paper that becomes a duplicate hands its own duplicates to its canonical (no chains).
CREATE INDEX papers_duplicate_of ON papers (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- A paper's stored PDF (at most one): where in the file store, its digest and where it came from.
CREATE TABLE paper_files (
    paper_id     INTEGER PRIMARY KEY REFERENCES papers (id),
    sha256       TEXT    NOT NULL,
    bytes        INTEGER NOT NULL,
    url          TEXT,
    content_type TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    fetched_at   TEXT    NOT NULL
);

-- The next moment a request to a source (or host) may be sent, shared by every worker of the database.
-- Unix seconds (REAL) of the host clock: reserving a slot is one arithmetic UPSERT.
CREATE TABLE source_pacing (
    key     TEXT PRIMARY KEY,
    next_at REAL NOT NULL
);

-- A paper's extracted text, one row per page (pages count from 1): the engine that produced it and,
-- for an OCR page, Tesseract's mean word confidence. ocr replaces a paper's pages as a whole.
CREATE TABLE paper_texts (
    paper_id   INTEGER NOT NULL REFERENCES papers (id),
    page       INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    engine     TEXT    NOT NULL,
    confidence REAL,
    PRIMARY KEY (paper_id, page)
);

-- The papers the index has to visit: a row per paper changed since the index last saw it (its title,
-- abstract, duplicate_of or text). seq grows with every change of the row, so an index run removes
-- only the entries it has read (WHERE seq = the one read): a change committed meanwhile stays queued.
-- Written by the triggers below and by text_store; emptied by index runs.
CREATE TABLE paper_index_queue (
    paper_id   INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX paper_index_queue_project ON paper_index_queue (project_id, paper_id);
CREATE INDEX paper_index_queue_seq ON paper_index_queue (seq);

CREATE TRIGGER papers_index_on_insert AFTER INSERT ON papers
BEGIN
    INSERT OR REPLACE INTO paper_index_queue (paper_id, project_id, seq)
    VALUES (new.id, new.project_id, (SELECT coalesce(max(seq), 0) + 1 FROM paper_index_queue));
END;

CREATE TRIGGER papers_index_on_update AFTER UPDATE OF title, abstract, duplicate_of, project_id ON papers
WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract
    OR old.duplicate_of IS NOT new.duplicate_of OR old.project_id IS NOT new.project_id
BEGIN
    INSERT OR REPLACE INTO paper_index_queue (paper_id, project_id, seq)
    VALUES (new.id, new.project_id, (SELECT coalesce(max(seq), 0) + 1 FROM paper_index_queue));
END;

-- The index: FTS5 over title, abstract and body (the pages joined), the rowid is the paper's id, with
-- its content (snippet() reads it). Duplicates are never in it.
CREATE VIRTUAL TABLE paper_fts USING fts5(
    title, abstract, body,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- Which papers the index holds, per project: its size, its documents in order (keyword_expand), how
-- many carry page text, and the project of each match, without reading the index's content.
CREATE TABLE paper_index_docs (
    paper_id   INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    has_body   INTEGER NOT NULL
);
CREATE INDEX paper_index_docs_project ON paper_index_docs (project_id, paper_id);
CREATE INDEX paper_index_docs_with_body ON paper_index_docs (project_id) WHERE has_body;
