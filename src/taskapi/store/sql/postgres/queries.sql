-- Named queries for the PostgreSQL store. Each starts with "-- name: NAME"; the SQLite file defines
-- the same names. Fragments named "task_list.*" are the optional filters of task_list.
-- Placeholders are psycopg's %(name)s; every one is cast, so that the types (and the plans of prepared
-- statements) do not depend on how the driver guessed a Python value's type.
-- Times come from the database clock (clock_timestamp(): the moment of the write, also after waiting
-- for a row lock), never from the caller's: many hosts share one database and one clock.
-- Every transition writes its task_events rows in its own statement (a CTE over the moved rows) and
-- calls pg_notify('taskapi_changes', '') once when it moved something: the change feed wakes at commit.
-- Payloads on 'taskapi' are the JSON of taskapi/store/codec.py; "origin" is the session setting
-- taskapi.origin, the token of the store object whose connection wrote (set when the pool connects), so
-- that store's listeners skip what it already delivered in-process.

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
-- The payloads come built (``codec``'s format, one per distinct type): no JSON built per statement.
WITH inserted AS (
    INSERT INTO tasks (project_id, task_type, params, created_at)
    SELECT n.project_id, n.task_type, n.params, statement_timestamp()
    FROM unnest(%(project_ids)s::bigint[], %(task_types)s::text[], %(params)s::text[]::jsonb[])
         WITH ORDINALITY AS n (project_id, task_type, params, position)
    ORDER BY n.position
    RETURNING id, created_at
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, created_at, 'created', 0, %(actor)s::text, '' FROM inserted ORDER BY id
), announced AS (
    SELECT count(pg_notify('taskapi', note)) FROM unnest(%(notes)s::text[]) AS note
), changed AS (
    SELECT pg_notify('taskapi_changes', '')
)
SELECT inserted.id, inserted.created_at FROM inserted CROSS JOIN announced CROSS JOIN changed

-- name: postgres.task_insert_one
-- task_insert for one task (the API's and most callers' case): a plain VALUES row instead of unnest,
-- sort and DISTINCT; same writes (the row, its created event, the two notifications). The payload
-- of the 'taskapi' notification comes built by the store (``codec``'s format, cached per task type).
WITH inserted AS (
    INSERT INTO tasks (project_id, task_type, params, created_at)
    VALUES (%(project_id)s::bigint, %(task_type)s::text, %(params)s::jsonb, statement_timestamp())
    RETURNING id, created_at
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, created_at, 'created', 0, %(actor)s::text, '' FROM inserted
), announced AS (
    SELECT pg_notify('taskapi', %(note)s::text) AS sent
), changed AS (
    SELECT pg_notify('taskapi_changes', '')
)
SELECT inserted.id, inserted.created_at FROM inserted CROSS JOIN announced CROSS JOIN changed

-- name: task_get
SELECT * FROM tasks WHERE id = %(id)s::bigint

-- name: task_get_many
SELECT * FROM tasks WHERE id = ANY (%(ids)s::bigint[]) ORDER BY id

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
-- The row is locked first so that its status before the cancel ("was pending" or "was running") is
-- the one this statement moved. The NOTIFY on 'taskapi' (delivered at commit) tells the worker holding
-- the task, on whatever host, to stop it. A pipeline run whose step in flight it was ends cancelled.
WITH target AS (
    SELECT id, status FROM tasks
    WHERE id = %(id)s::bigint AND status IN ('pending', 'running')
    FOR UPDATE
), cancelled AS (
    UPDATE tasks AS t
    SET status = 'cancelled', completed_at = clock_timestamp(), lease_expires_at = NULL
    FROM target
    WHERE t.id = target.id AND t.status IN ('pending', 'running')
    RETURNING t.id, t.worker_id, t.attempt, t.completed_at, t.task_type, target.status AS was
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, completed_at, 'cancelled', attempt, %(actor)s::text, 'was ' || was FROM cancelled
), ended AS (
    UPDATE pipeline_runs AS r
    SET status = 'cancelled', ended_at = cancelled.completed_at,
        error = 'task ' || cancelled.id || ' (' || cancelled.task_type || ') was cancelled by ' || %(actor)s::text
    FROM cancelled
    WHERE r.current_task_id = cancelled.id AND r.status = 'running'
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM cancelled)
)
SELECT id, worker_id, attempt,
       pg_notify('taskapi', json_build_object('kind', 'cancelled', 'task_id', id, 'worker_id', worker_id, 'origin', current_setting('taskapi.origin', true))::text)
FROM cancelled CROSS JOIN changed

-- name: task_cancel_many
-- Bulk cancel, one statement: rows locked in id order (as every batch write locks its rows), one
-- 'cancelled' event and one 'taskapi' NOTIFY per task, exactly as task_cancel does for one (the runs
-- whose step in flight was cancelled end cancelled).
WITH target AS (
    SELECT id, status FROM tasks
    WHERE project_id = %(project_id)s::bigint AND status = ANY (%(statuses)s::text[])
      AND (%(task_type)s::text IS NULL OR task_type = %(task_type)s::text)
    ORDER BY id
    FOR UPDATE
), cancelled AS (
    UPDATE tasks AS t
    SET status = 'cancelled', completed_at = clock_timestamp(), lease_expires_at = NULL
    FROM target
    WHERE t.id = target.id AND t.status IN ('pending', 'running')
    RETURNING t.id, t.worker_id, t.attempt, t.completed_at, t.task_type, target.status AS was
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, completed_at, 'cancelled', attempt, %(actor)s::text, 'was ' || was FROM cancelled ORDER BY id
), ended AS (
    UPDATE pipeline_runs AS r
    SET status = 'cancelled', ended_at = cancelled.completed_at,
        error = 'task ' || cancelled.id || ' (' || cancelled.task_type || ') was cancelled by ' || %(actor)s::text
    FROM cancelled
    WHERE r.current_task_id = cancelled.id AND r.status = 'running'
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM cancelled)
)
SELECT id, worker_id, attempt,
       pg_notify('taskapi', json_build_object('kind', 'cancelled', 'task_id', id, 'worker_id', worker_id, 'origin', current_setting('taskapi.origin', true))::text)
