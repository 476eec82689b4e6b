-- What the approver approved, pinned to the deployment it queued: the digest of both
-- stacks' rendered templates and parameters, and those (JSON) to show what changed when
-- the deployment would apply something else. NULL for jobs queued before this existed.
ALTER TABLE deployments ADD COLUMN approved_digest TEXT;
ALTER TABLE deployments ADD COLUMN approved_stacks TEXT;
