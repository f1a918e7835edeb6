"""The sampling loop body: read every queue's depth, feed the incident service.

It runs on the replica that leads (bot/services/leadership.py schedules it), so
two replicas never record duplicate samples or double timeline entries.

A Redis outage is reported in the announcement channel (and the open incident's
own channel) once when it starts and once when it ends, never on every failed
sample.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.depths import QueuesUnavailable, queue_depths
from bot.adapters.store import Store
from bot.adapters.store.outbox import incident_destination
from bot.domain.models import Clock, QueueSample
from bot.domain.playbook import Playbook
from bot.services.incidents import IncidentService
from bot.services.messages import Messages

log = logging.getLogger(__name__)

RAW_SAMPLES_FOR = timedelta(hours=48)
HOURLY_SAMPLES_FOR = timedelta(days=90)
PRUNE_EVERY = timedelta(hours=1)


class Monitor:
    def __init__(
        self,
        redis: RedisClient,
        store: Store,
        incidents: IncidentService,
        messages: Messages,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._redis = redis
        self._store = store
        self._incidents = incidents
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._outage_since: datetime | None = None
        self._pruned_at: datetime | None = None
        self.last_sample: QueueSample | None = None
        # Called in order after each stored sample (job ages, vendor watch, escalation
        # timer: bot/app.py wires them); each handles its own failures.
        self.after_sample: list[Callable[[QueueSample], Awaitable[object]]] = []

    async def tick(self) -> QueueSample | None:
        """Samples once; None when Redis is down."""
        try:
            depths = await queue_depths(self._redis, self._playbook.queue_names)
        except QueuesUnavailable as exc:  # any sampling failure at all (see queue_depths)
            await self._outage(exc.reason)
            return None
        if self._outage_since is not None:
            await self._recovered()
        sample = QueueSample(at=self._clock(), depths=depths)
        self.last_sample = sample
        await self._incidents.observe(sample)
        await self._prune(sample.at)
        for hook in self.after_sample:
            await hook(sample)
        return sample

    async def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        folded, dropped = await self._store.prune_samples(
            now, raw_for=RAW_SAMPLES_FOR, hourly_for=HOURLY_SAMPLES_FOR
        )
        if folded or dropped:
            log.info("queue samples pruned", extra={"folded": folded, "dropped": dropped})

    async def _outage(self, reason: str) -> None:
        if self._outage_since is not None:
            return
        self._outage_since = self._clock()
        log.warning("redis unavailable", extra={"reason": reason})
        await self._say(
            f"monitor/outage/{self._outage_since}",
            f":warning: Backlog Bot cannot read the queue depths ({reason}). "
            "Alerting is impaired: no backlog alert can fire until Redis answers again.",
        )

    async def _recovered(self) -> None:
        since, self._outage_since = self._outage_since, None
        log.info("redis reachable again")
        await self._say(
            f"monitor/recovered/{since}",
            f":white_check_mark: The queue depths can be read again (they could not be since "
            f"{since:%H:%M:%S} UTC); queue monitoring has resumed.",
        )

    async def _say(self, key: str, text: str) -> None:
        """In the announcement channel, and in the open incident's own channel (its
        alert stops changing while the depths cannot be read)."""
        async with self._store.transaction() as tx:
            await self._messages.say(tx, key, self._playbook.slack.announcement_channel, text)
            incident = await tx.open_incident_for(self._playbook.name)
            if incident is not None and incident.channel_status in ("pending", "dedicated"):
                await self._messages.say(
                    tx,
                    f"{key}/incident/{incident.id}",
                    incident_destination(incident.id),
                    text,
                    incident_id=incident.id,
                )
