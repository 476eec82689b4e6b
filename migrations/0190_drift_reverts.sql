-- A revision that brings a deployed API's drifted resources back: its parameters are the
-- deployed revision's, and its deployment sets the drifted properties back to the template
-- (a drift-aware change set). Every earlier revision is an ordinary change.
ALTER TABLE request_revisions ADD COLUMN reverts_drift INTEGER NOT NULL DEFAULT 0;
