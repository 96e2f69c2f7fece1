-- Named queries of the papers library on SQLite. Each starts with "-- name: NAME"; the PostgreSQL file
-- defines the same names ("sqlite.*" names are private to this dialect). Fragments named
-- "paper_list.*" are the optional filters of paper_list. Lists of values come as one JSON text
-- parameter (json_each); times as UTC text from the host clock (:now), one writer at a time.

-- name: papers_fence
-- First statement of a fenced write, inside its BEGIN IMMEDIATE transaction: no other writer can
-- cancel or rescue the task until this transaction ends, so a row here holds until the commit.
SELECT 1 AS held FROM tasks WHERE id = :task_id AND attempt = :attempt AND status = 'running'

-- name: papers_lock_project
-- BEGIN IMMEDIATE already made this transaction the only writer: nothing more to lock.
SELECT 1 AS locked

-- name: paper_match
-- Papers of the project carrying any of a batch's identifiers, each once: one indexed IN list per
-- identifier (the ids only, from the index), then the rows by id.
SELECT * FROM papers WHERE id IN (
    SELECT id FROM papers WHERE project_id = :project_id AND doi IN (SELECT value FROM json_each(:doi))
    UNION
    SELECT id FROM papers
    WHERE project_id = :project_id AND arxiv_id IN (SELECT value FROM json_each(:arxiv_id))
    UNION
    SELECT id FROM papers WHERE project_id = :project_id AND s2_id IN (SELECT value FROM json_each(:s2_id))
    UNION
    SELECT id FROM papers
    WHERE project_id = :project_id AND openalex_id IN (SELECT value FROM json_each(:openalex_id))
    UNION
    SELECT id FROM papers WHERE project_id = :project_id AND pmid IN (SELECT value FROM json_each(:pmid))
)

-- name: paper_get_many
SELECT * FROM papers WHERE id IN (SELECT value FROM json_each(:ids))

-- name: sqlite.paper_id_seen
-- The largest id ever given (AUTOINCREMENT): an executemany of paper_insert in the same write
-- transaction gives its rows the ids right above it, in order.
SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'papers'), 0) AS seen

-- name: paper_insert
-- Run with executemany, one parameter set per new paper.
INSERT INTO papers (
    project_id, title, abstract, authors, year, venue, volume, issue, pages, doi, arxiv_id, s2_id,
    openalex_id, pmid, pdf_url, oa_status, sources, pdf_candidates, duplicate_of, created_at, updated_at
) VALUES (
    :project_id, :title, :abstract, :authors, :year, :venue, :volume, :issue, :pages, :doi, :arxiv_id, :s2_id,
    :openalex_id, :pmid, :pdf_url, :oa_status, :sources, :pdf_candidates, :duplicate_of, :now, :now
)

-- name: paper_update
-- Run with executemany, one parameter set per changed paper (every mutable column).
UPDATE papers
SET title = :title, abstract = :abstract, authors = :authors, year = :year, venue = :venue,
    volume = :volume, issue = :issue, pages = :pages, doi = :doi, arxiv_id = :arxiv_id, s2_id = :s2_id,
    openalex_id = :openalex_id, pmid = :pmid, pdf_url = :pdf_url, oa_status = :oa_status,
    sources = :sources, pdf_candidates = :pdf_candidates, duplicate_of = :duplicate_of, updated_at = :now
WHERE id = :id

-- name: paper_repoint_duplicates
-- :pairs is a JSON list of [duplicate, canonical]: the duplicates of a paper that has just become a
-- duplicate itself now point at its canonical (except papers the same pairs move themselves).
UPDATE papers
SET duplicate_of = json_extract(m.value, '$[1]'), updated_at = :now
FROM json_each(:pairs) AS m
WHERE papers.duplicate_of = json_extract(m.value, '$[0]')
  AND papers.id NOT IN (SELECT json_extract(value, '$[0]') FROM json_each(:pairs))
RETURNING papers.id

-- name: paper_get
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.id = :id

-- name: paper_list
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE {filters}
ORDER BY p.created_at DESC, p.id DESC
LIMIT :limit

-- name: paper_list.project_id
p.project_id = :project_id

-- name: paper_list.canonical
p.duplicate_of IS NULL

-- name: paper_list.after
(p.created_at, p.id) < (:after_created_at, :after_id)

-- name: papers_for_dedup
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.project_id = :project_id AND p.duplicate_of IS NULL
ORDER BY p.id

-- name: crawl_candidates
-- Every non-duplicate paper of the project without a file (all of them when :overwrite), by id.
SELECT p.id, p.doi, p.arxiv_id, p.pdf_url, p.pdf_candidates
FROM papers AS p
WHERE p.project_id = :project_id AND p.duplicate_of IS NULL
  AND (:overwrite OR NOT EXISTS (SELECT 1 FROM paper_files AS f WHERE f.paper_id = p.id))
