"""PagerDuty Events API v2 client: trigger, acknowledge and resolve one alert.

``POST https://events.pagerduty.com/v2/enqueue`` (configurable, so tests use
:mod:`bot.emulators.pagerduty`). Each call returns an
:data:`~bot.adapters.pagerduty.outcome.Outcome`; nothing here retries or
sleeps — the caller's durable outbox does, after ``RetryLater.retry_after``.

PagerDuty correlates follow-ups by dedup key *and* routing key ("Subsequent
acknowledge or resolve events sent via a different routing_key from the
original will be dropped"), so acknowledge and resolve each routing key that
was triggered for the incident.
"""

from __future__ import annotations

from types import TracebackType

import aiohttp

from bot.adapters.pagerduty.alert import PageContent, follow_up_event, trigger_event
from bot.adapters.pagerduty.outcome import Clock, EventAction, Outcome, post_json, utc_now
from bot.adapters.pagerduty.secrets import RoutingKey

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: Seconds for one whole request. PagerDuty's Events API is asynchronous and answers
#: fast; a page stuck longer is better retried than waited on.
DEFAULT_TIMEOUT = 10.0


class PagerDutyEvents:
    """Events API v2 over one aiohttp session (its own unless one is given).

    Use as ``async with PagerDutyEvents(url) as pd: outcome = await pd.trigger(key, page)``
    or call :meth:`close` when done. ``clock`` reads "now" for ``Retry-After`` dates.
    """

    def __init__(
        self,
        url: str = DEFAULT_EVENTS_URL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._clock = clock
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> PagerDutyEvents:
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

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop (aiohttp requires it).
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def trigger(self, key: RoutingKey, page: PageContent) -> Outcome:
        """Opens the alert ``page.dedup_key`` on ``key``'s service, or adds a log entry to
        it when it is already open (PagerDuty: a trigger on an open alert does not page
        again). :class:`Accepted` carries the dedup key PagerDuty returned."""
        return await self._send(
            EventAction.TRIGGER, key, page.dedup_key, trigger_event(key.value, page)
        )

    async def acknowledge(self, key: RoutingKey, dedup_key: str) -> Outcome:
        """Acknowledges the alert (PagerDuty stops notifying while it is acknowledged).
        Accepted even when no such alert is open: PagerDuty drops it silently."""
        body = follow_up_event(key.value, EventAction.ACKNOWLEDGE.value, dedup_key)
        return await self._send(EventAction.ACKNOWLEDGE, key, dedup_key, body)

    async def resolve(self, key: RoutingKey, dedup_key: str) -> Outcome:
        """Resolves the alert; a later trigger with the same key opens a new one."""
        body = follow_up_event(key.value, EventAction.RESOLVE.value, dedup_key)
        return await self._send(EventAction.RESOLVE, key, dedup_key, body)

    async def _send(
        self, action: EventAction, key: RoutingKey, dedup_key: str, body: bytes
    ) -> Outcome:
        return await post_json(
            self._http(),
            self.url,
            body,
            timeout_seconds=self.timeout,
            target=key.label,
            action=action,
            dedup_key=dedup_key,
            clock=self._clock,
        )
