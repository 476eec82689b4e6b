-- The plan each approver was last shown for a request's revision or an environment change
-- (CloudFormation's change sets, as JSON), so that an approval's audit row keeps what its
-- approver saw when deciding. One row per subject and approver: a new look replaces it.
CREATE TABLE plans_seen (
    subject TEXT NOT NULL,   -- 'request:<id>:<revision>' or 'environment-change:<id>'
    actor TEXT NOT NULL,     -- username
    plan TEXT NOT NULL,      -- the plan as the API answered it
    seen_at TEXT NOT NULL,
    PRIMARY KEY (subject, actor)
);
