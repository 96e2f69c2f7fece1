-- The canonical PostgreSQL schema of the papers library: what its migrations, applied in order after
-- the task store's, produce (tests/papers/test_repository_schema.py compares the catalogs). Change it
-- only by adding a migration, then update this file to match.

-- Identifiers are normalised (taskapi.papers.records) and NOT unique: real exports share one DOI among
-- a supplement's many abstracts. duplicate_of points at the canonical paper once dedup merged a copy.
CREATE TABLE papers (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id     BIGINT      NOT NULL,
    title          TEXT,
    abstract       TEXT,
    authors        JSONB       NOT NULL DEFAULT '[]',  -- list of display names
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
    sources        JSONB       NOT NULL DEFAULT '[]',  -- where it was found
    pdf_candidates JSONB       NOT NULL DEFAULT '[]',  -- URLs, best first
    duplicate_of   BIGINT      REFERENCES papers (id),
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- The list, newest first, per project (duplicates hidden by default, or shown) and across projects.
CREATE INDEX papers_project_created ON papers (project_id, created_at DESC, id DESC);
CREATE INDEX papers_project_canonical_created ON papers (project_id, created_at DESC, id DESC)
    WHERE duplicate_of IS NULL;
CREATE INDEX papers_created ON papers (created_at DESC, id DESC);
-- dedup, crawl and the count read a project's non-duplicates in id order.
CREATE INDEX papers_project_canonical ON papers (project_id, id) WHERE duplicate_of IS NULL;
-- The upsert looks a batch's identifiers up per project, one indexed ANY(array) per identifier.
CREATE INDEX papers_project_doi ON papers (project_id, doi) WHERE doi IS NOT NULL;
CREATE INDEX papers_project_arxiv_id ON papers (project_id, arxiv_id) WHERE arxiv_id IS NOT NULL;
CREATE INDEX papers_project_s2_id ON papers (project_id, s2_id) WHERE s2_id IS NOT NULL;
CREATE INDEX papers_project_openalex_id ON papers (project_id, openalex_id) WHERE openalex_id IS NOT NULL;
CREATE INDEX papers_project_pmid ON papers (project_id, pmid) WHERE pmid IS NOT NULL;
-- A paper that becomes a duplicate hands its own duplicates to its canonical (no chains).
CREATE INDEX papers_duplicate_of ON papers (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- A paper's stored PDF (at most one): where in the file store, its digest and where it came from.
CREATE TABLE paper_files (
    paper_id     BIGINT      PRIMARY KEY REFERENCES papers (id),
    sha256       TEXT        NOT NULL,
    bytes        BIGINT      NOT NULL,
    url          TEXT,
    content_type TEXT        NOT NULL,
    path         TEXT        NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL
);

-- The next moment a request to a source (or host) may be sent, shared by every worker and host of the
-- database (the database clock decides).
CREATE TABLE source_pacing (
    key     TEXT        PRIMARY KEY,
    next_at TIMESTAMPTZ NOT NULL
);
