-- Incidents, their timeline, action requests with approvals, the audit log and
-- queue samples. Times are written by the bot's clock, never by now(), so that
-- simulated time (the demo) and tests stay consistent.

CREATE TABLE incidents (
    id                    bigserial PRIMARY KEY,
    playbook              text        NOT NULL,
    title                 text        NOT NULL,
    severity              text        NOT NULL,
    state                 text        NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    rule                  text        NOT NULL,
    queue                 text        NOT NULL,
    detected_at           timestamptz NOT NULL,
    peak_depth            bigint      NOT NULL DEFAULT 0,
    peak_queue            text        NOT NULL,
    peak_at               timestamptz,
    acknowledged_at       timestamptz,
    acknowledged_by       text,
    mitigation_started_at timestamptz,
    resolved_at           timestamptz,
    resolved_by           text,
    root_cause            text,
    channel               text,
    message_ts            text
);
-- One open incident per playbook: a second replica's insert loses the race.
CREATE UNIQUE INDEX incidents_one_open_per_playbook
    ON incidents (playbook) WHERE state <> 'resolved';

CREATE TABLE timeline_events (
    id          bigserial   PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    actor       text,
    text        text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_events_incident ON timeline_events (incident_id, at, id);

CREATE TABLE action_requests (
    id           uuid        PRIMARY KEY,
    incident_id  bigint      REFERENCES incidents (id) ON DELETE SET NULL,
    kind         text        NOT NULL,
    params       jsonb       NOT NULL,
    summary      text        NOT NULL,
    details      jsonb       NOT NULL DEFAULT '[]',
    requested_by text        NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    state        text        NOT NULL CHECK (state IN
                     ('pending', 'executing', 'succeeded', 'failed', 'denied', 'expired')),
    denied_by    text,
    executed_at  timestamptz,
    finished_at  timestamptz,
    result       jsonb       NOT NULL DEFAULT '{}',
    error        text,
    channel      text,
    message_ts   text
);
CREATE INDEX action_requests_incident ON action_requests (incident_id, requested_at);

CREATE TABLE approvals (
    request_id uuid        NOT NULL REFERENCES action_requests (id) ON DELETE CASCADE,
    approver   text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE TABLE audit_log (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    target  text        NOT NULL,
    outcome text        NOT NULL,
    details jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Raw samples are kept for 48 hours, then folded into hourly rows kept for
-- 90 days (see Store.prune_samples), so neither table grows without bound.
CREATE TABLE queue_samples (
    playbook text        NOT NULL,
    queue    text        NOT NULL,
    at       timestamptz NOT NULL,
    depth    bigint      NOT NULL,
    PRIMARY KEY (playbook, queue, at)
);
CREATE INDEX queue_samples_at ON queue_samples (at);

CREATE TABLE queue_samples_hourly (
    playbook  text             NOT NULL,
    queue     text             NOT NULL,
    hour      timestamptz      NOT NULL,
    max_depth bigint           NOT NULL,
    avg_depth double precision NOT NULL,
    samples   integer          NOT NULL,
    PRIMARY KEY (playbook, queue, hour)
);
