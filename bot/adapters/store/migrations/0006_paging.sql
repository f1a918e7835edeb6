-- Escalation that reaches people outside Slack, and the facts its triggers measure
-- (issue 11). Times are the bot's clock, like everywhere else.

-- A page remembers when it fell due and what caused it (a tier's timer, a runbook
-- trigger, a person), so one sent after a restart says how late it is.
ALTER TABLE pages ADD COLUMN due_at timestamptz;
ALTER TABLE pages ADD COLUMN cause text NOT NULL DEFAULT 'manual'
    CHECK (cause IN ('timer', 'trigger', 'manual'));

-- Pages to pagers outside Slack (PagerDuty Events API v2, generic webhooks): an
-- outbox of their own, written in the same transaction as the page, the
-- acknowledgement or the resolution that causes them, and delivered by
-- bot/services/page_sender.py until the pager accepts or refuses.
--
-- A stream is one (incident, target): its rows go out in id order (trigger, then
-- acknowledge, then resolve), and a row waiting for a retry holds back the rows
-- after it, because PagerDuty drops an acknowledge for an alert it has not opened.
-- The target is the environment variable holding the routing key or URL: the
-- secret itself is never stored. A sender claims a row by setting claimed_until
-- (a lease on the bot's clock), so two replicas never send the same row at once.
CREATE TABLE page_deliveries (
    id            bigserial   PRIMARY KEY,
    incident_id   bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    tier          integer,
    target_kind   text        NOT NULL CHECK (target_kind IN ('pagerduty', 'webhook')),
    target_env    text        NOT NULL,
    action        text        NOT NULL CHECK (action IN ('trigger', 'acknowledge', 'resolve')),
    dedup_key     text        NOT NULL,
    content       jsonb       NOT NULL DEFAULT '{}',
    channel       text        NOT NULL,
    state         text        NOT NULL DEFAULT 'pending'
                              CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    not_before    timestamptz,
    claimed_by    text,
    claimed_until timestamptz,
    error         text,
    created_at    timestamptz NOT NULL,
    delivered_at  timestamptz
);
CREATE INDEX page_deliveries_pending
    ON page_deliveries (incident_id, target_kind, target_env, id) WHERE state = 'pending';
-- One trigger per (incident, tier, target), whoever pages it.
CREATE UNIQUE INDEX page_deliveries_one_trigger
    ON page_deliveries (incident_id, tier, target_kind, target_env) WHERE action = 'trigger';

-- PagerDuty v3 webhook events already processed: PagerDuty delivers at least once,
-- each redelivery with the same event id.
CREATE TABLE pagerduty_webhook_events (
    event_id    text        PRIMARY KEY,
    event_type  text        NOT NULL,
    received_at timestamptz NOT NULL,
    incident_id bigint      REFERENCES incidents (id) ON DELETE CASCADE,
    result      text        NOT NULL
);

-- The age of each queue's oldest waiting job, read with the depth samples (kept as
-- long as the raw samples, 48 h). age_seconds NULL with no error: the queue was empty.
CREATE TABLE job_ages (
    playbook    text             NOT NULL,
    queue       text             NOT NULL,
    at          timestamptz      NOT NULL,
    age_seconds double precision,
    error       text,
    PRIMARY KEY (playbook, queue, at)
);

-- What the external-API trigger saw of each vendor's calls in the workers' logs.
CREATE TABLE vendor_observations (
    playbook text        NOT NULL,
    vendor   text        NOT NULL,
    at       timestamptz NOT NULL,
    calls    integer     NOT NULL,
    failures integer     NOT NULL,
    error    text,
    PRIMARY KEY (playbook, vendor, at)
);