FROM cancelled CROSS JOIN changed
ORDER BY id

-- name: postgres.listen
-- Private to this dialect (names "<dialect>.*" need no twin): SQLite has no notifications.
LISTEN taskapi

-- name: task_claim
-- Oldest first, walking the 'pending' range of tasks_status_created backwards and stopping at LIMIT.
-- SKIP LOCKED: workers on other hosts claiming at the same moment take the next rows instead of
-- waiting for (or sharing) these.
WITH picked AS (
    SELECT id FROM tasks
    WHERE status = 'pending' AND task_type = ANY (%(task_types)s::text[])
    ORDER BY created_at, id
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
), claimed AS (
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
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, started_at, 'claimed', attempt, 'worker ' || worker_id, '' FROM claimed ORDER BY id
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM claimed)
)
SELECT claimed.* FROM claimed CROSS JOIN changed

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
-- Each outcome written answers whether its task is a pipeline run's step (in_run: its params name a
-- run); only then does task_finish look for that run (postgres.run_of_finished) and chain its next
-- step in this transaction (taskapi.store._runs). A task outside any run never touches pipeline_runs.
WITH c AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(progress)s::bigint[],
                         %(totals)s::bigint[], %(results)s::text[]::jsonb[])
                  AS c (id, attempt, progress, total, result)
), locked AS (
    SELECT t.id FROM tasks AS t JOIN c ON c.id = t.id AND c.attempt = t.attempt
    WHERE t.status = 'running'
    ORDER BY t.id
    FOR UPDATE OF t
), finished AS (
    UPDATE tasks AS t
    SET status = 'completed', result = c.result, progress = c.progress, total = c.total,
        completed_at = clock_timestamp(), lease_expires_at = NULL
    FROM locked, c
    WHERE t.id = locked.id AND c.id = t.id AND c.attempt = t.attempt AND t.status = 'running'
    RETURNING t.id, t.attempt, t.worker_id, t.completed_at, t.params ? 'pipeline_run' AS in_run
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, completed_at, 'completed', attempt, 'worker ' || worker_id, '' FROM finished ORDER BY id
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM finished)
)
SELECT id, attempt, in_run FROM finished CROSS JOIN changed

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
), finished AS (
    UPDATE tasks AS t
    SET status = 'failed', error_message = c.error_message, progress = c.progress, total = c.total,
        completed_at = clock_timestamp(), lease_expires_at = NULL
    FROM locked, c
    WHERE t.id = locked.id AND c.id = t.id AND c.attempt = t.attempt AND t.status = 'running'
    RETURNING t.id, t.attempt, t.worker_id, t.completed_at, t.error_message,
              t.params ? 'pipeline_run' AS in_run
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, completed_at, 'failed', attempt, 'worker ' || worker_id, error_message
    FROM finished ORDER BY id
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM finished)
)
SELECT id, attempt, in_run FROM finished CROSS JOIN changed

