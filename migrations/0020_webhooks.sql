-- An outbox of request status changes for the configured webhooks, written in the same
-- transaction as the change so that no notification is lost or sent for a change that
-- rolled back. Each webhook URL reads it in order from its own cursor.
CREATE TABLE webhook_events (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE webhook_cursors (
    url           TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL
);

-- Deliveries given up after every retry, for admins to see.
CREATE TABLE webhook_failures (
    id        INTEGER PRIMARY KEY,
    url       TEXT NOT NULL,
    event_id  INTEGER NOT NULL REFERENCES webhook_events(id),
    attempts  INTEGER NOT NULL,
    error     TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX webhook_failures_by_time ON webhook_failures(id);
