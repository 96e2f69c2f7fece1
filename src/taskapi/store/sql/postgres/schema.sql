-- The canonical PostgreSQL schema: what every migration applied in order to an empty database produces
-- (tests/integration/test_postgres_store.py compares the two catalogs). Read this file to learn the
-- schema; change the schema only by adding a migration, then update this file to match.

-- Bookkeeping of migrate(): one row per applied migration file (NNNN_name.sql).
CREATE TABLE schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
);

-- The queue: one row per task. Times are timestamptz (instants, microseconds), taken from the database
-- clock so that every host sharing the database agrees on them.
-- fillfactor 90 leaves room on each page so that progress writes and lease renewals (which change no
-- indexed column) stay HOT updates: no new index entries for the most frequent writes.
CREATE TABLE tasks (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- a sequence: ids are never reused
    project_id       BIGINT      NOT NULL,
    task_type        TEXT        NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    progress         BIGINT      NOT NULL DEFAULT 0,
    total            BIGINT      NOT NULL DEFAULT 0,
    params           JSONB       NOT NULL DEFAULT '{}',
    result           JSONB,
    error_message    TEXT        NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    completed_at     TIMESTAMPTZ,
    attempt          INTEGER     NOT NULL DEFAULT 0,
    max_attempts     INTEGER     NOT NULL DEFAULT 3,
    worker_id        TEXT,
    lease_expires_at TIMESTAMPTZ
) WITH (fillfactor = 90);

-- List queries: every filter combination walks an index in (created_at, id) order and stops at LIMIT.
CREATE INDEX tasks_project_status_created ON tasks (project_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_project_type_created ON tasks (project_id, task_type, created_at DESC, id DESC);
CREATE INDEX tasks_project_created ON tasks (project_id, created_at DESC, id DESC);
CREATE INDEX tasks_status_created ON tasks (status, created_at DESC, id DESC);
CREATE INDEX tasks_type_created ON tasks (task_type, created_at DESC, id DESC);
CREATE INDEX tasks_created ON tasks (created_at DESC, id DESC);

-- Workers. Claim walks the 'pending' range of tasks_status_created oldest first and stops at LIMIT,
-- however many tasks are done.
-- Rescue (expired leases) and lease_renew (a worker's tasks) look only at running rows. There is no
-- index on lease_expires_at on purpose: it changes on every progress write and renewal, and indexing
-- it would turn those into non-HOT updates of all ten indexes; the running rows are few (bounded by
-- the workers' concurrency), so rescue reads them all from this index instead.
CREATE INDEX tasks_running_worker ON tasks (worker_id) WHERE status = 'running';

-- Retention finds the oldest finished tasks without reading the others.
CREATE INDEX tasks_prunable ON tasks (completed_at) WHERE status IN ('completed', 'failed', 'cancelled');

-- One row per change of a task: its transitions (written in the statement of the transition) and the
-- worker's observations (killed, timed_out). The id order is the global order of changes: the change
-- feed reads it. No foreign key: pruning deletes a task's events with the task, in one statement,
-- and a bulk create would pay a key lookup per event.
CREATE TABLE task_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id BIGINT      NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    kind    TEXT        NOT NULL
            CHECK (kind IN ('created', 'claimed', 'completed', 'failed', 'cancelled', 'released',
                            'rescued', 'lost', 'killed', 'timed_out')),
    attempt INTEGER     NOT NULL,
    actor   TEXT        NOT NULL,
    detail  TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX task_events_task ON task_events (task_id, id);
-- The rare kinds, counted at every metrics scrape: only their rows are in this index.
CREATE INDEX task_events_rare ON task_events (kind) WHERE kind IN ('rescued', 'lost', 'killed', 'timed_out');

-- One row per pruning statement: the ids it deleted (as runs of consecutive ids, "5-9,12-12"), when,
-- and under which retention. min/max narrow a lookup to the few rows whose runs may hold an id.
CREATE TABLE task_prunes (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pruned_at          TIMESTAMPTZ      NOT NULL,
    older_than_seconds DOUBLE PRECISION NOT NULL,
    min_task_id        BIGINT           NOT NULL,
    max_task_id        BIGINT           NOT NULL,
    count              BIGINT           NOT NULL,
    ranges             TEXT             NOT NULL
);

-- Pipeline runs: one row per run of the pipeline's steps, each step an ordinary task; the next step is
-- created in the transaction that completes the one before (task_finish).
CREATE TABLE pipeline_runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- a sequence: ids are never reused
    project_id      BIGINT      NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    query           TEXT,
    steps           JSONB       NOT NULL,             -- [{"task_type": "search", "params": {...}}, ...]
    current_step    INTEGER     NOT NULL DEFAULT 0,   -- the step in flight (of an ended run: where it ended)
    current_task_id BIGINT,                           -- that step's task
    created_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ,
    error           TEXT        NOT NULL DEFAULT ''   -- why a run failed or was cancelled
);
-- Every completion asks "is this task the step in flight of a running run?": this index holds only the
-- running runs, so a task outside any run costs one probe of a tiny index. Unique: one run per task.
CREATE UNIQUE INDEX pipeline_runs_running_task ON pipeline_runs (current_task_id) WHERE status = 'running';
-- A project's runs, newest first (ids grow with creation).
CREATE INDEX pipeline_runs_project ON pipeline_runs (project_id, id DESC);

-- The task each step of a run became; the key makes a second task for one step impossible.
CREATE TABLE pipeline_run_tasks (
    run_id   BIGINT  NOT NULL REFERENCES pipeline_runs (id),
    position INTEGER NOT NULL,
    task_id  BIGINT  NOT NULL,
    PRIMARY KEY (run_id, position)
);

-- Idempotency keys of creates: for 24 hours a key answers the task(s) its first create made;
-- the primary key makes concurrent creates with one key wait for the first and then read its tasks.
CREATE TABLE task_idempotency (
    key         TEXT        NOT NULL PRIMARY KEY,         -- the Idempotency-Key header, as given
    fingerprint TEXT        NOT NULL,                     -- hash of the request (kind, projects, types, params)
    task_ids    BIGINT[]    NOT NULL DEFAULT '{}',        -- the tasks created, in the request's order
    created_at  TIMESTAMPTZ,                              -- when they were created (a retry answers them so)
    expires_at  TIMESTAMPTZ NOT NULL                      -- 24 h later: from then on the key is forgotten
);
-- Retention forgets expired keys.
CREATE INDEX task_idempotency_expires ON task_idempotency (expires_at);
