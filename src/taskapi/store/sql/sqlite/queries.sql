-- Named queries for the SQLite store. Each starts with "-- name: NAME"; the PostgreSQL file defines
-- the same names. Fragments named "task_list.*" are the optional filters of task_list.
-- SQLite has no data-modifying CTEs: a transition writes its task_events rows with a second statement
-- ("sqlite.*_logged") in the same write transaction, reading the rows it moves (or is about to move).

-- name: ping
SELECT 1

-- name: data_version
PRAGMA data_version

-- name: migrations_create_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
)

-- name: migrations_applied
SELECT version FROM schema_migrations ORDER BY version

-- name: migration_record
INSERT INTO schema_migrations (version, applied_at) VALUES (:version, :now)

-- name: task_insert
-- Run with executemany in one write transaction: ids are then contiguous above sqlite.task_id_seen.
INSERT INTO tasks (project_id, task_type, params, created_at)
VALUES (:project_id, :task_type, :params, :now)

-- name: sqlite.task_id_seen
-- The largest id ever given (AUTOINCREMENT keeps it even when that row was pruned).
SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tasks'), 0) AS seen

-- name: sqlite.task_created_logged
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, created_at, 'created', 0, :actor, '' FROM tasks WHERE id > :seen

-- name: task_get
SELECT * FROM tasks WHERE id = :id

-- name: task_get_many
SELECT * FROM tasks WHERE id IN (SELECT value FROM json_each(:ids)) ORDER BY id

-- name: task_list
SELECT id, project_id, task_type, status, progress, total, created_at
FROM tasks
WHERE {filters}
ORDER BY created_at DESC, id DESC
LIMIT :limit

-- name: task_list.project_id
project_id = :project_id

-- name: task_list.status
status = :status

-- name: task_list.task_type
task_type = :task_type

-- name: task_list.created_after
created_at > :created_after

-- name: task_list.created_before
created_at < :created_before

-- name: task_list.after
(created_at, id) < (:after_created_at, :after_id)

-- name: task_cancel
UPDATE tasks
SET status = 'cancelled', completed_at = :now, lease_expires_at = NULL
WHERE id = :id AND status IN ('pending', 'running')
RETURNING id, worker_id, attempt

-- name: sqlite.task_cancel_logged
-- Before task_cancel, in its transaction: the status it is about to move is still readable.
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, :now, 'cancelled', attempt, :actor, 'was ' || status FROM tasks
WHERE id = :id AND status IN ('pending', 'running')

-- name: task_cancel_many
UPDATE tasks
SET status = 'cancelled', completed_at = :now, lease_expires_at = NULL
WHERE project_id = :project_id AND status IN (SELECT value FROM json_each(:statuses))
  AND (:task_type IS NULL OR task_type = :task_type)
RETURNING id, worker_id, attempt

-- name: sqlite.task_cancel_many_logged
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, :now, 'cancelled', attempt, :actor, 'was ' || status FROM tasks
WHERE project_id = :project_id AND status IN (SELECT value FROM json_each(:statuses))
  AND (:task_type IS NULL OR task_type = :task_type)

-- name: task_claim
-- Oldest first by (created_at, id): walks tasks_status_created backwards from the oldest pending row,
-- so no sort and no scan however many tasks wait (ORDER BY id alone would sort every pending row).
UPDATE tasks
SET status = 'running',
    attempt = attempt + 1,
    max_attempts = COALESCE(json_extract(:max_attempts, '$.' || task_type), max_attempts),
    worker_id = :worker_id,
    started_at = :now,
    lease_expires_at = :lease_expires_at,
    progress = 0
WHERE id IN (
    SELECT id FROM tasks
    WHERE status = 'pending' AND task_type IN (SELECT value FROM json_each(:task_types))
    ORDER BY created_at, id
    LIMIT :limit
)
RETURNING *

-- name: sqlite.task_claimed_logged
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, started_at, 'claimed', attempt, 'worker ' || worker_id, '' FROM tasks
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: task_set_progress
UPDATE tasks
SET progress = :progress, total = :total, lease_expires_at = :lease_expires_at
WHERE id = :id AND attempt = :attempt AND status = 'running'

-- name: task_complete
UPDATE tasks
SET status = 'completed', result = :result, progress = :progress, total = :total,
    completed_at = :now, lease_expires_at = NULL
WHERE id = :id AND attempt = :attempt AND status = 'running'

-- name: task_fail
UPDATE tasks
SET status = 'failed', error_message = :error_message, progress = :progress, total = :total,
    completed_at = :now, lease_expires_at = NULL
WHERE id = :id AND attempt = :attempt AND status = 'running'

-- name: sqlite.task_finished_logged
-- After task_complete / task_fail, in their transaction, for the ids whose write won.
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, completed_at, status, attempt, 'worker ' || worker_id,
       CASE WHEN status = 'failed' THEN error_message ELSE '' END
