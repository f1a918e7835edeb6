-- Every executed action proves itself (issue 12): its effect check, what it
-- changed (for a rollback), and an emergency drain's recovery record.

-- An effect check per executed action, watched from the monitor's samples until
-- `watch_until`, so a restart resumes it. `numbers` holds the latest before/after
-- figures (bot.domain.effects.EffectNumbers); `verdict` is null while it waits.
CREATE TABLE effect_checks (
    request_id     uuid        PRIMARY KEY REFERENCES action_requests (id) ON DELETE CASCADE,
    incident_id    bigint      REFERENCES incidents (id) ON DELETE SET NULL,
    queue          text,
    channel        text        NOT NULL,
    action_at      timestamptz NOT NULL,
    effect_from    timestamptz NOT NULL,
    watch_until    timestamptz NOT NULL,
    workers_before integer,
    workers_known  boolean     NOT NULL DEFAULT false,
    threshold      bigint,
    state          text        NOT NULL CHECK (state IN ('watching', 'done')),
    verdict        text        CHECK (verdict IN ('helping', 'no effect', 'worse', 'failed', 'unknown')),
    reason         text        NOT NULL DEFAULT '',
    numbers        jsonb,
    verdict_at     timestamptz,
    said_at        timestamptz,
    finished_at    timestamptz
);
CREATE INDEX effect_checks_watching ON effect_checks (watch_until) WHERE state = 'watching';
CREATE INDEX effect_checks_incident ON effect_checks (incident_id, verdict_at);

-- What an action changed, recorded right after the change: the values before and
-- after and the object's resourceVersion/generation then (bot.domain.rollback.Change).
CREATE TABLE action_changes (
    request_id  uuid        PRIMARY KEY REFERENCES action_requests (id) ON DELETE CASCADE,
    change      jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL
);

-- An emergency drain's recovery record; the ids themselves are in Redis under the
-- bot's own keys (bot/adapters/queues/keys.py) until `expires_at`.
CREATE TABLE drain_recoveries (
    request_id     uuid        PRIMARY KEY REFERENCES action_requests (id) ON DELETE CASCADE,
    incident_id    bigint      REFERENCES incidents (id) ON DELETE SET NULL,
    job            text        NOT NULL,
    queue          text        NOT NULL,
    channel        text        NOT NULL,
    snapshotted    bigint      NOT NULL,
    taken          bigint,
    left_in_queue  bigint,
    in_flight      bigint,
    succeeded      boolean,
    pushed         bigint      NOT NULL DEFAULT 0,
    state          text        NOT NULL
                   CHECK (state IN ('snapshotted', 'counted', 'offered', 'reanalysed', 'expired')),
    snapshotted_at timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX drain_recoveries_open ON drain_recoveries (expires_at)
    WHERE state IN ('counted', 'offered');

-- A follow-up that must exist once (a rollback of an action, a re-analysis of a
-- drain) carries params.once: one may be pending, running or done at a time, so two
-- clicks or two replicas make one request; a failed, denied or expired one may be
-- asked again.
CREATE UNIQUE INDEX action_requests_once ON action_requests ((params ->> 'once'))
    WHERE params ? 'once' AND state IN ('pending', 'executing', 'succeeded');
