"""People acting in the workspace, for tests and the demo: post (in a thread too), edit,
delete, react, pin, join, invite, set the topic, archive.

Each changes the workspace as Slack would (the message's ``edited``, ``reactions``,
``pinned_to`` in ``conversations.history``) and, through :class:`~.actions.Actions`,
publishes the Events API event Slack would send the app. What a person could not do in
Slack (post where they are not a member, edit someone else's message) raises
:class:`ActionRefused` with Slack's error code.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.records import Channel, JSONDict, StoredMessage, _SlackError
from bot.emulators.slack.workspace import Workspace


class ActionRefused(Exception):
    """A person tried what Slack would refuse them; ``code`` is Slack's error."""

    def __init__(self, who: str, what: str, code: str) -> None:
        super().__init__(f"{who} cannot {what}: Slack says {code}")
        self.code = code


class People:
    def __init__(self, workspace: Workspace, actions: Actions) -> None:
        self._ws = workspace
        self._actions = actions

    def _who(self, user: str) -> str:
        if user != self._ws.bot_user_id and user not in self._ws.users:
            raise ActionRefused(user, "act", "user_not_found")
        return self._ws.user_name(user) or user

    def _in(self, user: str, channel: str, what: str) -> str:
        """The channel id, if ``user`` may write there: a member, not archived."""
        who = self._who(user)
        ws = self._ws
        try:
            channel_id = ws.resolve_channel(channel)
            ws.require_open(channel_id)
        except _SlackError as exc:
            raise ActionRefused(who, what, exc.code) from None
        if not ws.is_member(channel_id, user):
            raise ActionRefused(who, what, "not_in_channel")
        return channel_id

    def _message(self, user: str, channel: str, ts: str, what: str) -> StoredMessage:
        channel_id = self._in(user, channel, what)
        message = self._ws.find_message(channel_id, ts)
        if message is None:
            raise ActionRefused(self._who(user), what, "message_not_found")
        return message

    def _channel(self, user: str, channel: str, what: str) -> Channel:
        who = self._who(user)
        try:
            found = self._ws.channel(self._ws.resolve_channel(channel))
        except _SlackError as exc:
            raise ActionRefused(who, what, exc.code) from None
        if found is None:
            raise ActionRefused(who, what, "method_not_supported_for_channel_type")
        return found

    def _do(self, user: str, what: str, action: Callable[[], None]) -> None:
        """Run ``action()``, turning Slack's refusal into :class:`ActionRefused`."""
        try:
            action()
        except _SlackError as exc:
            raise ActionRefused(self._who(user), what, exc.code) from None

    # ---------------------------------------------------------------- messages

    def post(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[JSONDict] | None = None,
        reply_broadcast: bool = False,
    ) -> StoredMessage:
        """``user`` says ``text`` in ``channel`` (in ``thread_ts``'s thread if given)."""
        ws = self._ws
        channel_id = self._in(user, channel, "post")
        broadcast = thread_ts is not None and reply_broadcast
        message = StoredMessage(
            channel=channel_id,
            ts=ws.next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            user=user,
            reply_broadcast=broadcast,
            subtype="thread_broadcast" if broadcast else None,
        )
        self._actions.post(message)
        return message

    def edit(self, user: str, channel: str, ts: str, text: str) -> StoredMessage:
        """``user`` edits their own message: ``edited`` in history, ``message_changed``."""
        message = self._message(user, channel, ts, "edit")
        if message.user != user or message.is_system:
            raise ActionRefused(self._who(user), "edit", "cant_update_message")
        self._actions.edit(message, text, None, message.attachments, by=user)
        return message

    def delete(self, user: str, channel: str, ts: str) -> None:
        """``user`` deletes their own message: gone (or a tombstone), ``message_deleted``."""
        message = self._message(user, channel, ts, "delete")
        if message.user != user or message.is_system:
            raise ActionRefused(self._who(user), "delete", "cant_delete_message")
        self._actions.delete(message)

    def react(self, user: str, channel: str, ts: str, name: str) -> None:
        """``user`` adds the ``name`` reaction (e.g. ``"pushpin"``): ``reaction_added``."""
        message = self._message(user, channel, ts, f"react :{name}:")
        self._do(user, f"react :{name}:", lambda: self._actions.react(message, user, name))

    def unreact(self, user: str, channel: str, ts: str, name: str) -> None:
        message = self._message(user, channel, ts, f"remove :{name}:")
        self._do(user, f"remove :{name}:", lambda: self._actions.unreact(message, user, name))

    def pin(self, user: str, channel: str, ts: str) -> None:
        """``user`` pins the message: ``pinned_to`` in history, ``pin_added``."""
        message = self._message(user, channel, ts, "pin")
        found = self._channel(user, channel, "pin")
        self._do(user, "pin", lambda: self._actions.pin(found, message, user))

    def unpin(self, user: str, channel: str, ts: str) -> None:
        message = self._message(user, channel, ts, "unpin")
        found = self._channel(user, channel, "unpin")
        self._do(user, "unpin", lambda: self._actions.unpin(found, message, user))

    # ---------------------------------------------------------------- channels

    def join(self, user: str, channel: str) -> None:
        """``user`` joins a public channel: ``channel_join`` message, ``member_joined_channel``."""
        found = self._channel(user, channel, "join")
        if found.is_private:
            raise ActionRefused(self._who(user), "join", "channel_not_found")
        self._do(user, "join", lambda: self._actions.join(found, user))

    def invite(self, inviter: str, channel: str, user: str) -> None:
        """``inviter`` (a member, or the bot's user id) adds ``user`` to the channel."""
        found = self._channel(inviter, channel, "invite")
        if inviter not in found.members:
            raise ActionRefused(self._who(inviter), "invite", "not_in_channel")
        self._do(inviter, "invite", lambda: self._actions.join(found, user, inviter=inviter))

    def set_topic(self, user: str, channel: str, topic: str) -> None:
        channel_id = self._in(user, channel, "set the topic")
        found = self._ws.channel(channel_id)
        if found is not None:
            self._actions.set_text(found, user, "topic", topic)

    def archive(self, user: str, channel: str) -> None:
        """``user`` archives the channel: ``channel_archive`` (``group_archive`` if private)."""
        found = self._channel(user, channel, "archive")
        if found.is_archived:
            raise ActionRefused(self._who(user), "archive", "already_archived")
        self._actions.archive(found, user)

    def unarchive(self, user: str, channel: str) -> None:
        found = self._channel(user, channel, "unarchive")
        if not found.is_archived:
            raise ActionRefused(self._who(user), "unarchive", "not_archived")
        self._actions.archive(found, user, archived=False)
