"""What a page says, independent of the pager: summary, severity, link, details.

:class:`PageContent` is built from domain values (an :class:`~bot.domain.models.Incident`,
the current depths, why the page fires) and turned into a PagerDuty Events API v2
trigger by :func:`trigger_event` or into a generic webhook body by
:mod:`bot.adapters.pagerduty.generic`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from bot.domain.models import Incident
from bot.domain.paging import incident_dedup_key
from bot.domain.playbook import Severity

#: PagerDuty Events API v2 limits ("Send an Alert Event"; "Events API v2 Overview",
#: Size Limits: "Events API payloads are limited to 512 KB").
MAX_SUMMARY = 1024
MAX_EVENT_BYTES = 512 * 1024
CLIENT_NAME = "Backlog Bot"


class PagerSeverity(StrEnum):
    """PagerDuty's (PD-CEF) severities, lowest first."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


_LADDER = list(PagerSeverity)


def pager_severity(severity: Severity, *, escalated: bool = False) -> PagerSeverity:
    """The rule's severity as PagerDuty's: info, warning and critical map to the same
    names. ``escalated`` (the page comes from an escalation trigger, e.g. the runbook's
    "backlog above 5,000 for 2 h", rather than from the rule's own timers) moves it one
    step up PagerDuty's ladder info < warning < error < critical, so a warning that
    escalated arrives as ``error``; critical stays critical."""
    level = PagerSeverity(severity.value)
    if escalated:
        level = _LADDER[min(_LADDER.index(level) + 1, len(_LADDER) - 1)]
    return level


def channel_link(channel: str, team_id: str | None = None) -> str:
    """A URL that opens a Slack channel by id (Slack's "Deep linking into Slack":
    ``https://slack.com/app_redirect?channel=…&team=…``). Prefer a message permalink
    (``chat.getPermalink``) when there is one."""
    query = {"channel": channel.lstrip("#")}
    if team_id:
        query["team"] = team_id
    return "https://slack.com/app_redirect?" + urlencode(query)


def clip_text(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class PageContent:
    """One page about one incident, for any pager.

    ``dedup_key`` names the incident (:func:`~bot.domain.paging.incident_dedup_key`);
    ``source`` is "the unique location of the affected system" in PagerDuty's words (we
    use ``<namespace>/<queue>``); ``depths`` are jobs waiting per queue; ``why`` says why
    the page fires, with its numbers.
    """

    dedup_key: str
    summary: str
    source: str
    severity: PagerSeverity
    why: str = ""
    depths: Mapping[str, int] = field(default_factory=dict)
    channel_url: str | None = None
    component: str | None = None  #: the queue
    group: str | None = None  #: the namespace
    event_class: str | None = None  #: the rule's name
    timestamp: datetime | None = None  #: when the incident was detected
    details: Mapping[str, Any] = field(default_factory=dict)  #: anything else worth showing

    @classmethod
    def for_incident(
        cls,
        incident: Incident,
        *,
        namespace: str,
        depths: Mapping[str, int],
        why: str,
        channel_url: str | None = None,
        escalated: bool = False,
        tier: str | None = None,
    ) -> PageContent:
        """The page for ``incident``. ``channel_url`` defaults to a deep link to the
        incident's channel when it has one."""
        depth = depths.get(incident.queue)
        where = f"{incident.queue} at {depth:,} jobs" if depth is not None else incident.queue
        summary = f"[{incident.playbook} #{incident.id}] {incident.title}: {where}"
        if tier:
            summary += f" (paging {tier})"
        details: dict[str, Any] = {
            "incident": incident.id,
            "rule": incident.rule,
            "rule severity": incident.severity.value,
            "state": incident.state.value,
            "detected at": incident.detected_at.isoformat(),
            "peak": f"{incident.peak_queue} at {incident.peak_depth:,}",
        }
        if tier:
            details["tier"] = tier
        if incident.channel and channel_url is None:
            channel_url = channel_link(incident.channel)
        return cls(
            dedup_key=incident_dedup_key(incident.playbook, incident.id),
            summary=summary,
            source=f"{namespace}/{incident.queue}",
            severity=pager_severity(incident.severity, escalated=escalated),
            why=why,
            depths=depths,
            channel_url=channel_url,
            component=incident.queue,
            group=namespace,
            event_class=incident.rule,
            timestamp=incident.detected_at,
            details=details,
        )

    def custom_details(self) -> dict[str, Any]:
        """Why it fired and the depths first, then the rest (PagerDuty shows them in order)."""
        out: dict[str, Any] = {}
        if self.why:
            out["why"] = self.why
        if self.depths:
            out["depths"] = dict(self.depths)
        out.update(self.details)
        return out


def trigger_event(routing_key: str, page: PageContent) -> bytes:
    """The Events API v2 ``trigger`` body for ``page`` as UTF-8 JSON.

    The summary is clipped to PagerDuty's 1,024 characters. If the whole event would
    pass the 512 KB limit, the custom details are replaced by a note saying so (the
    summary, link and dedup key still arrive), rather than PagerDuty refusing the page.
    """
    payload: dict[str, Any] = {
        "summary": clip_text(page.summary, MAX_SUMMARY),
        "source": page.source,
        "severity": page.severity.value,
    }
    if page.timestamp is not None:
        payload["timestamp"] = page.timestamp.isoformat()
    for key, value in (
        ("component", page.component),
        ("group", page.group),
        ("class", page.event_class),
    ):
        if value:
            payload[key] = value
    payload["custom_details"] = page.custom_details()
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": page.dedup_key,
        "client": CLIENT_NAME,
        "payload": payload,
    }
    if page.channel_url:
        event["client_url"] = page.channel_url
        event["links"] = [{"href": page.channel_url, "text": "Incident channel in Slack"}]
    body = _dumps(event)
    if len(body) > MAX_EVENT_BYTES:
        payload["custom_details"] = {
            "note": "details omitted: the event passed PagerDuty's 512 KB limit",
            "why": clip_text(page.why, 2000),
        }
        body = _dumps(event)
    return body


def follow_up_event(routing_key: str, action: str, dedup_key: str) -> bytes:
    """The ``acknowledge`` or ``resolve`` body for the alert ``dedup_key``."""
    return _dumps({"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key})


def _dumps(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()
