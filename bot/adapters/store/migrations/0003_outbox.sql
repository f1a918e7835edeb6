-- Everything the bot says in Slack, written in the same transaction as the
-- state change that causes it, and delivered by the sender (bot/services/
-- delivery.py), which retries until Slack accepts and never posts twice.
--
-- A row is one Slack message (or file) as it should look now: writers bump
-- `version` with new content, the sender posts it once (`ts` is then known)
-- and edits it with chat.update until `delivered_version` catches up, so
-- updates coalesce. Rows with a `thread_key` are replies to another row's
-- message and wait until it has a `ts`.
CREATE TABLE slack_messages (
    id                bigserial   PRIMARY KEY,
    key               text        NOT NULL UNIQUE,
    incident_id       bigint      REFERENCES incidents (id) ON DELETE SET NULL,
    channel           text        NOT NULL,
    thread_key        text,
    kind              text        NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'file')),
    payload           jsonb       NOT NULL,
    content           bytea,
    version           integer     NOT NULL DEFAULT 1,
    delivered_version integer     NOT NULL DEFAULT 0,
    attempt_version   integer     NOT NULL DEFAULT 0,
    state             text        NOT NULL DEFAULT 'pending'
                                  CHECK (state IN ('pending', 'delivered', 'failed')),
    ts                text,
    posted_channel    text,
    attempts          integer     NOT NULL DEFAULT 0,
    -- An attempt whose outcome is unknown (timeout, dropped connection, crash
    -- mid-call): Slack may hold the message, so look for it before posting again.
    unconfirmed       boolean     NOT NULL DEFAULT false,
    not_before        timestamptz,
    error             text,
    notify_user       text,
    notify_channel    text,
    created_at        timestamptz NOT NULL,
    delivered_at      timestamptz
);
CREATE INDEX slack_messages_due ON slack_messages (channel, id) WHERE state = 'pending';
CREATE INDEX slack_messages_incident ON slack_messages (incident_id);

-- Alertmanager notifications as stored, so a re-send (same fingerprint,
-- startsAt and status) to any replica, after a restart or after the incident
-- was resolved, changes nothing.
CREATE TABLE alertmanager_alerts (
    fingerprint text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    status      text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    alertname   text        NOT NULL,
    received_at timestamptz NOT NULL,
    incident_id bigint      REFERENCES incidents (id) ON DELETE SET NULL,
    labels      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (fingerprint, starts_at, status)
);

-- What an action had done when it was cut off (e.g. a requeue's counts so
-- far), so an interrupted action can say what is known.
ALTER TABLE action_requests ADD COLUMN progress jsonb NOT NULL DEFAULT '{}';
