-- Environments in other AWS accounts: the IAM role Berth assumes there for every call of
-- the environment (deployments, plans, events, health), and the external id its trust
-- policy asks for. NULL: Berth's own account and credentials, as before.
ALTER TABLE environments ADD COLUMN role_arn TEXT;
ALTER TABLE environments ADD COLUMN external_id TEXT;
