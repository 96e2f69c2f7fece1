-- The queue: one row per task. Times are UTC, text 'YYYY-MM-DDTHH:MM:SS.ffffff' (sorts as it reads).
CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: an id is never reused
    project_id       INTEGER NOT NULL,
    task_type        TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    progress         INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL DEFAULT 0,
    params           TEXT    NOT NULL DEFAULT '{}',
    result           TEXT,
    error_message    TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    completed_at     TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    worker_id        TEXT,
    lease_expires_at TEXT
);

-- List queries: every filter combination walks an index in (created_at, id) order and stops at LIMIT.
CREATE INDEX tasks_project_status_created ON tasks (project_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_project_type_created ON tasks (project_id, task_type, created_at DESC, id DESC);
CREATE INDEX tasks_project_created ON tasks (project_id, created_at DESC, id DESC);
CREATE INDEX tasks_status_created ON tasks (status, created_at DESC, id DESC);
CREATE INDEX tasks_type_created ON tasks (task_type, created_at DESC, id DESC);
CREATE INDEX tasks_created ON tasks (created_at DESC, id DESC);

-- Workers: claim (oldest pending first) and rescue (expired leases among the running) walk
-- tasks_status_created; renewing a worker's leases finds its running tasks here.
CREATE INDEX tasks_running_worker ON tasks (worker_id) WHERE status = 'running';
