-- Named queries for the PostgreSQL store. Each starts with "-- name: NAME"; the SQLite file defines
-- the same names. Fragments named "task_list.*" are the optional filters of task_list.
-- Placeholders are psycopg's %(name)s; every one is cast, so that the types (and the plans of prepared
-- statements) do not depend on how the driver guessed a Python value's type.
-- Times come from the database clock (clock_timestamp(): the moment of the write, also after waiting
-- for a row lock), never from the caller's: many hosts share one database and one clock.

-- name: ping
SELECT 1

-- name: data_version
-- Not used by the PostgreSQL store: it is SQLite's cheap "did another process commit?" for pollers,
-- which LISTEN/NOTIFY replaces here. Defined because both dialects define the same names; the nearest
-- equivalent is the next transaction id, which moves whenever any transaction writes.
SELECT pg_snapshot_xmax(pg_current_snapshot())

-- name: migrations_create_table
-- Two statements, run together at the start of migrate()'s transaction. The advisory lock (held until
-- that transaction ends) makes processes that migrate at once (every host of a deploy) queue here;
-- each then sees the versions its predecessors recorded. The key is arbitrary but fixed: "taskapi".
SELECT pg_advisory_xact_lock(7596551045736835689);
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
)

-- name: migrations_applied
SELECT version FROM schema_migrations ORDER BY version

-- name: migration_record
INSERT INTO schema_migrations (version, applied_at) VALUES (%(version)s::text, clock_timestamp())

-- name: task_insert
-- A whole batch in one statement. statement_timestamp() is one value for the statement, so a batch
-- shares one created_at (as in SQLite, ties are broken by id); ids follow the order of the arrays.
-- One NOTIFY per task type (delivered at commit): idle workers of that type wake and claim at once.
WITH inserted AS (
    INSERT INTO tasks (project_id, task_type, params, created_at)
    SELECT n.project_id, n.task_type, n.params, statement_timestamp()
    FROM unnest(%(project_ids)s::bigint[], %(task_types)s::text[], %(params)s::text[]::jsonb[])
         WITH ORDINALITY AS n (project_id, task_type, params, position)
    ORDER BY n.position
    RETURNING *
), announced AS (
    SELECT count(pg_notify('taskapi', json_build_object('kind', 'created', 'task_type', t.task_type)::text))
    FROM (SELECT DISTINCT task_type FROM inserted) AS t
)
SELECT inserted.* FROM inserted CROSS JOIN announced

-- name: task_get
SELECT * FROM tasks WHERE id = %(id)s::bigint

-- name: task_list
SELECT id, project_id, task_type, status, progress, total, created_at
FROM tasks
WHERE {filters}
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s::bigint

-- name: task_list.project_id
project_id = %(project_id)s::bigint

-- name: task_list.status
status = %(status)s::text

-- name: task_list.task_type
task_type = %(task_type)s::text

-- name: task_list.created_after
created_at > %(created_after)s::timestamptz

-- name: task_list.created_before
created_at < %(created_before)s::timestamptz

-- name: task_list.after
(created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::bigint)

-- name: task_cancel
-- The NOTIFY (delivered at commit) tells the worker holding the task, on whatever host, to stop it.
WITH cancelled AS (
    UPDATE tasks
    SET status = 'cancelled', completed_at = clock_timestamp(), lease_expires_at = NULL
    WHERE id = %(id)s::bigint AND status IN ('pending', 'running')
    RETURNING id, worker_id, attempt
)
SELECT id, worker_id, attempt,
       pg_notify('taskapi', json_build_object('kind', 'cancelled', 'task_id', id, 'worker_id', worker_id)::text)
FROM cancelled

-- name: postgres.listen
-- Private to this dialect (names "<dialect>.*" need no twin): SQLite has no notifications.
LISTEN taskapi

-- name: task_claim
-- Oldest first by id, walking tasks_pending_claim and stopping at LIMIT. SKIP LOCKED: workers on other
-- hosts claiming at the same moment take the next rows instead of waiting for (or sharing) these.
WITH picked AS (
    SELECT id FROM tasks
    WHERE status = 'pending' AND task_type = ANY (%(task_types)s::text[])
    ORDER BY id
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
)
UPDATE tasks AS t
SET status = 'running',
    attempt = t.attempt + 1,
    max_attempts = COALESCE((%(max_attempts)s::jsonb ->> t.task_type)::int, t.max_attempts),
    worker_id = %(worker_id)s::text,
    started_at = clock_timestamp(),
    lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s::float8),
    progress = 0