FROM tasks
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: task_release
UPDATE tasks
SET status = 'pending', attempt = attempt - 1, worker_id = NULL, started_at = NULL,
    lease_expires_at = NULL, progress = 0
WHERE id = :id AND attempt = :attempt AND status = 'running'

-- name: sqlite.task_release_logged
-- Before task_release, in its transaction: the worker that held the task is still on the row.
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, :now, 'released', attempt, 'worker ' || worker_id, :reason FROM tasks
WHERE id = :id AND attempt = :attempt AND status = 'running'

-- name: lease_renew
-- Only the attempts the worker holds (:held, a JSON array of [id, attempt] pairs).
UPDATE tasks SET lease_expires_at = :lease_expires_at
WHERE worker_id = :worker_id AND status = 'running'
  AND (id, attempt) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:held))

-- name: task_rescue
UPDATE tasks
SET status = CASE WHEN attempt < max_attempts THEN 'pending' ELSE 'failed' END,
    error_message = CASE WHEN attempt < max_attempts THEN error_message
                         ELSE 'worker lost: ' || COALESCE(worker_id, '?') || ' stopped renewing its lease'
                              || ' on attempt ' || attempt || ' of ' || max_attempts END,
    completed_at = CASE WHEN attempt < max_attempts THEN NULL ELSE :now END,
    started_at = CASE WHEN attempt < max_attempts THEN NULL ELSE started_at END,
    worker_id = NULL,
    lease_expires_at = NULL,
    progress = CASE WHEN attempt < max_attempts THEN 0 ELSE progress END
WHERE status = 'running' AND lease_expires_at < :now
RETURNING id, status, attempt

-- name: sqlite.task_rescue_logged
-- Before task_rescue, in its transaction, over the same rows: the lost worker is still on them.
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, :now, CASE WHEN attempt < max_attempts THEN 'rescued' ELSE 'lost' END, attempt, :actor,
       CASE WHEN attempt < max_attempts
            THEN 'worker ' || COALESCE(worker_id, '?') || ' stopped renewing its lease'
            ELSE 'worker lost: ' || COALESCE(worker_id, '?') || ' stopped renewing its lease'
                 || ' on attempt ' || attempt || ' of ' || max_attempts END
FROM tasks
WHERE status = 'running' AND lease_expires_at < :now

-- name: task_status_many
SELECT id, status, attempt FROM tasks WHERE id IN (SELECT value FROM json_each(:ids))

-- name: task_events
SELECT id, task_id, at, kind, attempt, actor, detail FROM task_events
WHERE task_id = :id
ORDER BY id

-- name: task_events_add
-- Run with executemany; a task that no longer exists gets no event.
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT id, :now, :kind, :attempt, :actor, :detail FROM tasks WHERE id = :task_id

-- name: task_changes
SELECT id, task_id, at, kind, attempt, actor, detail FROM task_events
WHERE id > :after_id
ORDER BY id
LIMIT :limit

-- name: task_events_head
SELECT COALESCE(max(id), 0) AS head FROM task_events

-- name: task_running_progress
SELECT id, progress, total FROM tasks WHERE status = 'running'

-- name: task_prune
-- One batch of retention: the oldest finished tasks past the age limit (then sqlite.task_prune_*).
-- INDEXED BY: without statistics the planner would rather sort every finished task by status.
SELECT id FROM tasks INDEXED BY tasks_prunable
WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < :cutoff
ORDER BY completed_at
LIMIT :limit

-- name: sqlite.task_prune_events
DELETE FROM task_events WHERE task_id IN (SELECT value FROM json_each(:ids))

-- name: sqlite.task_prune_tasks
DELETE FROM tasks WHERE id IN (SELECT value FROM json_each(:ids))

-- name: sqlite.task_prune_record
INSERT INTO task_prunes (pruned_at, older_than_seconds, min_task_id, max_task_id, count, ranges)
VALUES (:now, :older_than_seconds, :min_task_id, :max_task_id, :count, :ranges)

-- name: task_pruned
SELECT pruned_at, older_than_seconds, ranges FROM task_prunes
WHERE min_task_id <= :id AND max_task_id >= :id
ORDER BY id

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

