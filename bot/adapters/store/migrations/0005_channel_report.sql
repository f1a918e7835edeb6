-- Events from the incident channel (Slack's Events API) and the incident report.

-- Every Events API delivery, stored on receipt (before the ack) by its event_id:
-- Slack's retries (X-Slack-Retry-Num) of an event already processed are acked and
-- skipped, and a retry of one never processed (the first try was lost, or the
-- process died or failed before finishing) is processed. `claimed_until` keeps two
-- deliveries (or replicas) from processing one event at once.
CREATE TABLE slack_events (
    event_id      text        PRIMARY KEY,
    type          text        NOT NULL,
    payload       jsonb       NOT NULL,
    received_at   timestamptz NOT NULL,
    deliveries    integer     NOT NULL DEFAULT 1,
    attempts      integer     NOT NULL DEFAULT 0,
    claimed_until timestamptz,
    processed_at  timestamptz,
    error         text
);
CREATE INDEX slack_events_unprocessed ON slack_events (received_at) WHERE processed_at IS NULL;

-- People's messages in incident channels as the events described them: the text of
-- the newest version seen (`text_at` orders out-of-order deliveries), edits,
-- deletions, pins. Text NULL: only a reaction or pin was seen so far.
CREATE TABLE channel_messages (
    channel    text        NOT NULL,
    ts         text        NOT NULL,
    thread_ts  text,
    user_id    text,
    text       text,
    text_at    timestamptz,
    posted_at  timestamptz NOT NULL,
    edited_at  timestamptz,
    deleted_at timestamptz,
    pinned_at  timestamptz,
    pinned_by  text,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE INDEX channel_messages_posted ON channel_messages (channel, posted_at);

-- Reactions on those messages (the playbook's marking reactions, 📌 by default).
CREATE TABLE channel_reactions (
    channel  text        NOT NULL,
    ts       text        NOT NULL,
    reaction text        NOT NULL,
    user_id  text        NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (channel, ts, reaction, user_id)
);

-- The incident report, every version: drafts (rebuilt on resolve, `/backlog report`
-- and as lessons arrive) and one final version (the "Finalise report" button).
CREATE TABLE incident_reports (
    incident_id bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    version     integer     NOT NULL,
    state       text        NOT NULL CHECK (state IN ('draft', 'final')),
    markdown    text        NOT NULL,
    document    jsonb       NOT NULL,
    built_at    timestamptz NOT NULL,
    built_by    text,
    PRIMARY KEY (incident_id, version)
);
CREATE UNIQUE INDEX incident_reports_one_final ON incident_reports (incident_id)
    WHERE state = 'final';