ORDER BY p.id
LIMIT :limit

-- name: crawl_candidates_of
-- The papers named (duplicates too: the caller asked for them) of the project, without a file unless
-- :overwrite; the caller keeps its own order. "+p.project_id": look the ids up by rowid, never walk the
-- project's index.
SELECT p.id, p.doi, p.arxiv_id, p.pdf_url, p.pdf_candidates
FROM papers AS p
WHERE p.id IN (SELECT value FROM json_each(:ids)) AND +p.project_id = :project_id
  AND (:overwrite OR NOT EXISTS (SELECT 1 FROM paper_files AS f WHERE f.paper_id = p.id))

-- name: file_upsert
-- One row per paper: a new fetch replaces the old record. No row when the paper does not exist.
INSERT INTO paper_files (paper_id, sha256, bytes, url, content_type, path, fetched_at)
SELECT id, :sha256, :bytes, :url, :content_type, :path, :fetched_at FROM papers WHERE id = :paper_id
ON CONFLICT (paper_id) DO UPDATE
SET sha256 = excluded.sha256, bytes = excluded.bytes, url = excluded.url,
    content_type = excluded.content_type, path = excluded.path, fetched_at = excluded.fetched_at

-- name: pace_reserve
-- One statement: slot = max(next_at, now); next_at = slot + interval; answer slot - now (>= 0).
INSERT INTO source_pacing (key, next_at) VALUES (:key, :now + :interval)
ON CONFLICT (key) DO UPDATE SET next_at = max(next_at, :now) + :interval
RETURNING max(next_at - :interval - :now, 0.0) AS wait

-- name: pace_push
-- Nobody sends before now + :seconds (a 429); a later next_at already set stays.
INSERT INTO source_pacing (key, next_at) VALUES (:key, :now + :seconds)
ON CONFLICT (key) DO UPDATE SET next_at = max(next_at, excluded.next_at)

-- name: project_count
-- Covered by papers_project_canonical.
SELECT count(*) AS n FROM papers WHERE project_id = :project_id AND duplicate_of IS NULL

-- name: project_count_all
SELECT count(*) AS n FROM papers WHERE project_id = :project_id

-- name: ocr_targets
-- Every non-duplicate paper of the project with a stored PDF and no text yet, by id.
SELECT p.id AS paper_id, f.sha256, f.path
FROM papers AS p JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.project_id = :project_id AND p.duplicate_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM paper_texts AS t WHERE t.paper_id = p.id)
ORDER BY p.id
LIMIT :limit

-- name: ocr_targets_of
-- The papers named (duplicates too: the caller asked for them) of the project that have a stored PDF,
-- text or not; the caller keeps its own order.
SELECT p.id AS paper_id, f.sha256, f.path
FROM papers AS p JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.id IN (SELECT value FROM json_each(:ids)) AND +p.project_id = :project_id

-- name: text_enqueue
-- A paper's text changed: the index must visit it (no row when the paper does not exist).
INSERT OR REPLACE INTO paper_index_queue (paper_id, project_id, seq)
SELECT id, project_id, (SELECT coalesce(max(seq), 0) + 1 FROM paper_index_queue) FROM papers WHERE id = :paper_id

-- name: text_delete
DELETE FROM paper_texts WHERE paper_id = :paper_id

-- name: text_insert
-- Run with executemany, one parameter set per page.
INSERT INTO paper_texts (paper_id, page, text, engine, confidence)
VALUES (:paper_id, :page, :text, :engine, :confidence)

-- name: text_pages
SELECT page, text, engine, confidence FROM paper_texts WHERE paper_id = :paper_id ORDER BY page

-- name: text_summary
SELECT engine, count(*) AS pages, sum(length(text)) AS chars
FROM paper_texts WHERE paper_id = :paper_id GROUP BY engine

-- name: index_enqueue_project
-- rebuild: every paper of the project, and every document the index holds for it, waits for a visit.
INSERT OR REPLACE INTO paper_index_queue (paper_id, project_id, seq)
SELECT id, project_id, (SELECT coalesce(max(seq), 0) FROM paper_index_queue) + row_number() OVER (ORDER BY id)
FROM (
    SELECT id, project_id FROM papers WHERE project_id = :project_id
    UNION
    SELECT paper_id, project_id FROM paper_index_docs WHERE project_id = :project_id
)

-- name: index_pending
SELECT count(*) AS n FROM paper_index_queue WHERE project_id = :project_id

-- name: index_queue_batch
-- The next papers to visit, with the seq each was read at and the size of its text (the caller cuts the
-- batch where the text to index grows too large for one short transaction).
SELECT q.paper_id, q.seq,
       (SELECT coalesce(sum(length(t.text)), 0) FROM paper_texts AS t WHERE t.paper_id = q.paper_id) AS chars
