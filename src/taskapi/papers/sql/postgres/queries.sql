-- Named queries of the papers library on PostgreSQL. Each starts with "-- name: NAME"; the SQLite file
-- defines the same names ("postgres.*" names are private to this dialect). Fragments named
-- "paper_list.*" are the optional filters of paper_list. Placeholders are psycopg's %(name)s, every
-- one cast; a batch of rows comes as one jsonb parameter (jsonb_to_recordset), a list of values as an
-- array. Times come from the database clock, one value per statement (statement_timestamp()).

-- name: papers_fence
-- First statement of a fenced write. FOR SHARE: a concurrent cancel or rescue (an UPDATE of this row)
-- waits for this transaction's commit, or this read waits for it and then finds no row.
SELECT 1 AS held FROM tasks
WHERE id = %(task_id)s::bigint AND attempt = %(attempt)s::int AND status = 'running'
FOR SHARE

-- name: papers_lock_project
-- Writers of one project's library queue here (held until commit), so two imports of the same work
-- cannot both create it: identifiers are not unique, nothing else would stop them.
SELECT pg_advisory_xact_lock(hashtextextended('taskapi.papers', %(project_id)s::bigint))

-- name: paper_match
-- Papers of the project carrying any of a batch's identifiers, each once: one indexed = ANY(array) per
-- identifier (the ids only), then the rows by id.
SELECT * FROM papers WHERE id IN (
    SELECT id FROM papers WHERE project_id = %(project_id)s::bigint AND doi = ANY(%(doi)s::text[])
    UNION
    SELECT id FROM papers WHERE project_id = %(project_id)s::bigint AND arxiv_id = ANY(%(arxiv_id)s::text[])
    UNION
    SELECT id FROM papers WHERE project_id = %(project_id)s::bigint AND s2_id = ANY(%(s2_id)s::text[])
    UNION
    SELECT id FROM papers
    WHERE project_id = %(project_id)s::bigint AND openalex_id = ANY(%(openalex_id)s::text[])
    UNION
    SELECT id FROM papers WHERE project_id = %(project_id)s::bigint AND pmid = ANY(%(pmid)s::text[])
)

-- name: paper_get_many
SELECT * FROM papers WHERE id = ANY(%(ids)s::bigint[])

-- name: paper_insert
-- A batch in one statement; ids come from the identity in the order of "position" (the caller sorts
-- the returned ids to map them back).
INSERT INTO papers (
    project_id, title, abstract, authors, year, venue, volume, issue, pages, doi, arxiv_id, s2_id,
    openalex_id, pmid, pdf_url, oa_status, sources, pdf_candidates, duplicate_of, created_at, updated_at
)
SELECT %(project_id)s::bigint, r.title, r.abstract, r.authors, r.year, r.venue, r.volume, r.issue, r.pages,
       r.doi, r.arxiv_id, r.s2_id, r.openalex_id, r.pmid, r.pdf_url, r.oa_status, r.sources,
       r.pdf_candidates, r.duplicate_of, statement_timestamp(), statement_timestamp()
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (
    position int, title text, abstract text, authors jsonb, year int, venue text, volume text, issue text,
    pages text, doi text, arxiv_id text, s2_id text, openalex_id text, pmid text, pdf_url text,
    oa_status text, sources jsonb, pdf_candidates jsonb, duplicate_of bigint
)
ORDER BY r.position
RETURNING id

-- name: paper_update
-- A batch of changed papers in one statement (every mutable column).
UPDATE papers AS p
SET title = r.title, abstract = r.abstract, authors = r.authors, year = r.year, venue = r.venue,
    volume = r.volume, issue = r.issue, pages = r.pages, doi = r.doi, arxiv_id = r.arxiv_id,
    s2_id = r.s2_id, openalex_id = r.openalex_id, pmid = r.pmid, pdf_url = r.pdf_url,
    oa_status = r.oa_status, sources = r.sources, pdf_candidates = r.pdf_candidates,
    duplicate_of = r.duplicate_of, updated_at = statement_timestamp()
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (
    id bigint, title text, abstract text, authors jsonb, year int, venue text, volume text, issue text,
    pages text, doi text, arxiv_id text, s2_id text, openalex_id text, pmid text, pdf_url text,
    oa_status text, sources jsonb, pdf_candidates jsonb, duplicate_of bigint
)
WHERE p.id = r.id

-- name: paper_repoint_duplicates
-- %(pairs)s is a JSON list of [duplicate, canonical]: the duplicates of a paper that has just become a
-- duplicate itself now point at its canonical (except papers the same pairs move themselves).
WITH m AS (
    SELECT (pair ->> 0)::bigint AS duplicate, (pair ->> 1)::bigint AS canonical
    FROM jsonb_array_elements(%(pairs)s::jsonb) AS pair
)
UPDATE papers AS p
SET duplicate_of = m.canonical, updated_at = statement_timestamp()
FROM m
WHERE p.duplicate_of = m.duplicate AND p.id NOT IN (SELECT duplicate FROM m)
RETURNING p.id

