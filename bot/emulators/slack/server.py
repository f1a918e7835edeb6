"""A Slack Web API emulator on loopback for tests and the demo.

The real ``slack_sdk`` client talks to it over HTTP (pass :attr:`SlackEmulator.api_url` as
``base_url``). It answers the way Slack does, errors included: ``ok: false`` bodies with
Slack's error codes on HTTP 200, ``429`` with ``Retry-After`` when told to rate limit, and
``5xx`` when told to fail. Every call is recorded; messages, ephemerals, ``response_url``
posts and file uploads are kept so tests can assert what a user would have seen.

This module is the public facade; the HTTP side is :mod:`.api_server`, the methods live in
:mod:`.chat`, :mod:`.conversations`, :mod:`.channels`, :mod:`.items`, :mod:`.files` and
:mod:`.responses`, over the shared :class:`~.workspace.Workspace`; what changes it (and the
Events API events that follows) is :mod:`.actions`; people in tests act through
:attr:`SlackEmulator.people` (:mod:`.people`).

Everything runs on the event loop that started the emulator; there is no locking.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.api_server import ApiServer
from bot.emulators.slack.channels import ChannelMethods
from bot.emulators.slack.chat import ChatMethods
from bot.emulators.slack.conversations import ConversationMethods
from bot.emulators.slack.events import EventsApi
from bot.emulators.slack.faults import AfterFault, AfterKind
from bot.emulators.slack.files import FileMethods
from bot.emulators.slack.items import ItemMethods
from bot.emulators.slack.people import People
from bot.emulators.slack.records import (
    Channel,
    EmulatorEvent,
    RecordedResponse,
    SlackUserInfo,
    StoredMessage,
    StoredUpload,
    _Fault,
)
from bot.emulators.slack.responses import ResponseUrls
from bot.emulators.slack.workspace import Workspace


class SlackEmulator(ApiServer):
    """Slack's Web API (the methods the bot uses), served by aiohttp on loopback.

    Channels are given as ``{id: name}``: public, with the bot and every workspace member
    in them (:meth:`add_channel` makes others). A method may name a channel by id, by name
    or by ``#name`` (Slack accepts names in ``chat.postMessage`` and answers with the id).
    Posting to a known user id opens a DM channel ``D<user id>``.

    ``scopes`` are the bot token's OAuth scopes (default: every scope the emulated methods
    know, ``chat:write.public`` included); a method whose scope is missing answers
    ``missing_scope`` with ``needed``/``provided``, as Slack does.

    Beyond the API: :attr:`people` act in channels, :attr:`events` delivers the Events
    API to the app, :attr:`rate_limits` turns Slack's tiers on, ``fail_next`` /
    ``fail_after_storing`` / ``refuse`` inject failures, and the observer ``on_event``
    sees what a person would (the demo's transcript).
    """

    def __init__(
        self,
        *,
        bot_token: str,
        team_id: str = "T0001",
        team_name: str = "Backlog Bot Demo",
        team_domain: str = "backlog-bot-demo",
        bot_user_id: str = "UBOT",
        bot_id: str = "B0001",
        bot_name: str = "backlog-bot",
        app_id: str = "A0001",
        users: Mapping[str, SlackUserInfo] | None = None,
        channels: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        on_event: Callable[[EmulatorEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        app_token: str | None = None,
        scopes: Iterable[str] | None = None,
    ) -> None:
        super().__init__(bot_token=bot_token, app_token=app_token, app_id=app_id, clock=clock)
        self.workspace = Workspace(
            team_id=team_id,
            team_name=team_name,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            app_id=app_id,
            users=users,
            usergroups=usergroups,
            on_event=on_event,
            clock=clock,
            scopes=scopes,
        )
        for channel_id, name in (channels or {}).items():
            self.workspace.add_channel(channel_id, name)
        ws = self.workspace
        self.actions = Actions(ws)
        self.events = EventsApi(ws, self.socket_mode, self.notify)
        """The Events API: ``await emulator.events.configure(url, signing_secret)``."""
        self.actions.publish = self.events.publish
        self.people = People(ws, self.actions)
        """Act as people: ``emulator.people.post("U1", "#incidents", "on it")`` and more."""
        self._files = FileMethods(ws, self.actions, lambda: self.base_url)
        self._responses = ResponseUrls(ws, self.actions)
        for methods in (
            ChatMethods(ws, self.actions),
            ConversationMethods(ws),
            ChannelMethods(ws, self.actions),
            ItemMethods(ws, self.actions),
            self._files,
        ):
            self._handlers.update(methods.handlers())

    # ---------------------------------------------------------------- identity

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def team_domain(self) -> str:
        return self.workspace.team_domain

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    @property
    def bot_id(self) -> str:
        return self.workspace.bot_id

    @property
    def app_id(self) -> str:
        return self.workspace.app_id

    @property
    def on_event(self) -> Callable[[EmulatorEvent], None] | None:
        """Called with every :class:`EmulatorEvent` (the demo's live transcript)."""
        return self.workspace.on_event

    @on_event.setter
    def on_event(self, observer: Callable[[EmulatorEvent], None] | None) -> None:
        self.workspace.on_event = observer

    async def stop(self) -> None:
        await self.events.close()
        await super().stop()

    @property
    def uploads(self) -> list[StoredUpload]:
        return self._files.uploads

    def response_url(
        self,
        tag: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """An absolute URL that records what is POSTed to it, under ``tag``.

        With ``channel`` (and ``user`` for ephemeral replies, ``message_ts`` for
        ``replace_original``/``delete_original``) the post also acts the way Slack's
        response_url does: ``in_channel`` posts a message, ``ephemeral`` (the default)
        shows one to ``user``, ``replace_original`` updates and ``delete_original`` removes
        the message at ``message_ts``.
        """
        return self._responses.url(
            self.base_url,
            tag,
            channel=channel,
            user=user,
            message_ts=message_ts,
            thread_ts=thread_ts,
        )

    # ---------------------------------------------------------------- setup helpers

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] | None = None,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> Channel:
        """A channel that already exists (no events): without ``members``, everyone is in it.

        ``bot_is_member=False`` makes one the bot was never added to: posting there is
        ``not_in_channel`` (public, without ``chat:write.public``) or ``channel_not_found``
        (private), as with Slack.
        """
        return self.workspace.add_channel(
            channel_id, name, members=members, bot_is_member=bot_is_member, is_private=is_private
        )

    def channel(self, channel: str) -> Channel:
        """The channel (by id or name) as the emulator holds it: members, topic, pins..."""
        found = self.workspace.channel(self.workspace.resolve_channel(channel))
        if found is None:
            raise KeyError(f"{channel} is a DM, not a channel")
        return found

    def add_member(self, channel: str, user: str) -> None:
        """Put ``user`` (or the bot, by its user id) into a channel, silently (test setup)."""
        found = self.channel(channel)
        if user not in found.members:
            found.members.append(user)

    def remove_member(self, channel: str, user: str) -> None:
        """Take ``user`` (or the bot) out of a channel, silently (test setup)."""
        found = self.channel(channel)
        if user in found.members:
            found.members.remove(user)

    def add_user(self, user_id: str, info: SlackUserInfo) -> None:
        self.workspace.add_user(user_id, info)

    def set_usergroup(
        self, usergroup_id: str, user_ids: Sequence[str], *, handle: str | None = None
    ) -> None:
        self.workspace.usergroups[usergroup_id] = list(user_ids)
        if handle is not None:
            self.workspace.usergroup_handles[usergroup_id] = handle

    def add_user_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> StoredMessage:
        """A person says something in a channel (see :attr:`people` for more they can do)."""
        return self.people.post(user, channel, text, thread_ts=thread_ts)

    @property
    def scopes(self) -> frozenset[str]:
        return self.workspace.scopes

    def set_scopes(self, scopes: Iterable[str]) -> None:
        """The bot token's scopes from now on (e.g. the manifest's ``oauth_config.scopes.bot``)."""
        self.workspace.scopes = frozenset(scopes)

    def refuse(self, method: str, error: str = "restricted_action") -> None:
        """Every call to ``method`` answers ``error`` until :meth:`allow` (a workspace
        preference, e.g. only admins may create channels: ``restricted_action``)."""
        self.workspace.refusals[method] = error

    def allow(self, method: str) -> None:
        self.workspace.refusals.pop(method, None)

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int = 200,
        times: int = 1,
        **fields: Any,
    ) -> None:
        """The next ``times`` calls to ``method`` answer ``{"ok": false, "error": error}``,
        without doing anything; ``fields`` are added to the answer (``missing_scope`` has
        ``needed=`` and ``provided=``).

        ``method`` may also be ``"*"`` (any API method), ``"response_url"`` or ``"upload"``.
        """
        self._faults.add(method, _Fault(status=status, error=error, extra=fields), times)

    def fail_after_storing(
        self,
        method: str,
        kind: AfterKind = "server_error",
        *,
        times: int = 1,
        status: int = 500,
        delay: float = 30.0,
    ) -> None:
        """The next ``times`` successful calls to ``method`` take effect (the message is
        stored and in ``conversations.history``) and then the answer goes wrong:

        - ``"server_error"``: an HTML error page with HTTP ``status``;
        - ``"fatal_error"``: ``{"ok": false, "error": "fatal_error"}``;
        - ``"disconnect"``: the connection closes with no answer (``slack_sdk``'s default
          connection-error retry handler then sends the call again);
        - ``"timeout"``: the right answer ``delay`` seconds late, so a client whose timeout
          is shorter gives up (give the test's ``AsyncWebClient`` a short ``timeout``).

        ``method`` may be ``"*"``. The call is recorded with ``fault`` set to ``kind``.
        """
        self._faults.add_after(method, AfterFault(kind, status=status, delay=delay), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        """The next ``times`` calls get HTTP 429, ``Retry-After: retry_after``."""
        fault = _Fault(status=429, error="ratelimited", retry_after=retry_after)
        self._faults.add(method, fault, times)

    def server_error_next(self, method: str, status: int = 500, *, times: int = 1) -> None:
        """The next ``times`` calls get an HTML error page with HTTP ``status``."""
        self._faults.add(method, _Fault(status=status, error=None), times)

    # ---------------------------------------------------------------- inspection

    def messages(self, channel: str) -> list[StoredMessage]:
        """Messages in a channel (by id or name), oldest first, thread replies included."""
        ws = self.workspace
        return list(ws.messages.get(ws.resolve_channel(channel), []))

    def thread(self, channel: str, thread_ts: str) -> list[StoredMessage]:
        """A thread's parent followed by its replies."""
        ws = self.workspace
        channel_id = ws.resolve_channel(channel)
        return [
            m
            for m in ws.messages.get(channel_id, [])
            if m.ts == thread_ts or m.thread_ts == thread_ts
        ]

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        return self.workspace.find_message(self.workspace.resolve_channel(channel), ts)

    def ephemerals(self, channel: str, user: str | None = None) -> list[StoredMessage]:
        channel_id = self.workspace.resolve_channel(channel)
        return [
            m
            for m in self.workspace.ephemerals
            if m.channel == channel_id and (user is None or m.visible_to == user)
        ]

    def responses(self, tag: str | None = None) -> list[RecordedResponse]:
        return [r for r in self._responses.responses if tag is None or r.tag == tag]

    def channel_name(self, channel_id: str) -> str | None:
        return self.workspace.channel_name(channel_id)

    # ---------------------------------------------------------------- other endpoints

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        tag = unquote(request.match_info["tag"])
        fault = self._faults.take("response_url", api=False)
        try:
            return await self._responses.handle(request, tag, fault)
        finally:
            self._notify()

    async def _handle_upload(self, request: web.Request) -> web.Response:
        fault = self._faults.take("upload", api=False)
        try:
            return await self._files.handle_upload(request, fault)
        finally:
            self._notify()
