"""Setting up an incident's channel: the Web API calls of the outbox's ``channel`` and
``call`` rows, each answer classified like a message's (delivered, retry later, refused).

Every call here is safe to repeat, as the sender may repeat one whose answer it did
not get: a topic or purpose set twice is the same topic, an invitation of someone
already there (``already_in_channel``), a pin already made (``already_pinned``) and an
archive already done (``already_archived``) count as done. The two that are not safe
by themselves are made so: a bookmark is looked for (``bookmarks.list``) before it is
added again, and a channel whose creation may have happened is looked for among the
bot's own channels before another is created (:meth:`SlackSetup.own_channels`).

Channel names follow ``conversations.create``'s reference: ``name_taken`` also covers
archived channels, so a taken name gets the first free numeric suffix among the names
``conversations.list`` shows (archived included), trying again if a channel the bot
cannot see holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.transport import classify_api_error, classify_exception
from bot.domain.channel_names import first_free, with_suffix
from bot.domain.delivery import Delivered, Delivery, Refused, RetryLater

log = logging.getLogger(__name__)

GroupMembers = Callable[[str], Awaitable[frozenset[str]]]

#: How many times a name is tried again after ``name_taken`` (each try is a Tier 2 call).
NAME_ATTEMPTS = 5
_LIST_PAGES = 10
#: Answers that mean "already done" for a call that was repeated.
_ALREADY = {
    "invite": {"already_in_channel"},
    "pin": {"already_pinned"},
    "archive": {"already_archived"},
}


@dataclass(frozen=True)
class CreatedChannel:
    """A channel the bot created (or found it had created): its id and name."""

    id: str
    name: str


class SlackSetup:
    def __init__(self, client: AsyncWebClient, group_members: GroupMembers) -> None:
        self._client = client
        self._group_members = group_members
        self._bot_user: str | None = None

    # ---- channels ----------------------------------------------------------

    async def create_channel(
        self, base: str, *, private: bool
    ) -> CreatedChannel | RetryLater | Refused:
        """Creates ``base`` (or ``base-N``, the first free) with the bot as its member."""
        name = base
        taken: set[str] = set()
        for _ in range(NAME_ATTEMPTS):
            try:
                response: Any = await self._client.conversations_create(
                    name=name, is_private=private
                )
            except SlackApiError as exc:
                outcome = classify_api_error(exc)
                if isinstance(outcome, Refused) and outcome.error == "name_taken":
                    taken.add(name)
                    listed = await self._names()
                    if isinstance(listed, RetryLater):
                        return listed
                    name, _ = first_free(base, taken | listed)
                    continue
                return outcome
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return classify_exception(exc)
            channel = response.get("channel") or {}
            return CreatedChannel(str(channel.get("id")), str(channel.get("name", name)))
        return Refused("name_taken", f"tried {base} and {NAME_ATTEMPTS - 1} numbered names")

    async def own_channels(self, base: str) -> list[CreatedChannel] | RetryLater:
        """Open channels the bot created named ``base`` or ``base-N`` (after a creation
        whose answer was lost, one of them may be the incident's)."""
        channels = await self._list()
        if isinstance(channels, RetryLater):
            return channels
        me = await self.bot_user_id()
        names = {base} | {with_suffix(base, n) for n in range(2, 100)}
        return [
            CreatedChannel(str(c.get("id")), str(c.get("name")))
            for c in channels
            if c.get("name") in names and c.get("creator") == me and not c.get("is_archived")
        ]

    async def _names(self) -> set[str] | RetryLater:
        channels = await self._list()
        if isinstance(channels, RetryLater):
            return channels
        return {str(c.get("name")) for c in channels}

    async def _list(self) -> list[Mapping[str, Any]] | RetryLater:
        """Every channel the bot can see, archived ones included (they keep their names)."""
        found: list[Mapping[str, Any]] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGES):
            try:
                response: Any = await self._client.conversations_list(
                    types="public_channel,private_channel", limit=1000, cursor=cursor
                )
            except SlackApiError as exc:
                outcome = classify_api_error(exc)
                if isinstance(outcome, RetryLater):
                    return outcome
                log.warning("cannot list channels", extra={"error": outcome.error})
                return found
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return classify_exception(exc)
            found += list(response.get("channels") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return found

    async def bot_user_id(self) -> str | None:
        if self._bot_user is None:
            try:
                response: Any = await self._client.auth_test()
            except (SlackApiError, TimeoutError, aiohttp.ClientError, OSError):
                return None
            self._bot_user = str(response.get("user_id") or "") or None
        return self._bot_user

    # ---- calls on a channel ------------------------------------------------

    async def call(
        self, channel: str, payload: Mapping[str, Any], *, parent_ts: str | None
    ) -> Delivery:
        """One ``call`` row: ``payload["call"]`` is topic, purpose, invite, pin (of the
        row's parent message, ``parent_ts``), bookmark or archive."""
        what = str(payload.get("call"))
        try:
            match what:
                case "topic":
                    await self._client.conversations_setTopic(
                        channel=channel, topic=str(payload.get("text", ""))
                    )
                case "purpose":
                    await self._client.conversations_setPurpose(
                        channel=channel, purpose=str(payload.get("text", ""))
                    )
                case "invite":
                    return await self._invite(channel, payload)
                case "pin":
                    await self._client.pins_add(channel=channel, timestamp=parent_ts)
                case "bookmark":
                    await self._client.bookmarks_add(
                        channel_id=channel,
                        title=str(payload.get("title", "")),
                        type="link",
                        link=str(payload.get("link", "")),
                        emoji=payload.get("emoji"),
                    )
                case "archive":
                    await self._client.conversations_archive(channel=channel)
                case _:
                    return Refused("unknown_call", f"no such setup call: {what}")
        except SlackApiError as exc:
            outcome = classify_api_error(exc)
            if isinstance(outcome, Refused) and outcome.error in _ALREADY.get(what, ()):
                return Delivered(channel, what)
            return outcome
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return classify_exception(exc)
        return Delivered(channel, what)

    async def _invite(self, channel: str, payload: Mapping[str, Any]) -> Delivery:
        """The people named, with each user group's members (``usergroups.users.list``,
        cached briefly by the directory); nobody to invite is done."""
        users = set(_strings(payload.get("users")))
        missing: list[str] = []
        for group in _strings(payload.get("usergroups")):
            try:
                users |= await self._group_members(group)
            except SlackApiError as exc:
                outcome = classify_api_error(exc)
                if isinstance(outcome, RetryLater):
                    return outcome
                missing.append(f"user group {group} ({outcome.error})")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return classify_exception(exc)
        users.discard(await self.bot_user_id() or "")
        note = _could_not(missing)
        if not users:
            return Delivered(channel, "invite", note=note)
        # force: invite the valid ones even if some id is refused (listed in "errors").
        response: Any = await self._client.conversations_invite(
            channel=channel, users=sorted(users), force=True
        )
        refused = [
            f"<@{e.get('user')}> ({e.get('error')})"
            for e in response.get("errors") or []
            if e.get("error") != "already_in_channel"
        ]
        return Delivered(channel, "invite", note=_could_not(missing + refused))

    async def find_bookmark(self, channel: str, link: str) -> Delivered | RetryLater | None:
        """The bookmark of ``link`` if the channel has it (an add whose answer was lost)."""
        try:
            response: Any = await self._client.bookmarks_list(channel_id=channel)
        except SlackApiError as exc:
            outcome = classify_api_error(exc)
            return outcome if isinstance(outcome, RetryLater) else None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return classify_exception(exc)
        for bookmark in response.get("bookmarks") or []:
            if bookmark.get("link") == link:
                return Delivered(channel, "bookmark")
        return None


def _strings(value: object) -> list[str]:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [str(v) for v in value]
    return []


def _could_not(failures: list[str]) -> str:
    return "could not invite " + ", ".join(failures) if failures else ""