-- name: paper_get
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.id = %(id)s::bigint

-- name: paper_list
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE {filters}
ORDER BY p.created_at DESC, p.id DESC
LIMIT %(limit)s::int

-- name: paper_list.project_id
p.project_id = %(project_id)s::bigint

-- name: paper_list.canonical
p.duplicate_of IS NULL

-- name: paper_list.after
(p.created_at, p.id) < (%(after_created_at)s::timestamptz, %(after_id)s::bigint)

-- name: papers_for_dedup
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.project_id = %(project_id)s::bigint AND p.duplicate_of IS NULL
ORDER BY p.id

-- name: crawl_candidates
-- Every non-duplicate paper of the project without a file (all of them when overwrite), by id.
SELECT p.id, p.doi, p.arxiv_id, p.pdf_url, p.pdf_candidates
FROM papers AS p
WHERE p.project_id = %(project_id)s::bigint AND p.duplicate_of IS NULL
  AND (%(overwrite)s::boolean OR NOT EXISTS (SELECT 1 FROM paper_files AS f WHERE f.paper_id = p.id))
ORDER BY p.id
LIMIT %(limit)s::int

-- name: crawl_candidates_of
-- The papers named (duplicates too: the caller asked for them) of the project, without a file unless
-- overwrite; the caller keeps its own order.
SELECT p.id, p.doi, p.arxiv_id, p.pdf_url, p.pdf_candidates
FROM papers AS p
WHERE p.id = ANY(%(ids)s::bigint[]) AND p.project_id = %(project_id)s::bigint
  AND (%(overwrite)s::boolean OR NOT EXISTS (SELECT 1 FROM paper_files AS f WHERE f.paper_id = p.id))

-- name: file_upsert
-- One row per paper: a new fetch replaces the old record. No row when the paper does not exist.
INSERT INTO paper_files (paper_id, sha256, bytes, url, content_type, path, fetched_at)
SELECT id, %(sha256)s::text, %(bytes)s::bigint, %(url)s::text, %(content_type)s::text, %(path)s::text,
       %(fetched_at)s::timestamptz
FROM papers WHERE id = %(paper_id)s::bigint
ON CONFLICT (paper_id) DO UPDATE
SET sha256 = excluded.sha256, bytes = excluded.bytes, url = excluded.url,
    content_type = excluded.content_type, path = excluded.path, fetched_at = excluded.fetched_at

-- name: pace_reserve
-- One statement: slot = greatest(next_at, now); next_at = slot + interval; answer slot - now (>= 0).
-- The row lock of ON CONFLICT serialises concurrent reservers; clock_timestamp() is read after it.
INSERT INTO source_pacing AS s (key, next_at)
VALUES (%(key)s::text, clock_timestamp() + make_interval(secs => %(interval)s::float8))
ON CONFLICT (key) DO UPDATE
SET next_at = greatest(s.next_at, clock_timestamp()) + make_interval(secs => %(interval)s::float8)
RETURNING greatest(extract(epoch FROM s.next_at - clock_timestamp())::float8 - %(interval)s::float8, 0)
    AS wait

-- name: pace_push
-- Nobody sends before now + seconds (a 429); a later next_at already set stays.
INSERT INTO source_pacing AS s (key, next_at)
VALUES (%(key)s::text, clock_timestamp() + make_interval(secs => %(seconds)s::float8))
ON CONFLICT (key) DO UPDATE SET next_at = greatest(s.next_at, excluded.next_at)

-- name: project_count
-- Covered by papers_project_canonical.
SELECT count(*) AS n FROM papers WHERE project_id = %(project_id)s::bigint AND duplicate_of IS NULL

-- name: project_count_all
SELECT count(*) AS n FROM papers WHERE project_id = %(project_id)s::bigint

-- name: ocr_targets
-- Every non-duplicate paper of the project with a stored PDF and no text yet, by id.
SELECT p.id AS paper_id, f.sha256, f.path
FROM papers AS p JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.project_id = %(project_id)s::bigint AND p.duplicate_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM paper_texts AS t WHERE t.paper_id = p.id)
ORDER BY p.id
LIMIT %(limit)s::bigint

-- name: ocr_targets_of
-- The papers named (duplicates too: the caller asked for them) of the project that have a stored PDF,
-- text or not; the caller keeps its own order.
SELECT p.id AS paper_id, f.sha256, f.path
FROM papers AS p JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.id = ANY(%(ids)s::bigint[]) AND p.project_id = %(project_id)s::bigint

