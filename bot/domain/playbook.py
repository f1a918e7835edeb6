"""The playbook: every name and number of one worker system, as validated data.

Nothing PhishNet-specific lives in code; a team with another Redis-list worker
system writes its own playbook. A bad playbook fails at start-up with the file,
the field and the reason (see :func:`load_playbook`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain.durations import Duration as Duration
from bot.domain.durations import parse_duration as parse_duration
from bot.domain.measures import JobAgeSource, Vendor, check_triggers
from bot.domain.paging import PagerDutyTarget, WebhookTarget
from bot.domain.permissions import check_permissions
from bot.domain.playbook_slack import Recovery, SlackSettings
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

    description: str = ""
    users: tuple[Annotated[str, Field(pattern=_SLACK_USER)], ...] = ()
    usergroups: tuple[Annotated[str, Field(pattern=_SLACK_GROUP)], ...] = ()
    # Optional paging outside Slack for this role's people (see bot/domain/paging.py).
    pagerduty: PagerDutyTarget | None = None
    webhook: WebhookTarget | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Role:
        if not self.users and not self.usergroups:
            raise ValueError("a role needs at least one user or usergroup")
        return self


class Queue(_Model):
    name: str = Field(min_length=1, max_length=512)
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    deployment: K8sName | None = None
    description: str = ""
    job_age: JobAgeSource | None = Field(
        default=None,
        description="Where the enqueue time of the oldest waiting job is read, for the SLA "
        "trigger (list_head, sorted_set or prometheus: bot/domain/measures.py); none: the "
        "bot does not measure it",
    )


class Deployment(_Model):
    pod_selector: str = Field(min_length=1, description="label selector of its pods")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1, le=1000)
    suggested_replicas: int | None = Field(default=None, ge=1)
    log_error_pattern: str = r"ERROR|FATAL|Exception"

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

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: RuleKind
    queue: str
    threshold: int = Field(default=0, ge=0)
    for_: Duration = Field(alias="for")
    severity: Severity
    summary: str = ""
    expr: str | None = None


class StuckJobs(_Model):
    processing_set: str = Field(min_length=1)
    heartbeat_key: str = Field(min_length=1, description="with a {job_id} placeholder")
    stuck_after: Duration
    requeue_to: str

    @field_validator("heartbeat_key")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        if value.count("{job_id}") != 1:
            raise ValueError("must contain the placeholder {job_id} exactly once")
        return value


class ConfigKey(_Model):
    min: int
    max: int
    suggested: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ConfigKey:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class WorkerConfig(_Model):
    configmap: K8sName
    restart_deployments: tuple[K8sName, ...] = ()
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
    job_name: K8sName
    image: str = Field(min_length=1)
    command: tuple[str, ...] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    backoff_limit: int = Field(default=3, ge=0, le=20)
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
    approvals_required: int = Field(default=1, ge=1, le=5)
    requester_may_approve: bool = True
    expires_after: Duration = timedelta(minutes=30)


class EscalationTier(_Model):
    level: int = Field(ge=1)
    name: str
    page: tuple[str, ...] = Field(min_length=1, description="role names")
    after: Duration = Field(description="since the incident opened, if nobody acknowledged")
    duties: tuple[str, ...] = ()
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
    description: str
    threshold: int | None = Field(default=None, ge=0)
    for_: Duration | None = Field(default=None, alias="for")
    action: ActionKind | None = None
    within: Duration | None = None
    max_delay: Duration | None = None
    tier: int = Field(default=1, ge=1)
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
    tiers: tuple[EscalationTier, ...] = Field(min_length=1)
    triggers: tuple[EscalationTrigger, ...] = ()

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

    timeout: Duration = timedelta(seconds=10)
    log_tail_lines: int = Field(default=200, ge=10, le=5000)
    rate_limit_deployment: K8sName | None = None
    rate_limit_patterns: tuple[str, ...] = ("rate.limit", "quota", "429", "503")
    database_url_env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="env var with the app's DSN"
    )
    slow_query_tables: tuple[str, ...] = ()


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


class Playbook(_Model):
    name: str = Field(pattern=r"^[a-z0-9][-a-z0-9_]*$")
    description: str = ""
    namespace: K8sName
    severity: str = ""
    response_time: Duration | None = None
    resolution_time: Duration | None = None
    slack: SlackSettings
    recovery: Recovery = Recovery()
    roles: dict[str, Role] = Field(min_length=1)
    queues: tuple[Queue, ...] = Field(min_length=1)
    deployments: dict[K8sName, Deployment] = Field(min_length=1)
    rules: tuple[AlertRule, ...] = Field(min_length=1)
    stuck_jobs: StuckJobs
    worker_config: WorkerConfig
    emergency_drain: EmergencyDrain
    actions: dict[ActionKind, ActionPolicy]
    escalation: Escalation
    report: Report
    diagnostics: Diagnostics = Diagnostics()
    capacity: Capacity = Capacity()
    # Who may run each /backlog sub-command (bot/domain/permissions.py has the defaults).
    permissions: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    time_zone: TimeZoneName = "UTC"
    effect_check: EffectCheck = EffectCheck()

    @property
    def tz(self) -> ZoneInfo:
        """The playbook's time zone (reports show times in it, with UTC alongside)."""
        return ZoneInfo(self.time_zone)

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)

    @property
    def queue_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.queues)

    def policy(self, kind: ActionKind) -> ActionPolicy:
        if kind not in self.actions and kind in POLICY_FALLBACK:
            return self.actions[POLICY_FALLBACK[kind]]
        return self.actions[kind]

    @property
    def drain_queue(self) -> str:
        """The queue the emergency drain Job empties."""
        return self.emergency_drain.queue or self.queues[0].name


class PlaybookProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    reason: str


class PlaybookError(Exception):
    """A playbook that cannot be used, with every problem found."""

    def __init__(self, path: Path | str, problems: list[PlaybookProblem]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {p.field}: {p.reason}" for p in problems]
        super().__init__("\n".join(lines))


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part.removesuffix("_")
    return out or "(top level)"


def cross_check(playbook: Playbook) -> list[PlaybookProblem]:
    """Checks references between sections that field validation cannot see."""
    problems: list[PlaybookProblem] = []
    queues = set(playbook.queue_names)
    if len(queues) != len(playbook.queues):
        problems.append(PlaybookProblem(field="queues", reason="queue names must be unique"))
    for i, queue in enumerate(playbook.queues):
        if queue.deployment and queue.deployment not in playbook.deployments:
            problems.append(
                PlaybookProblem(
                    field=f"queues[{i}].deployment",
                    reason=f"'{queue.deployment}' is not listed under deployments",
                )
            )
    for i, rule in enumerate(playbook.rules):
        if rule.queue not in queues:
            problems.append(
                PlaybookProblem(field=f"rules[{i}].queue", reason=f"unknown queue '{rule.queue}'")
            )
        if rule.kind is RuleKind.DEPTH_ABOVE and rule.threshold <= 0:
            problems.append(
                PlaybookProblem(
                    field=f"rules[{i}].threshold", reason="a depth_above rule needs threshold > 0"
                )
            )
    if playbook.stuck_jobs.requeue_to not in queues:
        problems.append(
            PlaybookProblem(
                field="stuck_jobs.requeue_to",
                reason=f"unknown queue '{playbook.stuck_jobs.requeue_to}'",
            )
        )
    rate_limited = playbook.diagnostics.rate_limit_deployment
    if rate_limited and rate_limited not in playbook.deployments:
        problems.append(
            PlaybookProblem(
                field="diagnostics.rate_limit_deployment",
                reason=f"'{rate_limited}' is not listed under deployments",
            )
        )
    for j, name in enumerate(playbook.worker_config.restart_deployments):
        if name not in playbook.deployments:
            problems.append(
                PlaybookProblem(
                    field=f"worker_config.restart_deployments[{j}]",
                    reason=f"'{name}' is not listed under deployments",
                )
            )
    problems += _check_capacity(playbook)
    problems += _check_roles(playbook)
    queues_seen = {q.name: (q.job_age is not None, q.deployment) for q in playbook.queues}
    problems += [
        PlaybookProblem(field=field, reason=reason)
        for field, reason in check_triggers(
            playbook.escalation.triggers, queues_seen, playbook.deployments
        )
    ]
    problems += [
        PlaybookProblem(field=field, reason=reason)
        for field, reason in check_permissions(playbook.permissions, tuple(playbook.roles))
    ]
    problems += _check_drain(playbook)
    missing = [
        kind.value
        for kind in ActionKind
        if kind not in playbook.actions and kind not in POLICY_FALLBACK
    ]
    if missing:
        problems.append(
            PlaybookProblem(field="actions", reason=f"no approval policy for: {', '.join(missing)}")
        )
    return problems


def _check_drain(playbook: Playbook) -> list[PlaybookProblem]:
    queues = set(playbook.queue_names)
    drain = playbook.emergency_drain
    named = [("emergency_drain.queue", drain.queue)]
    named.append(("emergency_drain.recovery.reanalyse_to", drain.recovery.reanalyse_to))
    problems = [
        PlaybookProblem(field=where, reason=f"unknown queue '{name}'")
        for where, name in named
        if name is not None and name not in queues
    ]
    if drain.recovery.reanalyse_to is not None and drain.recovery.reanalyse_to == (
        playbook.drain_queue
    ):
        problems.append(
            PlaybookProblem(
                field="emergency_drain.recovery.reanalyse_to",
                reason="must not be the queue the drain empties (the drain would take them again)",
            )
        )
    return problems


def _check_capacity(playbook: Playbook) -> list[PlaybookProblem]:
    """The capacity model's floor must fit under every worker deployment's maximum,
    or it would have no worker count to recommend."""
    floor = playbook.capacity.min_workers
    return [
        PlaybookProblem(
            field="capacity.min_workers",
            reason=f"{floor} is above deployments.{name}.max_replicas ({spec.max_replicas})",
        )
        for name, spec in playbook.deployments.items()
        if any(q.deployment == name for q in playbook.queues) and floor > spec.max_replicas
    ]


def _check_roles(playbook: Playbook) -> list[PlaybookProblem]:
    problems: list[PlaybookProblem] = []
    for kind, policy in playbook.actions.items():
        for j, role in enumerate(policy.approvers):
            if role not in playbook.roles:
                problems.append(
                    PlaybookProblem(
                        field=f"actions.{kind.value}.approvers[{j}]",
                        reason=f"unknown role '{role}'",
                    )
                )
    for j, role in enumerate(playbook.slack.incident_channels.invite_roles):
        if role not in playbook.roles:
            problems.append(
                PlaybookProblem(
                    field=f"slack.incident_channels.invite_roles[{j}]",
                    reason=f"unknown role '{role}'",
                )
            )
    levels = {tier.level for tier in playbook.escalation.tiers}
    for i, trigger in enumerate(playbook.escalation.triggers):
        if trigger.tier not in levels:
            problems.append(
                PlaybookProblem(
                    field=f"escalation.triggers[{i}].tier",
                    reason=f"no escalation tier with level {trigger.tier}",
                )
            )
    for i, tier in enumerate(playbook.escalation.tiers):
        for j, role in enumerate(tier.page):
            if role not in playbook.roles:
                problems.append(
                    PlaybookProblem(
                        field=f"escalation.tiers[{i}].page[{j}]", reason=f"unknown role '{role}'"
                    )
                )
    return problems


def parse_playbook(text: str, path: Path | str = "<playbook>") -> Playbook:
    """Parses and validates YAML text; raises :class:`PlaybookError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        reason = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError(path, [PlaybookProblem(field=where, reason=reason)]) from exc
    if not isinstance(data, dict):
        raise PlaybookError(
            path, [PlaybookProblem(field="(top level)", reason="expected a mapping of sections")]
        )
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        problems = [
            PlaybookProblem(
                field=_loc_to_path(err["loc"]), reason=err["msg"].removeprefix("Value error, ")
            )
            for err in exc.errors()
        ]
        raise PlaybookError(path, problems) from exc
    problems = cross_check(playbook)
    if problems:
        raise PlaybookError(path, problems)
    return playbook


def load_playbook(path: Path | str) -> Playbook:
    """Reads and validates a playbook file; raises :class:`PlaybookError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(
            path, [PlaybookProblem(field="(file)", reason=exc.strerror or str(exc))]
        ) from exc
    return parse_playbook(text, path)
