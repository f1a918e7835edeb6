"""The playbook: every name and number of one worker system, as validated data.

Nothing PhishNet-specific lives in code; a team with another Redis-list worker
system writes its own playbook. A bad playbook fails at start-up with the file,
the field and the reason (see :func:`load_playbook`).
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    Field,
    ValidationError,
)

from bot.domain.durations import Duration as Duration
from bot.domain.durations import parse_duration as parse_duration
from bot.domain.playbook_checks import PlaybookProblem as PlaybookProblem
from bot.domain.playbook_checks import cross_check as cross_check
from bot.domain.playbook_escalation import (
    Escalation,
    EscalationTier,
    EscalationTrigger,
    TriggerKind,
)
from bot.domain.playbook_gameday import GameDay
from bot.domain.playbook_redis import RedisSource
from bot.domain.playbook_sections import (
    POLICY_FALLBACK,
    ActionKind,
    ActionPolicy,
    AlertRule,
    Capacity,
    ConfigKey,
    Deployment,
    Diagnostics,
    DrainRecovery,
    EffectCheck,
    EmergencyDrain,
    K8sName,
    Queue,
    ReactionName,
    Report,
    ReportSection,
    Role,
    RuleKind,
    Severity,
    StuckJobs,
    TimeZoneName,
    WorkerConfig,
)
from bot.domain.playbook_slack import Recovery, SlackSettings
from bot.domain.playbook_types import PlaybookModel

__all__ = [
    "POLICY_FALLBACK",
    "ActionKind",
    "ActionPolicy",
    "AlertRule",
    "Capacity",
    "ConfigKey",
    "Deployment",
    "Diagnostics",
    "DrainRecovery",
    "Duration",
    "EffectCheck",
    "EmergencyDrain",
    "Escalation",
    "EscalationTier",
    "EscalationTrigger",
    "K8sName",
    "Playbook",
    "PlaybookError",
    "PlaybookProblem",
    "Queue",
    "ReactionName",
    "Report",
    "ReportSection",
    "Role",
    "RuleKind",
    "Severity",
    "StuckJobs",
    "TimeZoneName",
    "TriggerKind",
    "WorkerConfig",
    "cross_check",
    "load_playbook",
    "parse_duration",
    "parse_playbook",
]

_Model = PlaybookModel


class Playbook(_Model):
    name: str = Field(
        pattern=r"^[a-z0-9][-a-z0-9_]*$",
        description="the playbook's name; `{playbook}` in a channel name template",
    )
    description: str = Field(default="", description="for people; not used by the bot")
    namespace: K8sName = Field(
        description="the Kubernetes namespace of the deployments, ConfigMap and drain Job"
    )
    severity: str = Field(
        default="", description="the runbook's severity, for people; not used by the bot"
    )
    response_time: Duration | None = Field(
        default=None, description="the runbook's response time, for people; not used by the bot"
    )
    resolution_time: Duration | None = Field(
        default=None,
        description="the runbook's resolution time, for people; not used by the bot",
    )
    slack: SlackSettings
    recovery: Recovery = Recovery()
    roles: dict[str, Role] = Field(
        min_length=1, description="role name → people; approvers, pages and permissions name them"
    )
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
    permissions: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="`/backlog` sub-command → role names (or `anyone`) who may run it; "
        "unset: read-only sub-commands are open to anyone, the others to members of any role",
    )
    time_zone: TimeZoneName = Field(
        default="UTC", description="IANA time zone of the report's times (UTC shown alongside)"
    )
    effect_check: EffectCheck = EffectCheck()
    redis: RedisSource = RedisSource()
    # A game day's staging target (bot/domain/playbook_gameday.py); none: no drills.
    gameday: GameDay | None = None

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
    except UnicodeDecodeError as exc:  # a binary file, or another encoding
        reason = f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        raise PlaybookError(path, [PlaybookProblem(field="(file)", reason=reason)]) from exc
    return parse_playbook(text, path)
