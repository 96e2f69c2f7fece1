-- The papers library: one row per paper of a project, its stored PDF, and the shared pacing of the
-- sources. Times are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffff' (sorts as it reads); lists are JSON text.

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
