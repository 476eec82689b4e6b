-- Personal API tokens for scripts. Only a SHA-256 of each token is kept: the token itself
-- is shown once, at creation. A revoked token stays listed (revoked_at) for the record.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id, id);
