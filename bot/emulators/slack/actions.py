"""What happens in the workspace, whoever does it (the bot through the API, or a person in a
test): the state changes as Slack's does, the observer is told, and the Events API event
Slack would send is published.

Events follow Slack's reference pages (docs.slack.dev/reference/events/...): ``message``
(with the ``message_changed``/``message_deleted`` subtypes), ``reaction_added``/
``reaction_removed``, ``pin_added``/``pin_removed``, ``member_joined_channel``,
``channel_created``, ``channel_archive``/``channel_unarchive`` (``group_*`` for private
channels). An app gets the events of conversations its bot is in, and the public
channel events of the workspace.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.emulators.slack.messages import channel_type, message_json
from bot.emulators.slack.records import (
    Channel,
    ChannelText,
    EventKind,
    JSONDict,
    MessageVersion,
    Pin,
    StoredMessage,
    _SlackError,
)
from bot.emulators.slack.workspace import Workspace

Publish = Callable[[JSONDict], None]
TOMBSTONE_TEXT = "This message was deleted."


class Actions:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self.publish: Publish = lambda event: None
        """Where events go: set by the Events API delivery (:mod:`.events`)."""

    def _send(self, event: JSONDict, channel_id: str, *, public: bool = False) -> None:
        """Publish ``event`` if the app can see ``channel_id`` (its bot is in it)."""
        ws = self._ws
        channel = ws.channel(channel_id)
        visible = ws.is_member(channel_id, ws.bot_user_id)
        if public and channel is not None and not channel.is_private:
            visible = True
        if visible:
            self.publish(event)

    # ---------------------------------------------------------------- messages

    def post(
        self, message: StoredMessage, *, kind: EventKind = "post", tag: str | None = None
    ) -> None:
        ws = self._ws
        ws.store_message(message)
        ws.emit(kind, message, tag)
        self._send(message_json(ws, message, include_metadata=False, event=True), message.channel)

    def edit(
        self,
        message: StoredMessage,
        text: str,
        blocks: list[JSONDict] | None,
        attachments: list[JSONDict] | None,
        *,
        by: str,
        tag: str | None = None,
    ) -> None:
        """Replace a message's content, keeping the old version in ``message.edits``."""
        ws = self._ws
        previous = message_json(ws, message, include_metadata=False, event=True)
        message.edits.append(
            MessageVersion(message.text, message.blocks, message.attachments, message.edited_ts)
        )
        message.text, message.blocks, message.attachments = text, blocks, attachments
        message.edited_ts = ws.next_ts()
        message.edited_by = by
        ws.emit("response" if tag is not None else "update", message, tag)
        current = message_json(ws, message, include_metadata=False, event=True)
        for key in ("channel", "event_ts", "channel_type"):
            previous.pop(key, None)
            current.pop(key, None)
        self._send(
            {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "channel": message.channel,
                "message": current,
                "previous_message": previous,
                "ts": message.edited_ts,
                "event_ts": message.edited_ts,
                "channel_type": channel_type(ws, message.channel),
            },
            message.channel,
        )

    def delete(self, message: StoredMessage, *, tag: str | None = None) -> None:
        """Remove a message; a thread's parent stays as Slack's tombstone while it has replies."""
        ws = self._ws
        previous = message_json(ws, message, include_metadata=False, event=True)
        for key in ("channel", "event_ts", "channel_type"):
            previous.pop(key, None)
        for channel_id in message.pinned_to:  # a deleted message is no longer pinned
            channel = ws.channel(channel_id)
            if channel is not None:
                channel.pins = [p for p in channel.pins if p.ts != message.ts]
        message.pinned_to = []
        if ws.replies_to(message):
            message.edits.append(
                MessageVersion(message.text, message.blocks, message.attachments, message.edited_ts)
            )
            message.text, message.blocks, message.attachments = TOMBSTONE_TEXT, None, None
            message.subtype, message.user, message.bot_id = "tombstone", "USLACKBOT", None
            message.reactions.clear()
        else:
            ws.remove_message(message)
        ws.emit("delete", message, tag)
        event_ts = ws.next_ts()
        self._send(
            {
                "type": "message",
                "subtype": "message_deleted",
                "hidden": True,
                "channel": message.channel,
                "ts": event_ts,
                "deleted_ts": message.ts,
                "event_ts": event_ts,
                "previous_message": previous,
                "channel_type": channel_type(ws, message.channel),
            },
            message.channel,
        )

    # ---------------------------------------------------------------- reactions and pins

    def react(self, message: StoredMessage, user: str, name: str) -> None:
        users = message.reactions.setdefault(name, [])
        if user in users:
            raise _SlackError("already_reacted")
        users.append(user)
        self._item_event("reaction_added", message, user, name)

    def unreact(self, message: StoredMessage, user: str, name: str) -> None:
        users = message.reactions.get(name, [])
        if user not in users:
            raise _SlackError("no_reaction")
        users.remove(user)
        if not users:
            del message.reactions[name]
        self._item_event("reaction_removed", message, user, name)

    def _item_event(self, kind: str, message: StoredMessage, user: str, name: str) -> None:
        ws = self._ws
        shown: EventKind = "reaction_added" if kind == "reaction_added" else "reaction_removed"
        ws.emit(shown, message, actor=user, detail=name)
        event = {
            "type": kind,
            "user": user,
            "reaction": name,
            "item_user": message.user,
            "item": {"type": "message", "channel": message.channel, "ts": message.ts},
            "event_ts": ws.next_ts(),
        }
        self._send(event, message.channel)

    def pin(self, channel: Channel, message: StoredMessage, user: str) -> None:
        if any(p.ts == message.ts for p in channel.pins):
            raise _SlackError("already_pinned")
        if message.is_system:
            raise _SlackError("not_pinnable")
        ws = self._ws
        channel.pins.append(Pin(message.ts, ws.now(), user))
        message.pinned_to.append(channel.id)
        ws.emit("pin_added", message, actor=user)
        self._pin_event("pin_added", channel, message, user)

    def unpin(self, channel: Channel, message: StoredMessage, user: str) -> None:
        pin = next((p for p in channel.pins if p.ts == message.ts), None)
        if pin is None:
            raise _SlackError("no_pin")
        channel.pins.remove(pin)
        message.pinned_to.remove(channel.id)
        self._ws.emit("pin_removed", message, actor=user)
        self._pin_event("pin_removed", channel, message, user)

    def _pin_event(self, kind: str, channel: Channel, message: StoredMessage, user: str) -> None:
        ws = self._ws
        now = ws.now()
        event: JSONDict = {
            "type": kind,
            "user": user,
            "channel_id": channel.id,
            "item": {
                "type": "message",
                "created": now,
                "created_by": user,
                "channel": channel.id,
                "message": message_json(ws, message, include_metadata=False),
            },
            "item_user": message.user,
            "pin_count": len(channel.pins),
            "pinned_info": {"channel": channel.id, "pinned_by": user, "pinned_ts": now},
            "event_ts": ws.next_ts(),
        }
        if kind == "pin_removed":
            event["has_pins"] = bool(channel.pins)
        self._send(event, channel.id)

    # ---------------------------------------------------------------- channels

    def create_channel(self, channel: Channel) -> None:
        """Announce a channel just added to the workspace, with its creator joined."""
        ws = self._ws
        if not channel.is_private:
            info = {"id": channel.id, "name": channel.name, "created": channel.created}
            info["creator"] = channel.creator
            self._send(
                {"type": "channel_created", "channel": info, "event_ts": ws.next_ts()},
                channel.id,
                public=True,
            )
        for member in channel.members:
            self._joined(channel, member, inviter=None)

    def join(self, channel: Channel, user: str, *, inviter: str | None = None) -> None:
        if user in channel.members:
            raise _SlackError("already_in_channel")
        channel.members.append(user)
        self._joined(channel, user, inviter=inviter)

    def _joined(self, channel: Channel, user: str, *, inviter: str | None) -> None:
        ws = self._ws
        extra: JSONDict = {"inviter": inviter} if inviter else {}
        self.post(
            StoredMessage(
                channel=channel.id,
                ts=ws.next_ts(),
                text=f"<@{user}> has joined the channel",
                user=user,
                subtype="channel_join",
                extra=extra,
            )
        )
        event: JSONDict = {
            "type": "member_joined_channel",
            "user": user,
            "channel": channel.id,
            "channel_type": "G" if channel.is_private else "C",
            "team": ws.team_id,
            "event_ts": ws.next_ts(),
        }
        if inviter:
            event["inviter"] = inviter
        self._send(event, channel.id)

    def set_text(self, channel: Channel, user: str, which: str, value: str) -> None:
        """Set the topic or purpose, and say so in the channel as Slack does."""
        ws = self._ws
        setattr(channel, which, ChannelText(value, user, ws.now()))
        verb = f"set the channel {which}"
        self.post(
            StoredMessage(
                channel=channel.id,
                ts=ws.next_ts(),
                text=f"{verb}: {value}" if value else f"cleared the channel {which}",
                user=user,
                subtype=f"channel_{which}",
                extra={which: value},
            )
        )

    def archive(self, channel: Channel, user: str, *, archived: bool = True) -> None:
        ws = self._ws
        if archived:
            self.post(
                StoredMessage(
                    channel=channel.id,
                    ts=ws.next_ts(),
                    text=f"<@{user}> archived the channel",
                    user=user,
                    subtype="channel_archive",
                )
            )
        channel.is_archived = archived
        prefix = "group" if channel.is_private else "channel"
        kind = f"{prefix}_{'archive' if archived else 'unarchive'}"
        event: JSONDict = {"type": kind, "channel": channel.id, "user": user}
        if archived and not channel.is_private:
            event["is_moved"] = 0
        event["event_ts"] = ws.next_ts()
        self._send(event, channel.id, public=True)
