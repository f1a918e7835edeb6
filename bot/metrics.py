"""``GET /metrics``: what Prometheus scrapes from the bot, through prometheus_client.

Read at scrape time, so every replica answers the same and a replica that is not
the sampler still does:

- from Redis (one short read, :data:`READ_TIMEOUT_SECONDS`): each playbook queue's
  depth under the playbook's own metric name (``phishnet_email_queue_size`` …, so
  the runbook's alert rules in ``deploy/prometheus/rules.yml`` work even where the
  workers export nothing) and as ``backlog_bot_queue_depth{queue}``; the size of
  the processing set; ``backlog_bot_redis_up``; the age of each queue's oldest
  waiting job where the playbook's ``job_age`` reads it from Redis; the stuck jobs
  (ids in the processing set whose heartbeat is missing or older than
  ``stuck_jobs.stuck_after``: the dry run of ``/backlog requeue``, in batches of 500,
  left out when the set is too big to scan within the read bound);
- from PostgreSQL (:mod:`bot.adapters.store.metrics`): incidents by state, actions
  by kind and outcome, approvals, pages, the outboxes' backlog (Slack messages and
  page deliveries not yet delivered); ``backlog_bot_postgres_up``;
- from this process: each depth rule's firing state, and how long the bot took to
  answer Slack's requests (Slack wants an answer within 3 seconds).

A value that cannot be read is left out (its ``*_up`` gauge says why) rather than
shown as 0, so no alert fires on a number nobody measured. Each :class:`BotMetrics`
has its own registries, never prometheus_client's global one: several runtimes
share a process in the tests and the demo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from redis.exceptions import RedisError

from bot.adapters.queues import depths
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.job_age import read_job_ages
from bot.adapters.queues.requeue import RedisUnavailable, scan_stuck
from bot.adapters.store import Store
from bot.adapters.store.metrics import BotCounts, CountsUnavailable, bot_counts
from bot.domain.models import ActionState, Clock, IncidentState, system_clock
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.rules import RuleBook

READ_TIMEOUT_SECONDS = 1.0
#: Around Slack's 3-second limit for acknowledging a command or a click.
ACK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
SLACK_KINDS = ("command", "interaction", "event", "other")
_INTERACTIONS = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}


@dataclass(frozen=True)
class RedisReading:
    """Depth (jobs) of each playbook queue and the processing set's size (ids); the
    stuck ids (None: not scanned in time) and each Redis-read queue's oldest job age
    in seconds (None: the queue is empty; a queue whose age could not be read is
    absent)."""

    depths: Mapping[str, int]
    processing: int
    stuck: int | None = None
    oldest_age: Mapping[str, float | None] = field(default_factory=dict)


class BotMetrics:
    """One runtime's metrics. :meth:`slack_ack` times Slack requests;
    :meth:`exposition` answers a scrape."""

    def __init__(
        self,
        *,
        playbook: Playbook,
        redis: RedisClient,
        store: Store,
        rules: RuleBook,
        timeout_seconds: float = READ_TIMEOUT_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        self._playbook = playbook
        self._clock = clock
        self._redis = redis
        self._store = store
        self._rules = rules
        self._timeout = timeout_seconds
        self.registry = CollectorRegistry()
        self._ack = Histogram(
            "backlog_bot_slack_ack_seconds",
            "Seconds from receiving a Slack request on /slack/events to answering it "
            "(Slack gives up after 3 s), by kind: command, interaction, event, other.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        for kind in SLACK_KINDS:
            self._ack.labels(kind)

    @contextmanager
    def slack_ack(self, body: Mapping[str, Any]) -> Iterator[None]:
        """Times the block inside into ``backlog_bot_slack_ack_seconds``; ``body`` is
        the request's parsed payload (it says whether it is a command, a click...)."""
        with self._ack.labels(slack_kind(body)).time():
            yield

    async def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """``(body, content type)`` of a scrape, in the format ``accept`` asks for
        (Prometheus text, or OpenMetrics when the scraper prefers it)."""
        reading, stuck, counts = await asyncio.gather(
            self._read_redis(), self._read_stuck(), self._read_counts()
        )
        if reading is not None:
            reading = RedisReading(reading.depths, reading.processing, stuck, reading.oldest_age)
        scrape = CollectorRegistry()
        scrape.register(_Values(families(self._playbook, reading, counts, self._rules)))
        scrape.register(self.registry)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(scrape), content_type

    async def _read_redis(self) -> RedisReading | None:
        async def read() -> RedisReading:
            lengths = await depths.queue_depths(self._redis, self._playbook.queue_names)
            size: Any = self._redis.scard(self._playbook.stuck_jobs.processing_set)
            ages = await read_job_ages(self._redis, self._playbook.queues, self._clock())
            return RedisReading(
                depths=lengths,
                processing=int(await size),
                oldest_age={
                    a.queue: a.age.total_seconds() if a.age is not None else None
                    for a in ages
                    if a.error is None
                },
            )

        try:
            return await asyncio.wait_for(read(), self._timeout)
        except (TimeoutError, depths.QueuesUnavailable, RedisError):
            return None  # backlog_bot_redis_up 0 says it

    async def _read_stuck(self) -> int | None:
        """The stuck-job count, or None when the scan fails or does not finish in time
        (a processing set of hundreds of thousands of ids; its size is still shown)."""
        stuck = self._playbook.stuck_jobs
        try:
            scan = await asyncio.wait_for(
                scan_stuck(
                    self._redis,
                    processing_set=stuck.processing_set,
                    heartbeat_key=stuck.heartbeat_key,
                    older_than_seconds=stuck.stuck_after.total_seconds(),
                    sample_size=0,
                ),
                self._timeout,
            )
        except (TimeoutError, RedisUnavailable, RedisError):  # left out, never shown as 0
            return None
        return scan.stuck

    async def _read_counts(self) -> BotCounts | None:
        try:
            return await bot_counts(self._store, timeout_seconds=self._timeout)
        except CountsUnavailable:
            return None  # backlog_bot_postgres_up 0 says it