-- name: text_enqueue
-- A paper's text changed: the index must visit it (no row when the paper does not exist).
INSERT INTO paper_index_queue (paper_id, project_id, seq)
SELECT id, project_id, nextval('paper_index_seq') FROM papers WHERE id = %(paper_id)s::bigint
ON CONFLICT (paper_id) DO UPDATE SET project_id = excluded.project_id, seq = excluded.seq

-- name: text_delete
DELETE FROM paper_texts WHERE paper_id = %(paper_id)s::bigint

-- name: text_insert
-- Run with executemany, one parameter set per page.
INSERT INTO paper_texts (paper_id, page, text, engine, confidence)
VALUES (%(paper_id)s::bigint, %(page)s::int, %(text)s::text, %(engine)s::text, %(confidence)s::float8)

-- name: text_pages
SELECT page, text, engine, confidence FROM paper_texts WHERE paper_id = %(paper_id)s::bigint ORDER BY page

-- name: text_summary
SELECT engine, count(*) AS pages, sum(length(text)) AS chars
FROM paper_texts WHERE paper_id = %(paper_id)s::bigint GROUP BY engine

-- name: index_enqueue_project
-- rebuild: every paper of the project, and every document the index holds for it, waits for a visit.
INSERT INTO paper_index_queue (paper_id, project_id, seq)
SELECT id, project_id, nextval('paper_index_seq')
FROM (
    SELECT id, project_id FROM papers WHERE project_id = %(project_id)s::bigint
    UNION
    SELECT paper_id, project_id FROM paper_search WHERE project_id = %(project_id)s::bigint
) AS everything
ON CONFLICT (paper_id) DO UPDATE SET project_id = excluded.project_id, seq = excluded.seq

-- name: index_pending
SELECT count(*) AS n FROM paper_index_queue WHERE project_id = %(project_id)s::bigint

-- name: index_queue_batch
-- The next papers to visit, with the seq each was read at and the size of its text (the caller cuts the
-- batch where the text to index grows too large for one short transaction; octet_length reads no TOAST).
SELECT q.paper_id, q.seq,
       (SELECT coalesce(sum(octet_length(t.text)), 0) FROM paper_texts AS t WHERE t.paper_id = q.paper_id)
           AS chars
FROM paper_index_queue AS q
WHERE q.project_id = %(project_id)s::bigint AND q.paper_id > %(after_id)s::bigint
ORDER BY q.paper_id
LIMIT %(limit)s::int

-- name: index_remove
-- Documents of the batch that must leave the index (a duplicate now, or gone): answer their ids. The
-- batch's papers are looked up by id (unnest drives the join), never by walking the project.
DELETE FROM paper_search AS s
USING (
    SELECT u.id FROM unnest(%(ids)s::bigint[]) AS u (id)
    LEFT JOIN papers AS p ON p.id = u.id
    WHERE (p.project_id = %(project_id)s::bigint AND p.duplicate_of IS NULL) IS NOT TRUE
) AS gone
WHERE s.paper_id = gone.id
RETURNING s.paper_id

-- name: index_write
-- The batch's non-duplicate papers of the project, (re)indexed: the weighted vector of title, abstract
-- and their pages joined in page order (bounded). Looked up by id (unnest drives the join). Answer
-- their ids.
INSERT INTO paper_search AS s (paper_id, project_id, has_body, document)
SELECT p.id, p.project_id, coalesce(b.body, '') <> '',
       paper_document(coalesce(p.title, ''), coalesce(p.abstract, ''), coalesce(left(b.body, %(max_body)s::int), ''))
FROM unnest(%(ids)s::bigint[]) AS u (id)
JOIN papers AS p ON p.id = u.id
LEFT JOIN LATERAL (
    SELECT string_agg(t.text, E'\n\n' ORDER BY t.page) AS body FROM paper_texts AS t WHERE t.paper_id = p.id
) AS b ON true
-- "IS TRUE" makes the filter unindexable on purpose: the batch is looked up by id, never by walking the
-- project's index (which stale statistics after a large import would pick).
WHERE (p.project_id = %(project_id)s::bigint AND p.duplicate_of IS NULL) IS TRUE
ON CONFLICT (paper_id) DO UPDATE
SET project_id = excluded.project_id, has_body = excluded.has_body, document = excluded.document
RETURNING s.paper_id

-- name: index_dequeue
-- %(done)s is a JSON list of [paper_id, seq] read by this run: an entry changed since stays queued.
DELETE FROM paper_index_queue AS q
USING jsonb_array_elements(%(done)s::jsonb) AS d (pair)
WHERE q.paper_id = (d.pair ->> 0)::bigint AND q.seq = (d.pair ->> 1)::bigint

-- name: index_size
SELECT count(*) AS n FROM paper_search WHERE project_id = %(project_id)s::bigint

