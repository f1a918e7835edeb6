"""Events API events as changes to people's messages (bot/adapters/slack/channel_events.py),
and the manifest subscribing to them with the scopes they need."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.adapters.slack.channel_events import SUBSCRIBED_EVENTS, channel_changes
from bot.domain.report import ChangeKind, ts_time
from bot.emulators.slack.scopes import needed_scopes

BOT = {"bot_id": "B0001", "bot_user_id": "UBOT"}
MANIFEST = Path(__file__).parents[2] / "manifest.yml"


def test_a_persons_message_and_its_edit_and_deletion():
    posted = {
        "type": "message",
        "channel": "C1",
        "user": "UALICE",
        "text": "a &lt;b&gt; &amp; c",
        "ts": "1795856400.000100",
        "thread_ts": "1795856000.000001",
    }
    [change] = channel_changes(posted, **BOT)
    assert (change.kind, change.text, change.user, change.thread_ts) == (
        ChangeKind.POSTED,
        "a <b> & c",  # as typed: Slack's entities turned back
        "UALICE",
        "1795856000.000001",
    )
    assert change.at == ts_time("1795856400.000100")
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "message": {**posted, "text": "new", "edited": {"user": "UALICE", "ts": "1795856460.0"}},
    }
    [change] = channel_changes(edited, **BOT)
    assert (change.kind, change.text, change.at) == (
        ChangeKind.EDITED,
        "new",
        ts_time("1795856460.0"),
    )
    unfurled = {**edited, "message": {**posted, "attachments": [{}]}}  # not an edit
    assert channel_changes(unfurled, **BOT)[0].kind is ChangeKind.POSTED
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "deleted_ts": posted["ts"],
        "event_ts": "1795856500.000001",
        "previous_message": posted,
    }
    [change] = channel_changes(deleted, **BOT)
    assert (change.kind, change.ts) == (ChangeKind.DELETED, posted["ts"])


def test_the_bots_own_messages_and_slacks_notices_are_left_out():
    ours = {"type": "message", "channel": "C1", "bot_id": "B0001", "text": "alert", "ts": "1.0"}
    other_app = {**ours, "bot_id": "B0OTHER", "subtype": "bot_message"}
    joined = {
        "type": "message",
        "subtype": "channel_join",
        "channel": "C1",
        "user": "U1",
        "ts": "2.0",
    }
    changed = {"type": "message", "subtype": "message_changed", "channel": "C1", "message": ours}
    removed = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "deleted_ts": "1.0",
        "previous_message": ours,
    }
    reaction_on_ours = {
        "type": "reaction_added",
        "user": "UALICE",
        "reaction": "pushpin",
        "item_user": "UBOT",
        "item": {"type": "message", "channel": "C1", "ts": "1.0"},
        "event_ts": "3.0",
    }
    pin_of_ours = {
        "type": "pin_added",
        "user": "UALICE",
        "channel_id": "C1",
        "item": {"type": "message", "channel": "C1", "message": ours},
        "event_ts": "4.0",
    }
    for event in (ours, other_app, joined, changed, removed, reaction_on_ours, pin_of_ours):
        assert channel_changes(event, **BOT) == [], event
    assert channel_changes({"type": "member_joined_channel", "user": "U1"}, **BOT) == []


def test_reactions_and_pins():
    item = {"type": "message", "channel": "C1", "ts": "1795856400.000100"}
    added = {
        "type": "reaction_added",
        "user": "UBOB",
        "reaction": "pushpin",
        "item_user": "UALICE",
        "item": item,
        "event_ts": "1795856401.000000",
    }
    [change] = channel_changes(added, **BOT)
    assert (change.kind, change.user, change.author, change.reaction) == (
        ChangeKind.REACTED,
        "UBOB",
        "UALICE",
        "pushpin",
    )
    [change] = channel_changes({**added, "type": "reaction_removed"}, **BOT)
    assert change.kind is ChangeKind.UNREACTED
    message = {"type": "message", "user": "UALICE", "text": "the cause", "ts": item["ts"]}
    pinned = {
        "type": "pin_added",
        "user": "UBOB",
        "channel_id": "C1",
        "item": {"type": "message", "channel": "C1", "message": message},
        "event_ts": "1795856402.000000",
    }
    [change] = channel_changes(pinned, **BOT)
    assert (change.kind, change.text, change.author, change.user) == (
        ChangeKind.PINNED,
        "the cause",
        "UALICE",
        "UBOB",
    )
    assert channel_changes({**pinned, "type": "pin_removed"}, **BOT)[0].kind is ChangeKind.UNPINNED


def test_the_manifest_subscribes_to_the_events_with_the_scopes_they_need():
    manifest = yaml.safe_load(MANIFEST.read_text())
    subscriptions = manifest["settings"]["event_subscriptions"]
    assert tuple(subscriptions["bot_events"]) == SUBSCRIBED_EVENTS
    assert subscriptions["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # Slack's event reference: the scope each subscription requires.
    needed_by_events = {
        "message.channels": "channels:history",
        "message.groups": "groups:history",
        "reaction_added": "reactions:read",
        "reaction_removed": "reactions:read",
        "pin_added": "pins:read",
        "pin_removed": "pins:read",
    }
    assert {needed_by_events[e] for e in SUBSCRIBED_EVENTS} <= scopes
    # What reading the channel back calls (bot/adapters/slack/history.py).
    for method, kind in [
        ("conversations.history", "public"),
        ("conversations.history", "private"),
        ("conversations.replies", "public"),
        ("conversations.replies", "private"),
        ("users.info", None),
    ]:
        assert set(needed_scopes(method, kind)) & scopes, method
