"""Wiring of escalation beyond the channel (issue 11), kept out of bot/app.py: pages to
PagerDuty and webhooks, the timer that wakes the escalation, PagerDuty's webhooks in,
and what the triggers measure besides depths."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.adapters.kube import KubeClient
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.store.listen import Listener
from bot.services.escalation import EscalationService
from bot.services.escalation_timer import EscalationTimer
from bot.services.job_ages import JobAgeMonitor
from bot.services.page_sender import PageSender
from bot.services.pagerduty_inbox import PagerDutyInbox
from bot.services.paging import PagingService
from bot.services.vendors import VendorWatch
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Paging:
    """The parts; :meth:`close` stops what they started."""

    service: PagingService
    sender: PageSender
    timer: EscalationTimer
    inbox: PagerDutyInbox
    job_ages: JobAgeMonitor
    vendors: VendorWatch
    listener: Listener

    async def close(self) -> None:
        await self.sender.stop()
        await self.vendors.close()
        await self.job_ages.close()
        await self.listener.close()


def build_paging(
    settings: Settings,
    escalation: EscalationService,
    pagers: PagingService,
    redis: RedisClient,
    kube: KubeClient,
    database_url: str,
    environ: Mapping[str, str] | None,
) -> Paging:
    """The paging parts around ``escalation`` and its ``pagers``."""
    store, messages, playbook, clock = pagers.parts
    for name, problem in pagers.readiness().items():
        if problem != "ok":  # said at start-up, and in /readyz for as long as it lasts
            log.warning("escalation cannot use %s: %s", name, problem)
    listener = Listener(database_url)
    timer = EscalationTimer(escalation, clock, listener=listener)
    vendors = VendorWatch(kube, store, playbook, clock)
    vendors.on_observed.append(timer.replan)
    return Paging(
        service=pagers,
        sender=PageSender(
            store,
            messages,
            clock=clock,
            events_url=settings.pagerduty_events_url,
            environ=environ,
            listener=listener,
        ),
        timer=timer,
        inbox=PagerDutyInbox(store, messages, playbook, clock),
        job_ages=JobAgeMonitor(redis, store, messages, playbook, clock),
        vendors=vendors,
        listener=listener,
    )
