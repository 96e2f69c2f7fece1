-- Page texts (ocr) and the full-text index (index) of the papers library.

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

-- Every paper that exists before this migration waits for the first index run.
INSERT INTO paper_index_queue (paper_id, project_id, seq) SELECT id, project_id, id FROM papers;
