"""The playbook's sections: one worker system's roles, queues, deployments, rules,
actions and limits as strict, frozen pydantic models (the whole playbook and its
loading are in :mod:`bot.domain.playbook`, which re-exports these names)."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bot.domain.durations import Duration as Duration
from bot.domain.durations import parse_duration as parse_duration
from bot.domain.measures import JobAgeSource
from bot.domain.paging import PagerDutyTarget, WebhookTarget
from bot.domain.playbook_types import PlaybookModel

# Kubernetes object names: RFC 1123 labels/subdomains.
_K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SLACK_USER = r"^[UW][A-Z0-9]{2,}$"
_SLACK_GROUP = r"^S[A-Z0-9]{2,}$"


def _k8s_name(value: str) -> str:
    if not re.fullmatch(_K8S_NAME, value) or len(value) > 253:
        raise ValueError(
            f"{value!r} is not a Kubernetes name (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit)"
        )
    return value


K8sName = Annotated[str, AfterValidator(_k8s_name)]


_Model = PlaybookModel


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Role(_Model):
    """People who can approve or be paged: Slack user ids and user groups."""

    description: str = Field(default="", description="for people; shown nowhere by the bot")
    users: tuple[Annotated[str, Field(pattern=_SLACK_USER)], ...] = Field(
        default=(), description="Slack user ids (`U…`, `W…`)"
    )
    usergroups: tuple[Annotated[str, Field(pattern=_SLACK_GROUP)], ...] = Field(
        default=(), description="Slack user group ids (`S…`), expanded with usergroups.users.list"
    )
    # Optional paging outside Slack for this role's people (see bot/domain/paging.py).
    pagerduty: PagerDutyTarget | None = None
    webhook: WebhookTarget | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Role:
        if not self.users and not self.usergroups:
            raise ValueError("a role needs at least one user or usergroup")
        return self


class Queue(_Model):
    name: str = Field(min_length=1, max_length=512, description="the Redis list's key")
    metric: str = Field(
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="the Prometheus gauge name under which /metrics exports its depth",
    )
    deployment: K8sName | None = Field(
        default=None, description="the deployment of the workers that consume it, if any"
    )
    description: str = Field(default="", description="for people; not used by the bot")
    job_age: JobAgeSource | None = Field(
        default=None,
        description="Where the enqueue time of the oldest waiting job is read, for the SLA "
        "trigger (list_head, sorted_set or prometheus: bot/domain/measures.py); none: the "
        "bot does not measure it",
    )


class Deployment(_Model):
    pod_selector: str = Field(min_length=1, description="label selector of its pods")
    min_replicas: int = Field(default=1, ge=0, description="the fewest replicas a scale may set")
    max_replicas: int = Field(ge=1, le=1000, description="the most replicas a scale may set")
    suggested_replicas: int | None = Field(
        default=None,
        ge=1,
        description="the worker count proposed while no depth samples exist yet (else the "
        "capacity model's)",
    )
    log_error_pattern: str = Field(
        default=r"ERROR|FATAL|Exception",
        description="regular expression of error lines in its pods' logs, for diagnose",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Deployment:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})"
            )
        suggested = self.suggested_replicas
        if suggested is not None and not self.min_replicas <= suggested <= self.max_replicas:
            raise ValueError(
                f"suggested_replicas ({suggested}) is outside "
                f"{self.min_replicas}..{self.max_replicas}"
            )
        return self


class RuleKind(StrEnum):
    DEPTH_ABOVE = "depth_above"
    PROCESSING_STALLED = "processing_stalled"


class AlertRule(_Model):
    """One alert rule. ``depth_above`` rules are evaluated by the bot's own
    monitor from Redis samples; ``processing_stalled`` needs a processed-jobs
    counter, so it arrives from Prometheus through Alertmanager (``expr`` is the
    PromQL the Prometheus rule uses)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the alert's name (an Alertmanager alert of this name joins the incident)",
    )
    kind: RuleKind
    queue: str = Field(description="one of `queues`' names")
    threshold: int = Field(default=0, ge=0, description="depth_above: the depth it must exceed")
    for_: Duration = Field(
        alias="for", description="how long the condition must hold before it fires"
    )
    severity: Severity
    summary: str = Field(default="", description="the incident's title (else the rule's name)")
    expr: str | None = Field(
        default=None, description="the Prometheus rule's PromQL (deploy/prometheus/rules.yml)"
    )


class StuckJobs(_Model):
    processing_set: str = Field(
        min_length=1, description="the Redis set of the ids of jobs being processed"
    )
    heartbeat_key: str = Field(min_length=1, description="with a {job_id} placeholder")
    stuck_after: Duration = Field(
        description="a job whose heartbeat is older (or missing) counts as stuck; "
        "`/backlog requeue`'s default `--older-than`"
    )
    requeue_to: str = Field(description="the Redis list stuck jobs are pushed back onto")

    @field_validator("heartbeat_key")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        if value.count("{job_id}") != 1:
            raise ValueError("must contain the placeholder {job_id} exactly once")
        return value


class ConfigKey(_Model):
    min: int = Field(description="the smallest value `/backlog tune` may set")
    max: int = Field(description="the largest value `/backlog tune` may set")
    suggested: int | None = Field(default=None, description="for people; not used by the bot")

    @model_validator(mode="after")
    def _bounds(self) -> ConfigKey:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class WorkerConfig(_Model):
    configmap: K8sName = Field(description="the ConfigMap holding the workers' settings")
    restart_deployments: tuple[K8sName, ...] = Field(
        default=(),
        description="the deployments that read it: restarted after a tune; only these can be tuned",
    )
    keys: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")], ConfigKey]


