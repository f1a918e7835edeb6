"""The playbook's escalation: tiers paged on timers and the runbook's triggers that
page regardless (re-exported by :mod:`bot.domain.playbook`)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator

from bot.domain.durations import Duration
from bot.domain.measures import Vendor
from bot.domain.paging import PagerDutyTarget, WebhookTarget
from bot.domain.playbook_sections import ActionKind
from bot.domain.playbook_types import PlaybookModel as _Model


class EscalationTier(_Model):
    level: int = Field(ge=1, description="L1, L2…: ascending, unique")
    name: str = Field(description="shown in pages and the report")
    page: tuple[str, ...] = Field(min_length=1, description="role names")
    after: Duration = Field(description="since the incident opened, if nobody acknowledged")
    duties: tuple[str, ...] = Field(default=(), description="listed in the tier's page")
    # Optional paging outside Slack for the whole tier (see bot/domain/paging.py).
    pagerduty: PagerDutyTarget | None = None
    webhook: WebhookTarget | None = None


class TriggerKind(StrEnum):
    DEPTH_ABOVE_FOR = "depth_above_for"
    NOT_RESOLVED_AFTER_ACTION = "not_resolved_after_action"
    SLA_DELAY = "sla_delay"
    TIME_TO_BREACH = "time_to_breach"
    EXTERNAL_API_UNAVAILABLE = "external_api_unavailable"


class EscalationTrigger(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: TriggerKind
    description: str = Field(description="the page's reason, followed by the numbers")
    threshold: int | None = Field(
        default=None, ge=0, description="depth_above_for: the depth the largest queue exceeds"
    )
    for_: Duration | None = Field(
        default=None,
        alias="for",
        description="depth_above_for: how long above threshold; external_api_unavailable: "
        "how long every call has failed",
    )
    action: ActionKind | None = Field(
        default=None, description="not_resolved_after_action: the action kind that succeeded"
    )
    within: Duration | None = Field(
        default=None,
        description="not_resolved_after_action: page if the incident is still open this long "
        "after the first such action succeeded",
    )
    max_delay: Duration | None = Field(
        default=None,
        description="sla_delay, time_to_breach: the SLA, the longest a job may wait",
    )
    tier: int = Field(default=1, ge=1, description="the level paged when it fires")
    # ---- What measured triggers read (bot/domain/measures.py, bot/domain/escalation.py).
    queue: str | None = Field(
        default=None,
        description="sla_delay, time_to_breach: the queue watched (sla_delay: by default "
        "every queue with a job_age)",
    )
    breach_within: Duration | None = Field(
        default=None,
        description="time_to_breach: page when the depth trend reaches the SLA's depth "
        "within this long",
    )
    breach_depth: int | None = Field(
        default=None,
        ge=1,
        description="time_to_breach: the depth at which the SLA is breached; by default what "
        "the queue's deployment clears in max_delay at its max_replicas and "
        "capacity.jobs_per_worker_minute",
    )
    vendors: tuple[Vendor, ...] = Field(
        default=(),
        description="external_api_unavailable: external APIs whose calls are counted in the "
        "workers' logs; it fires when every call to one fails for `for`",
    )
    check_every: Duration = Field(
        default=timedelta(minutes=1),
        description="external_api_unavailable: how often the logs are read while an incident "
        "is open",
    )
    alerts: tuple[str, ...] = Field(
        default=(),
        description="any kind: it also fires while one of these Alertmanager alerts is firing",
    )


class Escalation(_Model):
    tiers: tuple[EscalationTier, ...] = Field(
        min_length=1, description="paged in turn on their timers until someone acknowledges"
    )
    triggers: tuple[EscalationTrigger, ...] = Field(
        default=(), description="conditions that page a tier at once, acknowledged or not"
    )

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: tuple[EscalationTier, ...]) -> tuple[EscalationTier, ...]:
        levels = [tier.level for tier in tiers]
        if levels != sorted(set(levels)):
            raise ValueError(f"tier levels must be unique and ascending, got {levels}")
        delays = [tier.after for tier in tiers]
        if delays != sorted(delays):
            raise ValueError("each tier's 'after' must be no earlier than the previous tier's")
        return tiers
