"""The age of each watched queue's oldest waiting job, read at every sample.

The monitor calls :meth:`JobAgeMonitor.after_sample` once it has stored a depth
sample; the readings are stored with the sample's time (``job_ages``), where the
SLA trigger reads them (bot/services/escalation.py). A queue whose age cannot be
read is said in the channel once when it starts and once when it ends — the SLA
trigger is blind for it meanwhile — never on every sample.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.job_age import read_job_ages
from bot.adapters.queues.prometheus import PrometheusAges
from bot.adapters.store import Store
from bot.domain.measures import JobAgeReading
from bot.domain.models import Clock, QueueSample
from bot.domain.playbook import Playbook
from bot.domain.text import code
from bot.services.messages import Messages

log = logging.getLogger(__name__)

#: Kept as long as the raw depth samples (bot/services/monitor.py).
KEEP_FOR = timedelta(hours=48)
PRUNE_EVERY = timedelta(hours=1)


class JobAgeMonitor:
    def __init__(
        self,
        redis: RedisClient,
        store: Store,
        messages: Messages,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._redis = redis
        self._store = store
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._prometheus = PrometheusAges()
        self._failing: dict[str, datetime] = {}
        self._pruned_at: datetime | None = None

    @property
    def watched(self) -> bool:
        return any(q.job_age is not None for q in self._playbook.queues)

    async def after_sample(self, sample: QueueSample) -> list[JobAgeReading]:
        """Reads, stores and (on a change) reports the ages, at the sample's time."""
        if not self.watched:
            return []
        queues = self._playbook.queues
        readings = await read_job_ages(self._redis, queues, sample.at)
        readings += await self._prometheus.read(queues, sample.at)
        await self._store.save_job_ages(self._playbook.name, readings)
        for reading in readings:
            await self._report(reading)
        await self._prune(sample.at)
        return readings

    async def close(self) -> None:
        await self._prometheus.close()

    async def _report(self, reading: JobAgeReading) -> None:
        queue = reading.queue
        since = self._failing.get(queue)
        if reading.error is not None and since is None:
            self._failing[queue] = reading.at
            log.warning("job age unreadable", extra={"queue": queue, "error": reading.error})
            await self._say(
                f"job-age/{queue}/failing/{reading.at.isoformat()}",
                f":warning: {reading.error} Until it can, the SLA trigger cannot fire for "
                f"{code(queue)}.",
            )
        elif reading.error is None and since is not None:
            del self._failing[queue]
            await self._say(
                f"job-age/{queue}/recovered/{since.isoformat()}",
                f":white_check_mark: The age of the oldest job in {code(queue)} can be read "
                f"again (it could not since {since:%H:%M:%S} UTC).",
            )

    async def _say(self, key: str, text: str) -> None:
        async with self._store.transaction() as tx:
            incident = await tx.open_incident_for(self._playbook.name)
            channel = (incident.channel if incident else None) or (
                self._playbook.slack.incident_channel
            )
            await self._messages.say(
                tx, key, channel, text, incident_id=incident.id if incident else None
            )

    async def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        await self._store.prune_measures(now - KEEP_FOR)