class DrainRecovery(_Model):
    """What the bot keeps of an emergency drain so the emails it processed with minimal
    analysis can be analysed fully later (see :mod:`bot.domain.recovery`).

    ``ttl``: how long Redis keeps the snapshot of the drained ids; ``reanalyse_to``: the
    queue the processed ids go back onto for full analysis (None: no Re-analyse is
    offered); ``batch_size`` ids per atomic step, at most ``max_per_minute`` ids a minute
    so the re-analysis does not cause the next backlog."""

    ttl: Duration = Field(default=timedelta(days=7), ge=timedelta(minutes=10))
    reanalyse_to: str | None = None
    batch_size: int = Field(default=100, ge=1, le=2000)
    max_per_minute: int = Field(default=600, ge=1, le=100_000)


class EmergencyDrain(_Model):
    job_name: K8sName = Field(description="the Job's name prefix (a unique suffix is added)")
    image: str = Field(min_length=1, description="the Job's container image")
    command: tuple[str, ...] = Field(min_length=1, description="the container's command")
    env: dict[str, str] = Field(
        default_factory=dict, description="the container's environment variables"
    )
    backoff_limit: int = Field(default=3, ge=0, le=20, description="the Job's backoffLimit")
    # The queue the drain Job empties (None: the playbook's first queue).
    queue: str | None = None
    recovery: DrainRecovery = DrainRecovery()


class ActionKind(StrEnum):
    SCALE = "scale"
    REQUEUE = "requeue"
    RESTART = "restart"
    TUNE = "tune"
    DRAIN = "drain"
    REANALYSE = "reanalyse"  # an emergency drain's emails, back for full analysis


#: Kinds whose approval policy may be left out of a playbook: they use another
#: kind's (re-analysis pushes ids onto a queue, as a requeue does).
POLICY_FALLBACK = {ActionKind.REANALYSE: ActionKind.REQUEUE}


class ActionPolicy(_Model):
    approvers: tuple[str, ...] = Field(min_length=1, description="role names")
    approvals_required: int = Field(
        default=1, ge=1, le=5, description="distinct people who must approve before it runs"
    )
    requester_may_approve: bool = Field(
        default=True, description="false: the requester cannot approve their own request"
    )
    expires_after: Duration = Field(
        default=timedelta(minutes=30),
        description="a request not approved within this long expires and never runs",
    )


class Capacity(_Model):
    """The runbook's capacity model (its ``QueuePredictor.recommend_scaling``): jobs one
    worker clears per minute, how soon a backlog must be cleared, the fewest workers,
    and how much recent depth the trend reads (raw samples are kept 48 h); see
    :mod:`bot.domain.capacity`."""

    jobs_per_worker_minute: int = Field(default=50, ge=1)
    drain_within: Duration = Field(default=timedelta(minutes=10), ge=timedelta(minutes=1))
    min_workers: int = Field(default=2, ge=1)
    trend_window: Duration = Field(
        default=timedelta(minutes=15), ge=timedelta(minutes=2), le=timedelta(hours=48)
    )


class EffectCheck(_Model):
    """How the bot judges whether an executed action helped (see :mod:`bot.domain.effects`).

    It watches the action's queue for ``window`` after the action; the consumers'
    throughput change must exceed ``min_change`` of their throughput before (and
    ``min_change_per_minute`` jobs/min, and twice the trends' combined standard error)
    to count as helping or worse; anything smaller is "no effect"."""

    window: Duration = Field(default=timedelta(minutes=10), ge=timedelta(minutes=2))
    min_change: float = Field(default=0.1, gt=0, le=1)
    min_change_per_minute: float = Field(default=5.0, ge=0)


class Diagnostics(_Model):
    """Where ``/backlog diagnose`` looks (the runbook's root-cause checks)."""

    timeout: Duration = Field(
        default=timedelta(seconds=10), description="each check's own time limit"
    )
    log_tail_lines: int = Field(
        default=200, ge=10, le=5000, description="how many recent log lines per pod are read"
    )
    rate_limit_deployment: K8sName | None = Field(
        default=None, description="the deployment whose logs are searched for rate limits"
    )
    rate_limit_patterns: tuple[str, ...] = Field(
        default=("rate.limit", "quota", "429", "503"),
        description="regular expressions of rate-limit lines in those logs",
    )
    database_url_env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="env var with the app's DSN"
    )
    slow_query_tables: tuple[str, ...] = Field(
        default=(),
        description="tables whose slowest statements are listed (needs pg_stat_statements)",
    )


ReportSection = Literal[
    "summary",
    "timeline",
    "actions",
    "escalations",
    "root_cause",
    "lessons_learned",
    "prevention",
    "chart",
]


def _reaction_name(value: str) -> str:
    name = value.strip().strip(":")
    if not re.fullmatch(r"[a-z0-9_+\-']+(::skin-tone-[2-6])?", name):
        raise ValueError(
            f"{value!r} is not a Slack reaction name (like pushpin or white_check_mark)"
        )
    return name


ReactionName = Annotated[str, AfterValidator(_reaction_name)]


class Report(_Model):
    """The incident report (the runbook's "Post-Resolution" template). ``sections`` in
    the order written; ``mark_reactions`` are the reactions that put a person's
    message in the report's timeline (as pinning does), by Slack name without colons
    (📌 is ``pushpin``)."""

    title: str = "Queue Backlog Incident Report"
    sections: tuple[ReportSection, ...] = Field(min_length=1)
    mark_reactions: tuple[ReactionName, ...] = ("pushpin",)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA time zone (like UTC, Europe/Berlin or America/New_York)"
        ) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
