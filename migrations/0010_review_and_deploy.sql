-- Review: decisions and comments, each bound to the revision it was made on.
CREATE TABLE request_notes (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    revision   INTEGER NOT NULL,
    author     TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('comment', 'approved', 'rejected', 'changes_requested',
                                             'decommission_requested', 'retried')),
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX request_notes_by_request ON request_notes(request_id, id);

-- The revision that is live on AWS (NULL until the first deployment succeeds), the
-- service stack's outputs and, when the last deployment failed, why.
ALTER TABLE requests ADD COLUMN deployed_revision INTEGER;
ALTER TABLE requests ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE requests ADD COLUMN status_reason TEXT;
CREATE INDEX requests_queue ON requests(status, id) WHERE status IN ('pending_review', 'decommission_requested');

-- Durable deployment jobs: the worker resumes every unfinished one after a restart.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    revision    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('deploy', 'decommission')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    error       TEXT,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX deployments_by_request ON deployments(request_id, id);
CREATE INDEX deployments_unfinished ON deployments(status) WHERE status IN ('pending', 'running');

-- What each deployment did to each stack.
CREATE TABLE deployment_stacks (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id),
    kind          TEXT NOT NULL CHECK (kind IN ('cluster', 'service')),
    stack_name    TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT,
    started_at    TEXT NOT NULL,
    PRIMARY KEY (deployment_id, kind)
);

-- Everything a request page shows live, in one ordered feed: CloudFormation stack events
-- (kept after the stacks are gone) and deployment status changes. `seq` is the SSE id.
CREATE TABLE request_events (
    seq           INTEGER PRIMARY KEY,
    request_id    INTEGER NOT NULL REFERENCES requests(id),
    deployment_id INTEGER REFERENCES deployments(id),
    kind          TEXT NOT NULL CHECK (kind IN ('stack', 'deployment')),
    event_id      TEXT,
    stack_name    TEXT,
    logical_id    TEXT,
    resource_type TEXT,
    status        TEXT NOT NULL,
    reason        TEXT,
    timestamp     TEXT NOT NULL
);
CREATE UNIQUE INDEX request_events_once ON request_events(request_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX request_events_by_request ON request_events(request_id, seq);