-- name: postgres.task_finish_lock
-- task_finish runs task_complete then task_fail, each locking its rows in id order; a batch with both
-- would otherwise hold a higher id while waiting for a lower one. Locking all of them first, in id
-- order, keeps the one order every writer of running rows uses (task_set_progress, lease_renew).
SELECT t.id FROM tasks AS t
JOIN unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS c (id, attempt) ON c.id = t.id AND c.attempt = t.attempt
WHERE t.status = 'running'
ORDER BY t.id
FOR UPDATE OF t

-- name: task_release
-- The row is locked first so that the event names the worker that held it (the update clears it).
WITH target AS (
    SELECT id, attempt, worker_id FROM tasks
    WHERE id = %(id)s::bigint AND attempt = %(attempt)s::int AND status = 'running'
    FOR UPDATE
), released AS (
    UPDATE tasks AS t
    SET status = 'pending', attempt = t.attempt - 1, worker_id = NULL, started_at = NULL,
        lease_expires_at = NULL, progress = 0
    FROM target
    WHERE t.id = target.id AND t.attempt = target.attempt AND t.status = 'running'
    RETURNING t.id, target.attempt, target.worker_id
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, clock_timestamp(), 'released', attempt, 'worker ' || worker_id, %(reason)s::text
    FROM released
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM released)
)
SELECT id FROM released CROSS JOIN changed

-- name: lease_renew
-- Only the attempts the worker holds (ids and attempts, in pairs): a row of this worker whose attempt
-- it no longer runs expires and is rescued. Locked in id order, as task_set_progress and task_finish.
WITH held AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS h (id, attempt)
), mine AS (
    SELECT t.id FROM tasks AS t JOIN held ON held.id = t.id AND held.attempt = t.attempt
    WHERE t.worker_id = %(worker_id)s::text AND t.status = 'running'
    ORDER BY t.id
    FOR UPDATE OF t
)
UPDATE tasks AS t
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s::float8)
FROM mine
WHERE t.id = mine.id AND t.status = 'running'

-- name: task_rescue
-- SKIP LOCKED: rescuers on several hosts run at once with no leader; a row another transaction holds
-- (a late completion, a cancel) is left for the next round, which sees its outcome. A task lost on its
-- last attempt fails, and so does the pipeline run whose step in flight it was.
WITH expired AS (
    SELECT id, worker_id FROM tasks
    WHERE status = 'running' AND lease_expires_at < clock_timestamp()
    ORDER BY id
    FOR UPDATE SKIP LOCKED
), rescued AS (
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
    RETURNING t.id, t.status, t.attempt, t.error_message, expired.worker_id AS lost_worker
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, clock_timestamp(), CASE WHEN status = 'pending' THEN 'rescued' ELSE 'lost' END, attempt,
           %(actor)s::text,
           CASE WHEN status = 'pending'
                THEN 'worker ' || COALESCE(lost_worker, '?') || ' stopped renewing its lease'
                ELSE error_message END
    FROM rescued ORDER BY id
), ended AS (
    UPDATE pipeline_runs AS r
    SET status = 'failed', ended_at = clock_timestamp(), error = rescued.error_message
    FROM rescued
    WHERE rescued.status = 'failed' AND r.current_task_id = rescued.id AND r.status = 'running'
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM rescued)
)
SELECT id, status, attempt FROM rescued CROSS JOIN changed

