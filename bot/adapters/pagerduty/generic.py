"""A generic paging webhook, shaped like Opsgenie's Alert API, for teams on other pagers.

One JSON ``POST`` per event to the URL the playbook's ``webhook.url_env`` names::

    {"action": "trigger", "alias": "backlog-bot/queue-backlog/42",
     "message": "[queue-backlog #42] Large email queue backlog detected: …",
     "description": "…why it fired…", "priority": "P3", "source": "Backlog Bot",
     "entity": "phishnet/email_processing_queue",
     "details": {"why": "…", "depth email_processing_queue": "12400", "channel": "https://…"}}

    {"action": "acknowledge", "alias": "backlog-bot/queue-backlog/42", "source": "Backlog Bot"}
    {"action": "resolve", "alias": "backlog-bot/queue-backlog/42", "source": "Backlog Bot"}

``alias`` is the incident's dedup key (Opsgenie de-duplicates open alerts by alias);
``message`` is clipped to Opsgenie's 130 characters, ``description`` to 15,000;
``details`` values are strings (Opsgenie takes a map of string pairs). A receiver
answers 2xx when it took the event; 429 / 5xx / no answer is retried later, any
other status is reported as refused — the same outcomes as PagerDuty's.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import aiohttp

from bot.adapters.pagerduty.alert import CLIENT_NAME, PageContent, PagerSeverity, clip_text
from bot.adapters.pagerduty.outcome import Clock, EventAction, Outcome, post_json, utc_now
from bot.adapters.pagerduty.secrets import HookUrl

#: Opsgenie Alert API field limits (message 130, description 15,000 characters).
MAX_MESSAGE = 130
MAX_DESCRIPTION = 15_000
DEFAULT_TIMEOUT = 10.0

PRIORITY = {
    PagerSeverity.CRITICAL: "P1",
    PagerSeverity.ERROR: "P2",
    PagerSeverity.WARNING: "P3",
    PagerSeverity.INFO: "P5",
}


def webhook_body(action: EventAction, dedup_key: str, page: PageContent | None = None) -> bytes:
    """The JSON body for ``action``; a trigger needs ``page``."""
    body: dict[str, Any] = {"action": action.value, "alias": dedup_key, "source": CLIENT_NAME}
    if action is EventAction.TRIGGER:
        if page is None:
            raise ValueError("a trigger needs the page's content")
        details = {"why": page.why} if page.why else {}
        details |= {f"depth {queue}": str(depth) for queue, depth in page.depths.items()}
        details |= {key: str(value) for key, value in page.details.items()}
        if page.channel_url:
            details["channel"] = page.channel_url
        description = page.summary + (f"\n\n{page.why}" if page.why else "")
        body |= {
            "message": clip_text(page.summary, MAX_MESSAGE),
            "description": description[:MAX_DESCRIPTION],
            "priority": PRIORITY[page.severity],
            "entity": page.source,
            "details": details,
        }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class PagingWebhook:
    """Sends trigger / acknowledge / resolve to generic webhooks over one aiohttp session
    (its own unless one is given); ``async with`` or :meth:`close` when done."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> PagingWebhook:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def trigger(self, url: HookUrl, page: PageContent) -> Outcome:
        return await self._send(url, EventAction.TRIGGER, page.dedup_key, page)

    async def acknowledge(self, url: HookUrl, dedup_key: str) -> Outcome:
        return await self._send(url, EventAction.ACKNOWLEDGE, dedup_key)

    async def resolve(self, url: HookUrl, dedup_key: str) -> Outcome:
        return await self._send(url, EventAction.RESOLVE, dedup_key)

    async def _send(
        self, url: HookUrl, action: EventAction, dedup_key: str, page: PageContent | None = None
    ) -> Outcome:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await post_json(
            self._session,
            url.value,
            webhook_body(action, dedup_key, page),
            timeout_seconds=self.timeout,
            target=url.label,
            action=action,
            dedup_key=dedup_key,
            clock=self._clock,
        )
