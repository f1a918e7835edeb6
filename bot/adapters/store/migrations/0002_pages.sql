-- Escalation pages: one row per (incident, tier), so each tier is paged once
-- even when several replicas evaluate the schedule at the same moment.
CREATE TABLE pages (
    incident_id bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    tier        integer     NOT NULL,
    reason      text        NOT NULL,
    paged_at    timestamptz NOT NULL,
    paged_by    text        NOT NULL,
    PRIMARY KEY (incident_id, tier)
);