-- name: task_status_many
SELECT id, status, attempt FROM tasks WHERE id = ANY (%(ids)s::bigint[])

-- name: task_events
SELECT id, task_id, at, kind, attempt, actor, detail FROM task_events
WHERE task_id = %(id)s::bigint
ORDER BY id

-- name: task_events_add
-- Observations of a worker (killed, timed_out); a task that no longer exists gets none.
WITH e AS (
    SELECT * FROM unnest(%(task_ids)s::bigint[], %(kinds)s::text[], %(attempts)s::int[],
                         %(actors)s::text[], %(details)s::text[])
                  WITH ORDINALITY AS e (task_id, kind, attempt, actor, detail, position)
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT e.task_id, clock_timestamp(), e.kind, e.attempt, e.actor, e.detail
    FROM e JOIN tasks AS t ON t.id = e.task_id
    ORDER BY e.position
    RETURNING id
), changed AS (
    SELECT pg_notify('taskapi_changes', '') WHERE EXISTS (SELECT 1 FROM logged)
)
SELECT count(*) AS written FROM logged CROSS JOIN changed

-- name: task_changes
SELECT id, task_id, at, kind, attempt, actor, detail, clock_timestamp() AS now FROM task_events
WHERE id > %(after_id)s::bigint
ORDER BY id
LIMIT %(limit)s::bigint

-- name: task_events_head
SELECT COALESCE(max(id), 0) AS head FROM task_events

-- name: task_running_progress
SELECT id, progress, total FROM tasks WHERE status = 'running'

-- name: task_prune
-- One batch of retention: the oldest finished tasks past the age limit, their events, and a record
-- of the ids deleted (task_pruned answers "pruned, and when" for exactly those). SKIP LOCKED: pruners on
-- several hosts take different rows.
WITH doomed AS (
    SELECT id FROM tasks
    WHERE status IN ('completed', 'failed', 'cancelled')
      AND completed_at < clock_timestamp() - make_interval(secs => %(older_than_seconds)s::float8)
    ORDER BY completed_at
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM tasks AS t USING doomed WHERE t.id = doomed.id RETURNING t.id
), forgotten AS (
    DELETE FROM task_events WHERE task_id = ANY (ARRAY(SELECT id FROM gone))
), runs AS (
    -- consecutive ids share id - row_number(): each group is one run
    SELECT min(id) AS first, max(id) AS last, count(*) AS size
    FROM (SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM gone) AS numbered
    GROUP BY run
), recorded AS (
    INSERT INTO task_prunes (pruned_at, older_than_seconds, min_task_id, max_task_id, count, ranges)
    SELECT clock_timestamp(), %(older_than_seconds)s::float8, min(first), max(last), sum(size),
           string_agg(first || '-' || last, ',' ORDER BY first)
    FROM runs
    HAVING count(*) > 0
    RETURNING count
)
SELECT COALESCE((SELECT count FROM recorded), 0) AS count

-- name: task_pruned
SELECT pruned_at, older_than_seconds, ranges FROM task_prunes
WHERE min_task_id <= %(id)s::bigint AND max_task_id >= %(id)s::bigint
ORDER BY id

-- name: postgres.set_origin
-- Run once on each new pooled connection: the origin of the NOTIFY payloads it sends (see the header).
SELECT set_config('taskapi.origin', %(origin)s::text, false)

-- name: postgres.listen_changes
LISTEN taskapi_changes

