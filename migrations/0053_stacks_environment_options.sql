-- Options of an environment's load balancer and cluster (cluster stack parameters
-- CertificateArn, AccessLogsBucket, DeletionProtection, ContainerInsights). Container
-- Insights is on unless turned off; an existing environment's next deployment shows the
-- change in its plan.
ALTER TABLE environments ADD COLUMN certificate_arn TEXT;
ALTER TABLE environments ADD COLUMN access_logs_bucket TEXT;
ALTER TABLE environments ADD COLUMN deletion_protection INTEGER NOT NULL DEFAULT 0;
ALTER TABLE environments ADD COLUMN container_insights INTEGER NOT NULL DEFAULT 1;
