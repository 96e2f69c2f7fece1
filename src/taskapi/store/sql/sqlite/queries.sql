-- Named queries for the SQLite store. Each starts with "-- name: NAME"; the PostgreSQL file defines
-- the same names. Fragments named "task_list.*" are the optional filters of task_list.

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
INSERT INTO tasks (project_id, task_type, params, created_at)
VALUES (:project_id, :task_type, :params, :now)
RETURNING *

-- name: task_get
SELECT * FROM tasks WHERE id = :id

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

-- name: task_release
UPDATE tasks
SET status = 'pending', attempt = attempt - 1, worker_id = NULL, started_at = NULL,
    lease_expires_at = NULL, progress = 0
WHERE id = :id AND attempt = :attempt AND status = 'running'

-- name: lease_renew
UPDATE tasks
SET lease_expires_at = :lease_expires_at
WHERE worker_id = :worker_id AND status = 'running'

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

-- name: task_status_many
SELECT id, status, attempt FROM tasks WHERE id IN (SELECT value FROM json_each(:ids))