-- name: postgres.task_id_block
-- The bulk path (COPY), first statement of its transaction: the batch's ids drawn from the table's
-- own sequence (never reused; in the order drawn, answered sorted), their created events and the
-- notifications (delivered at the commit, after the COPY that writes the tasks; payloads built by the
-- store, one per task type), and the one created_at of the batch. The events go first so that the
-- ids never travel back to the server.
WITH drawn AS MATERIALIZED (
    SELECT nextval((SELECT pg_get_serial_sequence('tasks', 'id'))::regclass) AS id
    FROM generate_series(1, %(count)s::int)
), logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    SELECT id, statement_timestamp(), 'created', 0, %(actor)s::text, '' FROM drawn ORDER BY id
)
SELECT (SELECT array_agg(id ORDER BY id) FROM drawn) AS ids,
       statement_timestamp() AS now,
       (SELECT count(pg_notify('taskapi', note)) FROM unnest(%(notes)s::text[]) AS note) AS announced,
       pg_notify('taskapi_changes', '') AS changed

-- name: postgres.task_copy
-- COPY writes the given ids into the identity column (as OVERRIDING SYSTEM VALUE would).
COPY tasks (id, project_id, task_type, params, created_at) FROM STDIN

-- name: task_active_counts
-- What a metrics scrape reads: the active tasks (few, next to the finished ones) by status and type,
SELECT status, task_type, count(*) AS count FROM tasks
WHERE status IN ('pending', 'running')
GROUP BY status, task_type

-- name: task_oldest_pending
-- the oldest pending task (the first entry of tasks_status_created for 'pending'),
SELECT min(created_at) AS oldest FROM tasks WHERE status = 'pending'

-- name: task_rare_event_counts
-- and how often the rare events happened over the kept history (task_events_rare holds only them).
SELECT kind, count(*) AS count FROM task_events
WHERE kind IN ('rescued', 'lost', 'killed', 'timed_out')
GROUP BY kind

