-- Idempotency keys of creates (issue 14): a create that carries a key answers, for 24 hours, the
-- task(s) the key's first create made, without writing again. Written in the create's transaction.
CREATE TABLE task_idempotency (
    key         TEXT NOT NULL PRIMARY KEY,  -- the Idempotency-Key header, as given
    fingerprint TEXT NOT NULL,              -- hash of the request (kind, projects, types, params)
    task_ids    TEXT NOT NULL,              -- JSON array of the tasks created, in the request's order
    created_at  TEXT NOT NULL,              -- when those tasks were created (a retry answers them so)
    expires_at  TEXT NOT NULL               -- 24 h later: from then on the key is forgotten
);
-- Retention forgets expired keys.
CREATE INDEX task_idempotency_expires ON task_idempotency (expires_at);
