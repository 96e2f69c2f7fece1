-- Page texts (ocr) and the full-text index (index) of the papers library.

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
CREATE INDEX paper_search_project ON paper_search (project_id, paper_id);
-- documents_with_fulltext counts these without reading the vectors.
CREATE INDEX paper_search_with_body ON paper_search (project_id) WHERE has_body;

-- Every paper that exists before this migration waits for the first index run.
INSERT INTO paper_index_queue (paper_id, project_id, seq)
SELECT id, project_id, nextval('paper_index_seq') FROM papers;