-- Pipeline runs (taskapi.store._runs runs these, in the store's explicit transactions). A run's next
-- step is created by task_finish in the transaction that completes the step before, from a run still
-- 'running' whose step in flight is that task: so a step is created once, and never after a cancel.
-- Locks: a task's row first, then its run's (task_finish, the cancels and the rescue all update the
-- task before its run; run_cancel locks the task with run_lock_task before it marks the run).

-- name: run_insert
INSERT INTO pipeline_runs (project_id, query, steps, created_at)
VALUES (%(project_id)s::bigint, %(query)s::text, %(steps)s::jsonb, clock_timestamp())
RETURNING id

-- name: run_step_insert
INSERT INTO tasks (project_id, task_type, params, created_at)
VALUES (%(project_id)s::bigint, %(task_type)s::text, %(params)s::jsonb, clock_timestamp())
RETURNING id, created_at

-- name: run_step_logged
-- The step's created event and, delivered at commit, the notifications every create sends.
WITH logged AS (
    INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
    VALUES (%(task_id)s::bigint, %(created_at)s::timestamptz, 'created', 0, %(actor)s::text, %(detail)s::text)
)
SELECT pg_notify('taskapi', json_build_object('kind', 'created', 'task_type', %(task_type)s::text, 'origin', current_setting('taskapi.origin', true))::text),
       pg_notify('taskapi_changes', '')

-- name: run_step_linked
INSERT INTO pipeline_run_tasks (run_id, position, task_id)
VALUES (%(run_id)s::bigint, %(position)s::int, %(task_id)s::bigint)

-- name: run_set_task
UPDATE pipeline_runs SET current_step = %(position)s::int, current_task_id = %(task_id)s::bigint
WHERE id = %(run_id)s::bigint

-- name: run_advance
-- The step in flight completed: the run ends completed after its last step, else answers the position
-- of the next step to create. No row: the run is no longer running at that task (cancelled meanwhile).
UPDATE pipeline_runs
SET status = CASE WHEN current_step + 1 < jsonb_array_length(steps) THEN status ELSE 'completed' END,
    ended_at = CASE WHEN current_step + 1 < jsonb_array_length(steps) THEN ended_at ELSE clock_timestamp() END
WHERE id = %(run_id)s::bigint AND status = 'running' AND current_task_id = %(task_id)s::bigint
RETURNING id, project_id, status, steps, current_step + 1 AS next_step

-- name: run_fail
UPDATE pipeline_runs AS r
SET status = 'failed', ended_at = clock_timestamp(), error = t.error_message
FROM tasks AS t
WHERE r.id = %(run_id)s::bigint AND r.status = 'running' AND r.current_task_id = %(task_id)s::bigint
  AND t.id = r.current_task_id

-- name: run_get
-- The run and its steps' tasks in one statement (one consistent reading).
SELECT r.id, r.project_id, r.status, r.query, r.steps, r.current_step, r.created_at, r.ended_at, r.error,
       l.position, l.task_id, t.status AS task_status, t.progress, t.total
FROM pipeline_runs AS r
LEFT JOIN pipeline_run_tasks AS l ON l.run_id = r.id
LEFT JOIN tasks AS t ON t.id = l.task_id
WHERE r.id = %(id)s::bigint
ORDER BY l.position

-- name: postgres.run_of_finished
-- In task_finish, for the outcomes written whose task is a run's step: the running runs whose step in
-- flight they are (a probe of pipeline_runs_running_task).
SELECT r.id AS run_id, t.id AS task_id, t.status
FROM pipeline_runs AS r JOIN tasks AS t ON t.id = r.current_task_id
WHERE r.status = 'running' AND r.current_task_id = ANY (%(ids)s::bigint[])

-- name: run_state
SELECT status, current_task_id FROM pipeline_runs WHERE id = %(id)s::bigint

-- name: run_lock_task
-- The step's task before its run (the order every writer takes): a completion holding the task finishes
-- (and chains) first, then run_mark_cancelled sees where the run is now.
SELECT id FROM tasks WHERE id = %(task_id)s::bigint FOR UPDATE

-- name: run_mark_cancelled
UPDATE pipeline_runs
SET status = 'cancelled', ended_at = clock_timestamp(), error = 'cancelled by ' || %(actor)s::text
WHERE id = %(id)s::bigint AND status = 'running' AND current_task_id = %(task_id)s::bigint
RETURNING id

-- name: run_list
-- The newest runs (of a project, when project_id is set) with their steps' tasks.
SELECT r.id, r.project_id, r.status, r.query, r.steps, r.current_step, r.created_at, r.ended_at, r.error,
       l.position, l.task_id, t.status AS task_status, t.progress, t.total
FROM (
    SELECT * FROM pipeline_runs
    WHERE %(project_id)s::bigint IS NULL OR project_id = %(project_id)s::bigint
    ORDER BY id DESC
    LIMIT %(limit)s::bigint
) AS r
LEFT JOIN pipeline_run_tasks AS l ON l.run_id = r.id
LEFT JOIN tasks AS t ON t.id = l.task_id
ORDER BY r.id DESC, l.position

-- name: postgres.idempotency_claim
-- The first statement of a keyed create's transaction: take the key (new, or past its day and so
-- forgotten). A row answered: this transaction owns the key and creates the tasks. None: the key is
-- held by a fresh record; a concurrent owner is waited for (the primary key) until it commits, so
-- idempotency_get then reads its tasks (or, if it rolled back, this insert takes the key).
INSERT INTO task_idempotency AS held (key, fingerprint, expires_at)
VALUES (%(key)s::text, %(fingerprint)s::text, statement_timestamp() + make_interval(secs => %(ttl_seconds)s::float8))
ON CONFLICT (key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, task_ids = '{}', created_at = NULL, expires_at = EXCLUDED.expires_at
WHERE held.expires_at <= statement_timestamp()
RETURNING key

-- name: postgres.idempotency_set_tasks
-- In the same transaction, after the insert: the tasks the key answers from now on.
UPDATE task_idempotency
SET task_ids = %(task_ids)s::bigint[], created_at = %(created_at)s::timestamptz,
    expires_at = %(created_at)s::timestamptz + make_interval(secs => %(ttl_seconds)s::float8)
WHERE key = %(key)s::text

-- name: idempotency_get
SELECT fingerprint, task_ids, created_at, expires_at FROM task_idempotency WHERE key = %(key)s::text

-- name: idempotency_forget
-- Retention's pass: keys past their day answer nothing any more.
DELETE FROM task_idempotency WHERE expires_at <= clock_timestamp()