FROM picked
WHERE t.id = picked.id
RETURNING t.*

-- name: task_set_progress
-- A batch of writes in one statement. The rows are locked in id order first (as lease_renew and
-- task_finish lock theirs), so two batches over the same rows queue instead of deadlocking.
WITH w AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(progress)s::bigint[],
                         %(totals)s::bigint[]) AS w (id, attempt, progress, total)
), locked AS (
    SELECT t.id FROM tasks AS t JOIN w ON w.id = t.id AND w.attempt = t.attempt
    WHERE t.status = 'running'
    ORDER BY t.id
    FOR UPDATE OF t
)
UPDATE tasks AS t
SET progress = w.progress, total = w.total,
    lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s::float8)
FROM locked, w
WHERE t.id = locked.id AND w.id = t.id AND w.attempt = t.attempt AND t.status = 'running'
RETURNING t.id, t.attempt

-- name: task_complete
WITH c AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(progress)s::bigint[],
                         %(totals)s::bigint[], %(results)s::text[]::jsonb[])
                  AS c (id, attempt, progress, total, result)
), locked AS (
    SELECT t.id FROM tasks AS t JOIN c ON c.id = t.id AND c.attempt = t.attempt
    WHERE t.status = 'running'
    ORDER BY t.id
    FOR UPDATE OF t
)
UPDATE tasks AS t
SET status = 'completed', result = c.result, progress = c.progress, total = c.total,
    completed_at = clock_timestamp(), lease_expires_at = NULL
FROM locked, c
WHERE t.id = locked.id AND c.id = t.id AND c.attempt = t.attempt AND t.status = 'running'
RETURNING t.id, t.attempt

-- name: task_fail
WITH c AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(progress)s::bigint[],
                         %(totals)s::bigint[], %(error_messages)s::text[])
                  AS c (id, attempt, progress, total, error_message)
), locked AS (
    SELECT t.id FROM tasks AS t JOIN c ON c.id = t.id AND c.attempt = t.attempt
    WHERE t.status = 'running'
    ORDER BY t.id
    FOR UPDATE OF t
)
UPDATE tasks AS t
SET status = 'failed', error_message = c.error_message, progress = c.progress, total = c.total,
    completed_at = clock_timestamp(), lease_expires_at = NULL
FROM locked, c
WHERE t.id = locked.id AND c.id = t.id AND c.attempt = t.attempt AND t.status = 'running'
RETURNING t.id, t.attempt

-- name: task_release
UPDATE tasks
SET status = 'pending', attempt = attempt - 1, worker_id = NULL, started_at = NULL,
    lease_expires_at = NULL, progress = 0
WHERE id = %(id)s::bigint AND attempt = %(attempt)s::int AND status = 'running'

-- name: lease_renew
WITH mine AS (
    SELECT id FROM tasks
    WHERE worker_id = %(worker_id)s::text AND status = 'running'
    ORDER BY id
    FOR UPDATE
)
UPDATE tasks AS t
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s::float8)
FROM mine
WHERE t.id = mine.id AND t.status = 'running'

-- name: task_rescue
-- SKIP LOCKED: rescuers on several hosts run at once with no leader; a row another transaction holds
-- (a late completion, a cancel) is left for the next round, which sees its outcome.
WITH expired AS (
    SELECT id FROM tasks
    WHERE status = 'running' AND lease_expires_at < clock_timestamp()
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE tasks AS t
SET status = CASE WHEN t.attempt < t.max_attempts THEN 'pending' ELSE 'failed' END,
    error_message = CASE WHEN t.attempt < t.max_attempts THEN t.error_message
                         ELSE 'worker lost: ' || COALESCE(t.worker_id, '?') || ' stopped renewing its lease'
                              || ' on attempt ' || t.attempt || ' of ' || t.max_attempts END,
    completed_at = CASE WHEN t.attempt < t.max_attempts THEN NULL ELSE clock_timestamp() END,
    started_at = CASE WHEN t.attempt < t.max_attempts THEN NULL ELSE t.started_at END,
    worker_id = NULL,
    lease_expires_at = NULL,
    progress = CASE WHEN t.attempt < t.max_attempts THEN 0 ELSE t.progress END
FROM expired
WHERE t.id = expired.id
RETURNING t.id, t.status, t.attempt

-- name: task_status_many
SELECT id, status, attempt FROM tasks WHERE id = ANY (%(ids)s::bigint[])