-- Pipeline runs (taskapi.store._runs runs these, in the store's write transactions). A run's next step
-- is created by task_finish in the transaction that completes the step before, from a run still
-- 'running' whose step in flight is that task: so a step is created once, and never after a cancel.

-- name: run_insert
INSERT INTO pipeline_runs (project_id, query, steps, created_at)
VALUES (:project_id, :query, :steps, :now)
RETURNING id

-- name: run_step_insert
INSERT INTO tasks (project_id, task_type, params, created_at)
VALUES (:project_id, :task_type, :params, :now)
RETURNING id, created_at

-- name: run_step_logged
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
VALUES (:task_id, :created_at, 'created', 0, :actor, :detail)

-- name: run_step_linked
INSERT INTO pipeline_run_tasks (run_id, position, task_id) VALUES (:run_id, :position, :task_id)

-- name: run_set_task
UPDATE pipeline_runs SET current_step = :position, current_task_id = :task_id WHERE id = :run_id

-- name: run_advance
-- The step in flight completed: the run ends completed after its last step, else answers the position
-- of the next step to create. No row: the run is no longer running at that task (cancelled meanwhile).
UPDATE pipeline_runs
SET status = CASE WHEN current_step + 1 < json_array_length(steps) THEN status ELSE 'completed' END,
    ended_at = CASE WHEN current_step + 1 < json_array_length(steps) THEN ended_at ELSE :now END
WHERE id = :run_id AND status = 'running' AND current_task_id = :task_id
RETURNING id, project_id, status, steps, current_step + 1 AS next_step

-- name: run_fail
UPDATE pipeline_runs AS r
SET status = 'failed', ended_at = :now, error = t.error_message
FROM tasks AS t
WHERE r.id = :run_id AND r.status = 'running' AND r.current_task_id = :task_id AND t.id = r.current_task_id

-- name: run_get
-- The run and its steps' tasks in one statement (one consistent reading).
SELECT r.id, r.project_id, r.status, r.query, r.steps, r.current_step, r.created_at, r.ended_at, r.error,
       l.position, l.task_id, t.status AS task_status, t.progress, t.total
FROM pipeline_runs AS r
LEFT JOIN pipeline_run_tasks AS l ON l.run_id = r.id
LEFT JOIN tasks AS t ON t.id = l.task_id
WHERE r.id = :id
ORDER BY l.position

-- name: run_state
SELECT status, current_task_id FROM pipeline_runs WHERE id = :id

-- name: run_lock_task
-- Nothing to lock: the write transaction (BEGIN IMMEDIATE) already keeps every other writer out.
SELECT id FROM tasks WHERE id = :task_id

-- name: run_mark_cancelled
UPDATE pipeline_runs
SET status = 'cancelled', ended_at = :now, error = 'cancelled by ' || :actor
WHERE id = :id AND status = 'running' AND current_task_id = :task_id
RETURNING id

-- name: sqlite.run_of_finished
-- In task_finish, for the ids whose outcome won: the runs whose step in flight they are (the probe of
-- pipeline_runs_running_task that a task outside any run costs).
SELECT r.id AS run_id, t.id AS task_id, t.status
FROM pipeline_runs AS r JOIN tasks AS t ON t.id = r.current_task_id
WHERE r.status = 'running' AND r.current_task_id IN (SELECT value FROM json_each(:ids))

-- name: sqlite.run_ended_with_tasks
-- After a cancel (one task, or a project's) or a rescue, in its transaction: a run whose step in flight
-- was cancelled ends cancelled, one whose step was lost (failed) ends failed.
UPDATE pipeline_runs AS r
SET status = CASE t.status WHEN 'failed' THEN 'failed' ELSE 'cancelled' END,
    ended_at = :now,
    error = CASE t.status WHEN 'failed' THEN t.error_message
                 ELSE 'task ' || t.id || ' (' || t.task_type || ') was cancelled by ' || :actor END
FROM tasks AS t
WHERE t.id = r.current_task_id AND r.status = 'running'
  AND r.current_task_id IN (SELECT value FROM json_each(:ids))
  AND t.status IN ('failed', 'cancelled')

-- name: run_list
-- The newest runs (of a project, when :project_id is set) with their steps' tasks.
SELECT r.id, r.project_id, r.status, r.query, r.steps, r.current_step, r.created_at, r.ended_at, r.error,
       l.position, l.task_id, t.status AS task_status, t.progress, t.total
FROM (
    SELECT * FROM pipeline_runs
    WHERE :project_id IS NULL OR project_id = :project_id
    ORDER BY id DESC
    LIMIT :limit
) AS r
LEFT JOIN pipeline_run_tasks AS l ON l.run_id = r.id
LEFT JOIN tasks AS t ON t.id = l.task_id
ORDER BY r.id DESC, l.position

-- name: idempotency_get
-- The key's record, read in the create's write transaction (BEGIN IMMEDIATE: no other writer).
SELECT fingerprint, task_ids, created_at, expires_at FROM task_idempotency WHERE key = :key

-- name: sqlite.idempotency_put
-- A new key, or one older than its day (forgotten: replaced), with the tasks its create made.
INSERT OR REPLACE INTO task_idempotency (key, fingerprint, task_ids, created_at, expires_at)
VALUES (:key, :fingerprint, :task_ids, :now, :expires_at)

-- name: idempotency_forget
-- Retention's pass: keys past their day answer nothing any more.
DELETE FROM task_idempotency WHERE expires_at <= :now