-- name: postgres.index_flush
-- Move the GIN indexes' pending entries (fastupdate: written fast, but every search scans them all)
-- into the indexes proper, once a run has written its documents, rather than when autovacuum comes by.
SELECT gin_clean_pending_list('paper_search_document'::regclass) AS document,
       gin_clean_pending_list('paper_search_titles'::regclass) AS titles

-- name: index_with_body
SELECT count(*) AS n FROM paper_search WHERE project_id = %(project_id)s::bigint AND has_body

-- name: search
-- ts_rank_cd weighs title (A) 1.0, abstract (B) 0.4, body (C) 0.2, over a bounded set of candidates:
-- the matches whose title has the positive query (up to :title_candidates, found by the index on the
-- titles) and the first :candidates matches in the table's order; a query matching no more than
-- :candidates papers is ranked exactly. Each candidate's vector is read once (the score goes with it).
-- A query whose required words the configuration all drops (stopwords) finds nothing: "!x" alone
-- would match nearly everything. The project is a filter of the matches ("IS TRUE": never an index
-- walk over the whole project).
WITH candidates AS (
    (SELECT s.paper_id, ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', s.document, q.query) AS score
     FROM paper_search AS s, to_tsquery('taskapi_english', %(match)s::text) AS q (query)
     WHERE ts_filter(s.document, '{a}') @@ to_tsquery('taskapi_english', %(positive)s::text)
       AND (s.document @@ q.query) IS TRUE
       AND (%(project_id)s::bigint IS NULL OR s.project_id = %(project_id)s::bigint) IS TRUE
     LIMIT %(title_candidates)s::int)
    UNION ALL
    (SELECT s.paper_id, ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', s.document, q.query) AS score
     FROM paper_search AS s, to_tsquery('taskapi_english', %(match)s::text) AS q (query)
     WHERE s.document @@ q.query
       AND (%(project_id)s::bigint IS NULL OR s.project_id = %(project_id)s::bigint) IS TRUE
     LIMIT %(candidates)s::int)
)
SELECT paper_id, max(score) AS score
FROM candidates
WHERE numnode(to_tsquery('taskapi_english', %(positive)s::text)) > 0
GROUP BY paper_id
ORDER BY score DESC, paper_id
LIMIT %(limit)s::int OFFSET %(offset)s::int

-- name: postgres.search_snippets
-- The best passage of each hit of a page, from its title, abstract and the start of its text.
SELECT p.id AS paper_id,
       ts_headline('taskapi_english', concat_ws(E'\n', p.title, p.abstract, b.body), q.query,
                   %(headline_options)s::text) AS snippet
FROM papers AS p
CROSS JOIN to_tsquery('taskapi_english', %(match)s::text) AS q (query)
LEFT JOIN LATERAL (
    SELECT left(string_agg(t.text, E'\n\n' ORDER BY t.page), %(headline_chars)s::int) AS body
    FROM paper_texts AS t WHERE t.paper_id = p.id AND t.page <= %(headline_pages)s::int
) AS b ON true
WHERE p.id = ANY(%(ids)s::bigint[])

-- name: index_documents
-- The project's indexed documents in id order, after after_id, with their texts (bounded bodies).
SELECT s.paper_id, coalesce(p.title, '') AS title, coalesce(p.abstract, '') AS abstract,
       coalesce(b.body, '') AS body
FROM paper_search AS s
JOIN papers AS p ON p.id = s.paper_id
LEFT JOIN LATERAL (
    SELECT left(string_agg(t.text, E'\n\n' ORDER BY t.page), %(body_chars)s::int) AS body
    FROM paper_texts AS t WHERE t.paper_id = s.paper_id AND s.has_body
) AS b ON true
WHERE s.project_id = %(project_id)s::bigint AND s.paper_id > %(after_id)s::bigint
ORDER BY s.paper_id
LIMIT %(limit)s::int

-- name: index_documents_of
SELECT s.paper_id, coalesce(p.title, '') AS title, coalesce(p.abstract, '') AS abstract,
       coalesce(b.body, '') AS body
FROM paper_search AS s
JOIN papers AS p ON p.id = s.paper_id
LEFT JOIN LATERAL (
    SELECT left(string_agg(t.text, E'\n\n' ORDER BY t.page), %(body_chars)s::int) AS body
    FROM paper_texts AS t WHERE t.paper_id = s.paper_id AND s.has_body
) AS b ON true
WHERE s.paper_id = ANY(%(ids)s::bigint[])

-- name: paper_get_listed
-- Papers with their files, by id (the hits of a search).
SELECT p.*, f.sha256 AS file_sha256, f.bytes AS file_bytes, f.url AS file_url,
       f.content_type AS file_content_type, f.path AS file_path, f.fetched_at AS file_fetched_at
FROM papers AS p LEFT JOIN paper_files AS f ON f.paper_id = p.id
WHERE p.id = ANY(%(ids)s::bigint[])