FROM paper_index_queue AS q
WHERE q.project_id = :project_id AND q.paper_id > :after_id
ORDER BY q.paper_id
LIMIT :limit

-- name: index_remove
-- Documents of the batch that must leave the index (a duplicate now, or gone): answer their ids.
DELETE FROM paper_index_docs
WHERE paper_id IN (SELECT value FROM json_each(:ids))
  AND paper_id NOT IN (
      SELECT id FROM papers
      WHERE id IN (SELECT value FROM json_each(:ids)) AND +project_id = :project_id AND duplicate_of IS NULL
  )
RETURNING paper_id

-- name: sqlite.index_fts_delete
DELETE FROM paper_fts WHERE rowid IN (SELECT value FROM json_each(:ids))

-- name: sqlite.index_fts_write
-- The batch's non-duplicate papers of the project: title, abstract, their pages joined in page order
-- (bounded).
INSERT INTO paper_fts (rowid, title, abstract, body)
SELECT p.id, coalesce(p.title, ''), coalesce(p.abstract, ''),
       coalesce(substr((
           SELECT group_concat(text, char(10, 10))
           FROM (SELECT t.text FROM paper_texts AS t WHERE t.paper_id = p.id ORDER BY t.page)
       ), 1, :max_body), '')
FROM papers AS p
WHERE p.id IN (SELECT value FROM json_each(:ids)) AND +p.project_id = :project_id AND p.duplicate_of IS NULL

-- name: index_write
-- The batch's documents as the index now holds them: answer their ids and whether each has a body.
INSERT OR REPLACE INTO paper_index_docs (paper_id, project_id, has_body)
SELECT p.id, p.project_id, EXISTS (SELECT 1 FROM paper_texts AS t WHERE t.paper_id = p.id AND t.text != '')
FROM papers AS p
WHERE p.id IN (SELECT value FROM json_each(:ids)) AND +p.project_id = :project_id AND p.duplicate_of IS NULL
RETURNING paper_id

-- name: index_dequeue
-- :done is a JSON list of [paper_id, seq] read by this run: an entry changed since stays queued.
DELETE FROM paper_index_queue
WHERE paper_id IN (SELECT json_extract(value, '$[0]') FROM json_each(:done))
  AND (paper_id, seq) IN (
      SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:done)
  )

-- name: index_size
SELECT count(*) AS n FROM paper_index_docs WHERE project_id = :project_id

-- name: index_with_body
SELECT count(*) AS n FROM paper_index_docs WHERE project_id = :project_id AND has_body

-- name: sqlite.index_shared
-- Whether the index holds documents of another project than this one (else a search needs no filter).
SELECT EXISTS (SELECT 1 FROM paper_index_docs WHERE project_id < :project_id)
    OR EXISTS (SELECT 1 FROM paper_index_docs WHERE project_id > :project_id) AS shared

-- name: search
-- :match is the rendered query. "ORDER BY rank" with bm25 weighing title 10, abstract 4, body 1 (smaller
-- is better: the score is its negation) is sorted by FTS5 itself, so snippet() runs for the rows of the
-- page only. :scoped = 1 keeps the project's documents only (the index holds others too). FTS5 walks
-- the matches up to id :bound only (a broad query's bounded candidates, see _index).
SELECT rowid AS paper_id, -rank AS score, snippet(paper_fts, -1, :open, :close, :ellipsis, :tokens) AS snippet
FROM paper_fts
WHERE paper_fts MATCH :match AND rank MATCH 'bm25(10.0, 4.0, 1.0)' AND rowid <= :bound
  AND (:scoped = 0 OR EXISTS (
      SELECT 1 FROM paper_index_docs AS d WHERE d.paper_id = paper_fts.rowid AND d.project_id = :project_id
  ))
ORDER BY rank
LIMIT :limit OFFSET :offset

-- name: sqlite.search_bound
-- The id of the match after the first :candidates (FTS5 walks them in id order, reading doclists only,
-- no ranking): none when the query matches no more than that.
SELECT rowid AS paper_id FROM paper_fts WHERE paper_fts MATCH :match LIMIT 1 OFFSET :candidates

-- name: index_documents
-- The project's indexed documents in id order, after :after_id.
SELECT d.paper_id, f.title, f.abstract, substr(f.body, 1, :body_chars) AS body
FROM paper_index_docs AS d JOIN paper_fts AS f ON f.rowid = d.paper_id
WHERE d.project_id = :project_id AND d.paper_id > :after_id
ORDER BY d.paper_id
LIMIT :limit

-- name: index_documents_of
SELECT rowid AS paper_id, title, abstract, substr(body, 1, :body_chars) AS body
FROM paper_fts WHERE rowid IN (SELECT value FROM json_each(:ids))

-- name: paper_get_listed
-- Papers with their files, by id (the hits of a search).
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.id IN (SELECT value FROM json_each(:ids))
