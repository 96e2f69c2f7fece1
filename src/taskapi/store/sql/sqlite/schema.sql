-- The canonical SQLite schema: what every migration applied in order to an empty database produces
-- (tests/integration/test_migrations.py keeps the two equal). Read this file to learn the schema;
-- change the schema only by adding a migration, then update this file to match.

-- Bookkeeping of migrate(): one row per applied migration file (NNNN_name.sql).
CREATE TABLE schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
);

-- The queue: one row per task. Times are UTC, text 'YYYY-MM-DDTHH:MM:SS.ffffff' (sorts as it reads).
CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- an id is never reused
    project_id       INTEGER NOT NULL,
    task_type        TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    progress         INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL DEFAULT 0,
    params           TEXT    NOT NULL DEFAULT '{}',      -- JSON object
    result           TEXT,                               -- JSON, set on completion
    error_message    TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    completed_at     TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,         -- fences a worker's writes: (id, attempt)
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
-- tasks_status_created; lease_renew finds a worker's running tasks here.
CREATE INDEX tasks_running_worker ON tasks (worker_id) WHERE status = 'running';

-- Retention finds the oldest finished tasks without reading the others.
CREATE INDEX tasks_prunable ON tasks (completed_at) WHERE status IN ('completed', 'failed', 'cancelled');

-- One row per change of a task: its transitions (written in the transaction of the transition) and
-- the worker's observations (killed, timed_out). The id order is the global order of changes: the
-- change feed reads it. AUTOINCREMENT: an id is never reused, even after pruning the newest rows.
CREATE TABLE task_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL,
    at      TEXT    NOT NULL,
    kind    TEXT    NOT NULL
            CHECK (kind IN ('created', 'claimed', 'completed', 'failed', 'cancelled', 'released',
                            'rescued', 'lost', 'killed', 'timed_out')),
    attempt INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    detail  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX task_events_task ON task_events (task_id, id);
-- The rare kinds, counted at every metrics scrape: only their rows are in this index.
CREATE INDEX task_events_rare ON task_events (kind) WHERE kind IN ('rescued', 'lost', 'killed', 'timed_out');

-- One row per pruning statement: the ids it deleted (as runs of consecutive ids, "5-9,12-12"), when,
-- and under which retention. min/max narrow a lookup to the few rows whose runs may hold an id.
CREATE TABLE task_prunes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    pruned_at          TEXT    NOT NULL,
    older_than_seconds REAL    NOT NULL,
    min_task_id        INTEGER NOT NULL,
    max_task_id        INTEGER NOT NULL,
    count              INTEGER NOT NULL,
    ranges             TEXT    NOT NULL
);

-- Pipeline runs: one row per run of the pipeline's steps, each step an ordinary task; the next step is
-- created in the transaction that completes the one before (task_finish).
CREATE TABLE pipeline_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- an id is never reused
    project_id      INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    query           TEXT,
    steps           TEXT    NOT NULL,             -- JSON: [{"task_type": "search", "params": {...}}, ...]
    current_step    INTEGER NOT NULL DEFAULT 0,   -- the step in flight (of an ended run: where it ended)
    current_task_id INTEGER,                      -- that step's task
    created_at      TEXT    NOT NULL,
    ended_at        TEXT,
    error           TEXT    NOT NULL DEFAULT ''   -- why a run failed or was cancelled
);
-- Every completion asks "is this task the step in flight of a running run?": this index holds only the
-- running runs, so a task outside any run costs one probe of a tiny index. Unique: one run per task.
CREATE UNIQUE INDEX pipeline_runs_running_task ON pipeline_runs (current_task_id) WHERE status = 'running';
-- A project's runs, newest first (ids grow with creation).
CREATE INDEX pipeline_runs_project ON pipeline_runs (project_id, id DESC);

-- The task each step of a run became; the key makes a second task for one step impossible.
CREATE TABLE pipeline_run_tasks (
    run_id   INTEGER NOT NULL REFERENCES pipeline_runs (id),
    position INTEGER NOT NULL,
    task_id  INTEGER NOT NULL,
    PRIMARY KEY (run_id, position)
);

-- Idempotency keys of creates: for 24 hours a key answers the task(s) its first create made.
CREATE TABLE task_idempotency (
    key         TEXT NOT NULL PRIMARY KEY,  -- the Idempotency-Key header, as given
    fingerprint TEXT NOT NULL,              -- hash of the request (kind, projects, types, params)
    task_ids    TEXT NOT NULL,              -- JSON array of the tasks created, in the request's order
    created_at  TEXT NOT NULL,              -- when those tasks were created (a retry answers them so)
    expires_at  TEXT NOT NULL               -- 24 h later: from then on the key is forgotten
);
-- Retention forgets expired keys.
CREATE INDEX task_idempotency_expires ON task_idempotency (expires_at);
