-- The timeline (task_events), the memory of retention (task_prunes) and the index retention walks.

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

-- Retention finds the oldest finished tasks without reading the others.
CREATE INDEX tasks_prunable ON tasks (completed_at) WHERE status IN ('completed', 'failed', 'cancelled');

-- Tasks older than this migration get the history their row still tells.
INSERT INTO task_events (task_id, at, kind, attempt, actor, detail)
SELECT task_id, at, kind, attempt, 'migration 0002', detail
FROM (
    SELECT id AS task_id, created_at AS at, 'created' AS kind, 0 AS attempt,
           'reconstructed from the task row' AS detail, 0 AS step
    FROM tasks
    UNION ALL
    SELECT id, started_at, 'claimed', attempt, 'reconstructed from the task row', 1
    FROM tasks WHERE started_at IS NOT NULL
    UNION ALL
    SELECT id, completed_at, status, attempt,
           CASE WHEN status = 'failed' THEN error_message ELSE 'reconstructed from the task row' END, 2
    FROM tasks WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at IS NOT NULL
)
ORDER BY task_id, step;