def slack_kind(body: Mapping[str, Any]) -> str:
    """``command``, ``interaction`` (buttons, modals, shortcuts), ``event`` or ``other``."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind in _INTERACTIONS:
        return "interaction"
    return "event" if kind == "event_callback" else "other"


class _Values:
    """A prometheus_client collector of families computed before the scrape."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return iter(self._metrics)


def families(
    playbook: Playbook, reading: RedisReading | None, counts: BotCounts | None, rules: RuleBook
) -> list[Metric]:
    """Every scrape-time metric family from values already read (``None``: unreadable)."""
    out = _queue_families(playbook, reading)
    firing = GaugeMetricFamily(
        "backlog_bot_rule_firing",
        "1 while a depth rule evaluated by the bot is firing.",
        None,
        ["rule"],
    )
    names = {state.rule.name for state in rules.firing()}
    for state in rules.states:
        firing.add_metric([state.rule.name], 1 if state.rule.name in names else 0)
    out.append(firing)
    out.append(
        GaugeMetricFamily(
            "backlog_bot_postgres_up",
            "1 when PostgreSQL answered this scrape's counts in time.",
            value=1 if counts is not None else 0,
        )
    )
    if counts is not None:
        out += _count_families(playbook, counts)
    return out


def _queue_families(playbook: Playbook, reading: RedisReading | None) -> list[Metric]:
    up = GaugeMetricFamily(
        "backlog_bot_redis_up",
        "1 when Redis answered this scrape's reads in time.",
        value=1 if reading is not None else 0,
    )
    if reading is None:
        return [up]
    by_metric: dict[str, list[str]] = {}
    for queue in playbook.queues:
        by_metric.setdefault(queue.metric, []).append(queue.name)
    out: list[Metric] = []
    for metric, queues in by_metric.items():
        # Two queues under one metric name are told apart by a queue label.
        labels = ["queue"] if len(queues) > 1 else []
        about = f"Jobs in Redis list(s) {', '.join(queues)} (LLEN, read by Backlog Bot)."
        family = GaugeMetricFamily(metric, about, None, labels)
        for name in queues:
            family.add_metric([name] if labels else [], reading.depths.get(name, 0))
        out.append(family)
    depth = GaugeMetricFamily(
        "backlog_bot_queue_depth", "Jobs in each playbook queue (LLEN).", None, ["queue"]
    )
    for name in playbook.queue_names:
        depth.add_metric([name], reading.depths.get(name, 0))
    processing = GaugeMetricFamily(
        "backlog_bot_processing_set_size",
        "Job ids in the workers' processing set (SCARD): jobs taken but not finished.",
        None,
        ["set"],
    )
    processing.add_metric([playbook.stuck_jobs.processing_set], reading.processing)
    out += [depth, processing]
    if reading.stuck is not None:
        stuck = GaugeMetricFamily(
            "backlog_bot_stuck_jobs",
            "Job ids in the processing set whose heartbeat is missing or older than the "
            "playbook's stuck_jobs.stuck_after (what /backlog requeue would move).",
            None,
            ["set"],
        )
        stuck.add_metric([playbook.stuck_jobs.processing_set], reading.stuck)
        out.append(stuck)
    if reading.oldest_age:
        oldest = GaugeMetricFamily(
            "backlog_bot_oldest_job_age_seconds",
            "Age of each queue's oldest waiting job (the playbook's job_age, read from "
            "Redis); 0 when the queue is empty.",
            None,
            ["queue"],
        )
        for name, age in reading.oldest_age.items():
            oldest.add_metric([name], age or 0.0)
        out.append(oldest)
    return [*out, up]


