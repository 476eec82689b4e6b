-- Tenancy and access safety (issue 14).

-- Service stacks and target groups are now named `berth-<env>--<service>` and
-- `<env>--<service>`, which no two APIs (and no cluster stack) can share. Requests made
-- before keep the names their stacks already have: renaming would replace the stacks.
ALTER TABLE requests ADD COLUMN legacy_names INTEGER NOT NULL DEFAULT 0;
UPDATE requests SET legacy_names = 1;

-- Who asked for the pending decommission: they may not approve it (four eyes).
ALTER TABLE requests ADD COLUMN decommission_requested_by INTEGER REFERENCES users(id);

-- This Berth's identity, tagged on every stack it creates, so that it never changes a
-- stack made by hand or by another Berth in the same account.
CREATE TABLE installation (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    berth_id TEXT NOT NULL
);
INSERT INTO installation (id, berth_id) VALUES (1, lower(hex(randomblob(16))));

-- Environment (cluster stack) changes wait for a second approver; `input` is the
-- environment as it will be. At most one change per environment waits at a time.
CREATE TABLE environment_changes (
    id           INTEGER PRIMARY KEY,
    environment  TEXT NOT NULL REFERENCES environments(name),
    input        TEXT NOT NULL,
    requested_by INTEGER NOT NULL REFERENCES users(id),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by   INTEGER REFERENCES users(id),
    reason       TEXT,
    created_at   TEXT NOT NULL,
    decided_at   TEXT
);
CREATE UNIQUE INDEX environment_changes_one_pending ON environment_changes(environment) WHERE status = 'pending';

-- Bumped whenever a user's password, role or team changes or the account is disabled:
-- sessions signed in under an older value end at their next request.
ALTER TABLE users ADD COLUMN credentials_version INTEGER NOT NULL DEFAULT 1;

-- Tokens expire. Those made before expiries existed get the default lifetime, 90 days
-- from their creation.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
UPDATE api_tokens SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', created_at, '+90 days') WHERE expires_at IS NULL;

-- The audit log names Berth's own actors `berth`, `system` and `cli`; an account of that
-- name would read as theirs (and see their rows). Such accounts are disabled; the names
-- are reserved from now on.
UPDATE users SET disabled = 1, credentials_version = credentials_version + 1
    WHERE username IN ('berth', 'system', 'cli', 'root', 'anonymous', 'unknown');
