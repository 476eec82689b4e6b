-- Accounts. Usernames compare case-insensitively so "Alice" cannot shadow "alice".
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'admin')),
    team          TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- One cluster stack each.
CREATE TABLE environments (
    name             TEXT PRIMARY KEY,
    region           TEXT NOT NULL,
    instance_type    TEXT NOT NULL,
    desired_capacity INTEGER NOT NULL,
    max_size         INTEGER NOT NULL,
    ecs_ami          TEXT,
    -- Listener rules this environment's load balancer may hold (the ALB quota is 100).
    rule_capacity    INTEGER NOT NULL DEFAULT 100,
    status           TEXT NOT NULL DEFAULT 'not_deployed'
                     CHECK (status IN ('not_deployed', 'deploying', 'ready', 'failed')),
    outputs          TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- One row per public API; its parameters live in request_revisions. service_name, path
-- and priority are copied here so that the partial unique indexes below can hold each of
-- them once per environment while the request is alive.
CREATE TABLE requests (
    id           INTEGER PRIMARY KEY,
    environment  TEXT NOT NULL REFERENCES environments(name),
    service_name TEXT NOT NULL,
    path         TEXT NOT NULL,
    priority     INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 50000),
    team         TEXT NOT NULL,
    requested_by INTEGER NOT NULL REFERENCES users(id),
    status       TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE UNIQUE INDEX requests_service_name_live ON requests(environment, service_name)
    WHERE status NOT IN ('rejected', 'decommissioned');
CREATE UNIQUE INDEX requests_path_live ON requests(environment, path)
    WHERE status NOT IN ('rejected', 'decommissioned');
CREATE UNIQUE INDEX requests_priority_live ON requests(environment, priority)
    WHERE status NOT IN ('rejected', 'decommissioned');
-- The list is newest first (by id) under any one filter.
CREATE INDEX requests_by_team ON requests(team, id);
CREATE INDEX requests_by_status ON requests(status, id);
CREATE INDEX requests_by_environment ON requests(environment, id);
CREATE INDEX requests_by_requester ON requests(requested_by, id);

CREATE TABLE request_revisions (
    request_id INTEGER NOT NULL REFERENCES requests(id),
    revision   INTEGER NOT NULL,
    parameters TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (request_id, revision)
);

-- Append-only and hash-chained: each row's hash covers its content and the previous hash.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    request_id   INTEGER,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_by_actor ON audit_log(actor, id);
CREATE INDEX audit_by_action ON audit_log(action, id);
CREATE INDEX audit_by_request ON audit_log(request_id, id);
CREATE INDEX audit_by_time ON audit_log(at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