def _count_families(playbook: Playbook, counts: BotCounts) -> list[Metric]:
    incidents = GaugeMetricFamily(
        "backlog_bot_incidents", "Incidents in each state now.", None, ["state"]
    )
    for state in IncidentState:
        incidents.add_metric([state.value], counts.incidents.get(state.value, 0))
    opened = CounterMetricFamily(
        "backlog_bot_incidents_opened", "Incidents opened.", sum(counts.incidents.values())
    )
    finished = CounterMetricFamily(
        "backlog_bot_actions",
        "Actions finished, by kind and outcome (succeeded, failed, denied, expired).",
        None,
        ["kind", "outcome"],
    )
    running = GaugeMetricFamily(
        "backlog_bot_actions_in_progress",
        "Action requests awaiting approval (pending) or running (executing), by kind.",
        None,
        ["kind", "state"],
    )
    approvals = CounterMetricFamily(
        "backlog_bot_approvals", "Approvals given, by action kind.", None, ["kind"]
    )
    for kind in ActionKind:
        for action_state in ActionState:
            family = finished if action_state.is_final else running
            key = (kind.value, action_state.value)
            family.add_metric(list(key), counts.actions.get(key, 0))
        approvals.add_metric([kind.value], counts.approvals.get(kind.value, 0))
    pages = CounterMetricFamily("backlog_bot_pages", "Escalation pages, by tier.", None, ["tier"])
    for tier in sorted({t.level for t in playbook.escalation.tiers} | set(counts.pages)):
        pages.add_metric([str(tier)], counts.pages.get(tier, 0))
    outbox = GaugeMetricFamily(
        "backlog_bot_outbox_pending",
        "Outbox rows not yet delivered: Slack messages (posts, and edits waiting for "
        "their turn) and page deliveries to PagerDuty / webhooks.",
        None,
        ["outbox"],
    )
    for name in ("slack", "pages"):
        outbox.add_metric([name], counts.outbox.get(name, 0))
    return [incidents, opened, finished, running, approvals, pages, outbox]
