-- A deployment job is claimed in the database by the process that runs it, for a limited
-- time renewed while it works: two Berth processes on one database file never run the same
-- job at once, and a job whose owner died is taken over once its lease has expired.
ALTER TABLE deployments ADD COLUMN lease_owner TEXT;
ALTER TABLE deployments ADD COLUMN lease_expires_at TEXT;
