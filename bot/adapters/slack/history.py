"""Reading an incident channel back for the report: ``conversations.history`` for the
window, ``conversations.replies`` for every thread in it, ``users.info`` for names.

Pages of :data:`PAGE_SIZE` messages follow Slack's cursor (``response_metadata.
next_cursor``; Slack's pagination guide recommends no more than 200 per page, and
``conversations.history`` returns at most 999). ``conversations.history`` and
``conversations.replies`` are Tier 3 (50+ calls a minute): the client's
``AsyncRateLimitErrorRetryHandler`` waits out a ``429`` for its ``Retry-After`` and
tries again, so a long channel is read slowly rather than not at all. Names are
cached (an hour) since a report of many messages names the same few people.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.channel_events import PERSON_SUBTYPES, is_from_bot
from bot.domain.errors import DependencyError
from bot.domain.report import ChannelMessage, HistoryRead, ts_time
from bot.domain.text import slack_unescape

log = logging.getLogger(__name__)

PAGE_SIZE = 200
NAME_TTL_SECONDS = 3600.0

Json = Mapping[str, Any]


class HistoryUnavailable(DependencyError):
    """The channel could not be read back; the report is built from what the events
    recorded and says so."""


class ChannelHistory:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        page_size: int = PAGE_SIZE,
        name_ttl: float = NAME_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._name_ttl = name_ttl
        self._monotonic = monotonic
        self._names: dict[str, tuple[float, str]] = {}
        self._bot: tuple[str | None, str | None] | None = None

    async def read(self, channel: str, oldest: datetime, latest: datetime) -> HistoryRead:
        """Every message of ``channel`` (an id) from ``oldest`` to ``latest`` and every
        reply of the threads started in that window. Raises :class:`HistoryUnavailable`
        when Slack refuses or does not answer (after the client's retries)."""
        bot_id, bot_user = await self.bot_ids()
        args = {
            "channel": channel,
            "oldest": f"{oldest.timestamp():.6f}",
            "latest": f"{latest.timestamp():.6f}",
            "inclusive": True,
            "include_all_metadata": True,
        }
        messages: list[ChannelMessage] = []
        parents: list[str] = []
        calls = 0
        async for page in self._pages("conversations.history", args):
            calls += 1
            for raw in page:
                if raw.get("reply_count"):
                    parents.append(str(raw["ts"]))
                message = _message(raw, channel, bot_id, bot_user)
                if message is not None:
                    messages.append(message)
        threads = set()
        for parent in parents:
            async for page in self._pages(
                "conversations.replies", {"channel": channel, "ts": parent}
            ):
                calls += 1
                for raw in page:
                    if str(raw.get("ts")) == parent:
                        continue  # the parent, already read from the history
                    message = _message(raw, channel, bot_id, bot_user)
                    if message is not None:
                        messages.append(message)
            threads.add(parent)
        return HistoryRead(
            channel=channel,
            oldest=oldest,
            latest=latest,
            messages=tuple(messages),
            threads=frozenset(threads),
            calls=calls,
        )

    async def _pages(self, method: str, args: Mapping[str, Any]) -> AsyncIterator[list[Json]]:
        """The ``messages`` of each page of ``method``, following Slack's cursor."""
        cursor = ""
        while True:
            call = {**args, "limit": self._page_size}
            if cursor:
                call["cursor"] = cursor
            data = await self._call(method, call)
            yield list(data.get("messages") or [])
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

    async def _call(self, method: str, args: Mapping[str, Any]) -> Json:
        calls = {
            "conversations.history": self._client.conversations_history,
            "conversations.replies": self._client.conversations_replies,
            "auth.test": self._client.auth_test,
        }
        try:
            response: Any = await calls[method](**args)
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response is not None else None
            status = exc.response.status_code if exc.response is not None else None
            raise HistoryUnavailable(
                f"Slack refused `{method}` for the incident channel "
                f"(`{code or f'HTTP {status}'}`), so the channel could not be read back"
            ) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise HistoryUnavailable(
                f"Slack did not answer `{method}` ({type(exc).__name__}), so the channel "
                "could not be read back"
            ) from exc
        data = response.data
        return data if isinstance(data, dict) else {}

    async def bot_ids(self) -> tuple[str | None, str | None]:
        """The bot's own ``(bot_id, user_id)`` (``auth.test``, asked once)."""
        if self._bot is None:
            data = await self._call("auth.test", {})
            self._bot = (
                str(data.get("bot_id")) if data.get("bot_id") else None,
                str(data.get("user_id")) if data.get("user_id") else None,
            )
        return self._bot

    async def names(self, users: Iterable[str]) -> dict[str, str]:
        """Display names of ``users`` (``users.info``, cached); a user Slack cannot
        name is left out (the report then shows the id)."""
        found: dict[str, str] = {}
        now = self._monotonic()
        for user in sorted(set(users)):
            cached = self._names.get(user)
            if cached and now - cached[0] < self._name_ttl:
                found[user] = cached[1]
                continue
            name = await self._name(user)
            if name:
                self._names[user] = (now, name)
                found[user] = name
        return found

    async def _name(self, user: str) -> str | None:
        try:
            response: Any = await self._client.users_info(user=user)
        except (SlackApiError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("users.info failed for %s: %r", user, exc)
            return None
        info = response.get("user") or {}
        profile = info.get("profile") or {}
        name = profile.get("display_name") or info.get("name") or profile.get("real_name")
        return str(name) if name else None


def _message(
    raw: Json, channel: str, bot_id: str | None, bot_user: str | None
) -> ChannelMessage | None:
    """A message from the history as the report's value; None for Slack's notices."""
    subtype = raw.get("subtype")
    ts = str(raw.get("ts"))
    thread_ts = str(raw["thread_ts"]) if raw.get("thread_ts") else None
    if subtype == "tombstone":  # a deleted thread parent Slack keeps while it has replies
        return ChannelMessage(channel, ts, None, None, thread_ts=thread_ts, deleted=True)
    if subtype not in PERSON_SUBTYPES:
        return None
    edited = raw.get("edited") or {}
    reactions = {
        str(r.get("name")): tuple(str(u) for u in r.get("users") or ())
        for r in raw.get("reactions") or ()
        if r.get("name")
    }
    return ChannelMessage(
        channel=channel,
        ts=ts,
        user=str(raw["user"]) if raw.get("user") else None,
        text=slack_unescape(str(raw.get("text") or "")),
        thread_ts=thread_ts,
        edited_at=ts_time(str(edited["ts"])) if edited.get("ts") else None,
        pinned=channel in (raw.get("pinned_to") or ()),
        reactions=reactions,
        from_bot=is_from_bot(raw, bot_id, bot_user),
    )
