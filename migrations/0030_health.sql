-- The APIs that have a live service: the health poller lists them every few seconds and
-- the dashboard shows them, so they are found without scanning every request.
CREATE INDEX requests_live ON requests(id)
    WHERE deployed_revision IS NOT NULL AND status NOT IN ('decommissioning', 'decommissioned');
