"""Paging outside Slack: which pagers a page goes to, what it says, and whether the
secrets it needs are there.

Called inside the transaction that records a page (bot/services/escalation.py):
one ``trigger`` row per target in ``page_deliveries``, delivered by
bot/services/page_sender.py. Acknowledgements and resolutions are written by
``Store.enqueue_page_follow_ups`` in the transaction of the ack / resolve, to
every routing key that was triggered for the incident.

A target whose secret is missing or malformed (decided: checked both when the page
falls due and when it is sent) is never silent: its row is stored as failed, the
page's thread says which variable to set, and ``/readyz`` lists it under
``paging`` (without failing readiness: paging in Slack still works, and an unready
bot would be taken out of service altogether).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.adapters.pagerduty import (
    PageContent,
    PagerSeverity,
    PagingNotConfigured,
    hook_url,
    routing_key,
)
from bot.adapters.store import Store
from bot.domain.escalation import Page, PageCause, unmeasured
from bot.domain.models import Clock, Incident
from bot.domain.paging import PagerDutyTarget, PagingTarget, WebhookTarget, tier_targets
from bot.domain.playbook import Playbook
from bot.services.messages import Messages
from bot.services.messages import page_key as page_key  # its thread carries what befell it


def target_kind(target: PagingTarget) -> str:
    return "pagerduty" if isinstance(target, PagerDutyTarget) else "webhook"


def target_of(kind: str, env: str) -> PagingTarget:
    if kind == "pagerduty":
        return PagerDutyTarget(routing_key_env=env)
    return WebhookTarget(url_env=env)


def env_of(target: PagingTarget) -> str:
    return target.routing_key_env if isinstance(target, PagerDutyTarget) else target.url_env


class PagingService:
    def __init__(
        self,
        store: Store,
        messages: Messages,
        playbook: Playbook,
        clock: Clock,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._messages = messages
        self._playbook = playbook
        self._clock = clock
        self._environ = environ

    @property
    def parts(self) -> tuple[Store, Messages, Playbook, Clock]:
        """What it was built with (the wiring builds the other paging parts from them)."""
        return self._store, self._messages, self._playbook, self._clock

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def problem(self, target: PagingTarget) -> str | None:
        """Why ``target`` cannot be paged (its secret is missing or malformed), else None."""
        try:
            if isinstance(target, PagerDutyTarget):
                routing_key(target, self.environ)
            else:
                hook_url(target, self.environ)
        except PagingNotConfigured as exc:
            return str(exc)
        return None

    def readiness(self) -> dict[str, str]:
        """Every pager the playbook names: "ok", or why it cannot be paged; and each
        trigger the bot cannot measure, with why (``trigger <kind>``)."""
        found: dict[str, str] = {}
        for tier in self._playbook.escalation.tiers:
            for target in tier_targets(tier, self._playbook.roles):
                found[target.label] = self.problem(target) or "ok"
        for kind, note in unmeasured(self._playbook):
            found[f"trigger {kind}"] = note
        return found

    async def trigger(
        self, tx: Store, incident: Incident, page: Page, depths: Mapping[str, int]
    ) -> list[str]:
        """Writes a ``trigger`` for each pager of ``page``'s tier, in ``tx``; returns the
        labels of those that will be paged. One whose secret is missing is stored as
        failed and said in the page's thread."""
        tier = page.tier
        channel = incident.channel or self._playbook.slack.incident_channel
        content = PageContent.for_incident(
            incident,
            namespace=self._playbook.namespace,
            depths=depths,
            why=page.reason,
            escalated=page.cause is PageCause.TRIGGER,
            tier=f"L{tier.level} {tier.name}",
        )
        paged = []
        for target in tier_targets(tier, self._playbook.roles):
            problem = self.problem(target)
            await tx.enqueue_page_delivery(
                incident_id=incident.id,
                tier=tier.level,
                target_kind=target_kind(target),
                target_env=env_of(target),
                action="trigger",
                dedup_key=content.dedup_key,
                channel=channel,
                at=self._clock(),
                content=content_json(content),
                failed=problem,
            )
            if problem is None:
                paged.append(target.label)
                continue
            await self._messages.say(
                tx,
                f"{page_key(incident.id, tier.level)}/unconfigured/{env_of(target)}",
                channel,
                f":warning: This page did not go to {target.label}: {problem} "
                "Set it and restart the bot; until then, reach them another way.",
                thread_key=page_key(incident.id, tier.level),
                incident_id=incident.id,
            )
        return paged


def content_json(page: PageContent) -> dict[str, Any]:
    """What a trigger says, as stored with its row (everything but the secret)."""
    return {
        "summary": page.summary,
        "source": page.source,
        "severity": page.severity.value,
        "why": page.why,
        "depths": dict(page.depths),
        "channel_url": page.channel_url,
        "component": page.component,
        "group": page.group,
        "event_class": page.event_class,
        "timestamp": page.timestamp.isoformat() if page.timestamp else None,
        "details": dict(page.details),
    }


def content_from(dedup_key: str, data: Mapping[str, Any]) -> PageContent:
    """The :class:`PageContent` stored by :func:`content_json`."""
    timestamp = data.get("timestamp")
    return PageContent(
        dedup_key=dedup_key,
        summary=str(data.get("summary", "")),
        source=str(data.get("source", "")),
        severity=PagerSeverity(data.get("severity", "warning")),
        why=str(data.get("why", "")),
        depths=dict(data.get("depths") or {}),
        channel_url=data.get("channel_url"),
        component=data.get("component"),
        group=data.get("group"),
        event_class=data.get("event_class"),
        timestamp=datetime.fromisoformat(timestamp) if timestamp else None,
        details=dict(data.get("details") or {}),
    )
