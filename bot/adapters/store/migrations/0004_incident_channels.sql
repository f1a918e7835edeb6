-- An incident's own Slack channel, its living alert and its recovery.
--
-- incidents.channel is where the incident lives: the channel the bot created for
-- it, or the announcement channel (fixed mode, or when creation was refused:
-- channel_status says which). Until it is known, messages addressed to
-- "incident:<id>" wait in the outbox.
ALTER TABLE incidents
    ADD COLUMN channel_status text NOT NULL DEFAULT 'fixed'
        CHECK (channel_status IN ('pending', 'dedicated', 'fallback', 'fixed')),
    ADD COLUMN channel_name   text,
    ADD COLUMN channel_note   text,
    -- Recovery (bot/domain/alert_state.py): since when every watched queue has been
    -- at or below its clear level, and whether that was announced.
    ADD COLUMN clear_since    timestamptz,
    ADD COLUMN recovery_announced_at timestamptz,
    -- The phase the alert last showed, so a change of phase is shown at once.
    ADD COLUMN alert_phase    text NOT NULL DEFAULT 'firing',
    ADD COLUMN report_link    text;

-- New kinds of outbox rows, delivered in the same order and with the same
-- guarantees as messages: 'channel' creates an incident's channel
-- (conversations.create), 'call' is an idempotent Web API call on it
-- (setTopic, setPurpose, invite, pins.add, bookmarks.add, archive).
ALTER TABLE slack_messages DROP CONSTRAINT slack_messages_kind_check;
ALTER TABLE slack_messages ADD CONSTRAINT slack_messages_kind_check
    CHECK (kind IN ('message', 'file', 'channel', 'call'));

-- A message edited at most once per min_interval_s seconds (a living alert fed by
-- samples); an urgent version (a change of state) skips the wait once.
ALTER TABLE slack_messages
    ADD COLUMN min_interval_s integer,
    ADD COLUMN edited_at      timestamptz,
    ADD COLUMN urgent         boolean NOT NULL DEFAULT false;
