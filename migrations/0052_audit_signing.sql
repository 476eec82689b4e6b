-- The audit log against someone holding the database file:
-- - ids are never reused (AUTOINCREMENT): rows cut off the end leave their ids behind;
-- - each row carries `signature`, an HMAC of its hash under a key kept outside the database
--   (NULL on rows written before signing existed), so a chain hashed again after an edit
--   no longer checks out;
-- - signed checkpoints record how many rows the log had and its last hash.
CREATE TABLE audit_log_signed (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    request_id   INTEGER,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    signature    TEXT
);
INSERT INTO audit_log_signed (id, at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash)
    SELECT id, at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash FROM audit_log;
-- Dropping the table drops its indexes and triggers (DROP fires no DELETE trigger).
DROP TABLE audit_log;
ALTER TABLE audit_log_signed RENAME TO audit_log;
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

CREATE TABLE audit_checkpoints (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    last_id   INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
