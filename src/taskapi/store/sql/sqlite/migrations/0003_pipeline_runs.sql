-- Pipeline runs (PIPELINE.md "Pipeline runs"): one row per run of the pipeline's steps. Each step is
-- an ordinary task; the next one is created in the write transaction that completes the one before
-- (task_finish), so the chain lives in the database and survives a restart of every process.
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
