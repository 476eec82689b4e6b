-- The last drift detection of each live API's service stack: its verdict, the resources
-- that differ (JSON: [{logical_id, resource_type, status, differences}]), or why the check
-- did not finish. One row per request, replaced by each check.
CREATE TABLE drift_checks (
    request_id INTEGER PRIMARY KEY REFERENCES requests (id),
    stack_name TEXT NOT NULL,
    status TEXT NOT NULL,
    resources TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    checked_at TEXT NOT NULL
);
