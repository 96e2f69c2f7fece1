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

-- A paper's extracted text, one row per page (pages count from 1): the engine that produced it and,
-- for an OCR page, Tesseract's mean word confidence. ocr replaces a paper's pages as a whole.
CREATE TABLE paper_texts (
    paper_id   BIGINT  NOT NULL REFERENCES papers (id),
    page       INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    engine     TEXT    NOT NULL,
    confidence DOUBLE PRECISION,
    PRIMARY KEY (paper_id, page)
);

-- The papers the index has to visit: a row per paper changed since the index last saw it (its title,
-- abstract, duplicate_of or text). seq is drawn from a sequence at every change of the row, so an index
-- run removes only the entries it has read (WHERE seq = the one read): a change committed meanwhile,
-- however late its transaction commits, stays queued. Written by the trigger below and by text_store.
CREATE SEQUENCE paper_index_seq;
CREATE TABLE paper_index_queue (
    paper_id   BIGINT PRIMARY KEY,
    project_id BIGINT NOT NULL,
    seq        BIGINT NOT NULL
);
CREATE INDEX paper_index_queue_project ON paper_index_queue (project_id, paper_id);

CREATE FUNCTION papers_index_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO paper_index_queue AS q (paper_id, project_id, seq)
    VALUES (NEW.id, NEW.project_id, nextval('paper_index_seq'))
    ON CONFLICT (paper_id) DO UPDATE SET project_id = excluded.project_id, seq = excluded.seq;
    RETURN NULL;
END
$$;

CREATE TRIGGER papers_index_on_insert AFTER INSERT ON papers
FOR EACH ROW EXECUTE FUNCTION papers_index_enqueue();

CREATE TRIGGER papers_index_on_update AFTER UPDATE OF title, abstract, duplicate_of, project_id ON papers
FOR EACH ROW
WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.abstract IS DISTINCT FROM NEW.abstract
      OR OLD.duplicate_of IS DISTINCT FROM NEW.duplicate_of OR OLD.project_id IS DISTINCT FROM NEW.project_id)
EXECUTE FUNCTION papers_index_enqueue();

-- English stemming with accents folded (Müller finds Muller), as SQLite's remove_diacritics does.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION taskapi_english (COPY = english);
ALTER TEXT SEARCH CONFIGURATION taskapi_english
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;

-- A document's weighted vector: A title, B abstract, C body. A body too rich for one tsvector (over
-- its 1 MB limit: a long book of rare words) is indexed by its first half, then quarter, and so on.
CREATE FUNCTION paper_document(title TEXT, abstract TEXT, body TEXT) RETURNS tsvector
LANGUAGE plpgsql STABLE AS $$
DECLARE
    head tsvector := setweight(to_tsvector('taskapi_english', title), 'A')
        || setweight(to_tsvector('taskapi_english', abstract), 'B');
    kept TEXT := body;
BEGIN
    LOOP
        BEGIN
            RETURN head || setweight(to_tsvector('taskapi_english', kept), 'C');
        EXCEPTION WHEN program_limit_exceeded THEN
            kept := left(kept, length(kept) / 2);
        END;
    END LOOP;
END
$$;

-- The index: one row per indexed paper (never a duplicate), its weighted vector under a GIN index. Kept
-- narrow, the vector stored in the row (STORAGE MAIN) rather than in TOAST, so that checking and
-- ranking a match reads one heap row; the texts stay in papers and paper_texts (ts_headline reads them
-- for a page of hits only).
CREATE TABLE paper_search (
    paper_id   BIGINT   PRIMARY KEY REFERENCES papers (id),
    project_id BIGINT   NOT NULL,
    has_body   BOOLEAN  NOT NULL,
    document   TSVECTOR NOT NULL
);
ALTER TABLE paper_search ALTER COLUMN document SET STORAGE MAIN;
CREATE INDEX paper_search_document ON paper_search USING gin (document);
-- The titles' words on their own: a broad search's title candidates without reading every match.
CREATE INDEX paper_search_titles ON paper_search USING gin (ts_filter(document, '{a}'));
CREATE INDEX paper_search_project ON paper_search (project_id, paper_id);
-- documents_with_fulltext counts these without reading the vectors.
CREATE INDEX paper_search_with_body ON paper_search (project_id) WHERE has_body;
