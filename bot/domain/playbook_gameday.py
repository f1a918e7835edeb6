"""The playbook's ``gameday`` section and the drill's pure decisions.

A game day is a controlled drill (issue 14; the runbook's "Testing Recovery
Procedures": a monthly stress test, "first day of month at 2 AM"): synthetic jobs
are pushed onto a *staging* queue until a rule fires, and the bot's own alert,
incident channel and first page are timed against targets. This module holds the
section's model, the refusal of any target not marked staging, the synthetic ids,
the default targets and the verdict; ``bot/services/gameday.py`` runs the drill.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from bot.domain.durations import Duration
from bot.domain.errors import Refused
from bot.domain.playbook_sections import K8sName, RuleKind
from bot.domain.playbook_types import PlaybookModel

if TYPE_CHECKING:
    from bot.domain.playbook import AlertRule, Playbook

#: Slack of the default targets over the playbook's own timers: a few samples
#: (15 s apart by default) and the outbox's first delivery.
TARGET_SLACK = timedelta(minutes=1)
#: How many ids one Redis round trip pushes or removes (bounded batches).
BATCH = 200
#: The most synthetic jobs one drill may push, whatever the playbook says.
MAX_JOBS = 100_000

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")


class GameDayStaging(PlaybookModel):
    """What is staging: a drill refuses any other namespace or queue."""

    namespace: K8sName
    queues: tuple[str, ...] = Field(min_length=1)


class GameDayPush(PlaybookModel):
    """How many synthetic jobs, and how fast (per drill step, i.e. per sample)."""

    max_jobs: int = Field(default=5000, ge=1, le=MAX_JOBS)
    per_step: int = Field(default=1000, ge=1, le=10_000)
    #: Jobs pushed above the rule's threshold, so workers taking a few do not end it.
    margin: int = Field(default=100, ge=0)


class GameDayTargets(PlaybookModel):
    """Deadlines, each counted from when the drill's pushes took the queue above the
    rule's threshold (the backlog's start, as the incident report counts time to
    detect). Unset: derived from the playbook (see :func:`targets_for`)."""

    detect: Duration | None = None
    post: Duration | None = None
    page: Duration | None = None


class GameDay(PlaybookModel):
    staging: GameDayStaging
    #: The queue the drill fills (default: the first staging queue).
    queue: str | None = None
    #: The depth_above rule it expects to fire (default: the first on that queue).
    rule: str | None = None
    job_prefix: str = Field(default="gameday-", pattern=r"^[A-Za-z0-9][-A-Za-z0-9_:.]{0,30}$")
    push: GameDayPush = GameDayPush()
    targets: GameDayTargets = GameDayTargets()
    #: How often the drill samples, tops up and looks (the monitor's own interval in
    #: ``serve``, BACKLOG_BOT_SAMPLE_INTERVAL, is 15 s).
    step: Duration = timedelta(seconds=15)
    #: A cron expression (minute hour day month weekday, as APScheduler's
    #: ``CronTrigger.from_crontab``) for ``serve`` to run the drill; the runbook's
    #: monthly stress test is "0 2 1 * *".
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                "expected a cron expression of 5 fields (minute hour day month weekday), "
                f"e.g. '0 2 1 * *', got {value!r}"
            )
        return value

    @field_validator("step")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("the drill's step must be positive")
        return value

    @property
    def target_queue(self) -> str:
        return self.queue or self.staging.queues[0]


class DrillRefused(Refused):
    """The drill will not run: one sentence saying why (exit code 2); nothing was
    pushed."""


class DrillBusy(DrillRefused):
    """Another drill of the playbook runs (in ``serve``: another replica's run of the
    same scheduled drill, which is not worth a message)."""


@dataclass(frozen=True)
class Targets:
    detect: timedelta
    post: timedelta
    page: timedelta


@dataclass(frozen=True)
class DrillPlan:
    """What a drill will do, checked against every playbook the bot serves."""

    playbook: str
    namespace: str
    queue: str
    rule: AlertRule
    prefix: str
    targets: Targets
    max_jobs: int
    per_step: int
    margin: int
    step: timedelta

    @property
    def timeout(self) -> timedelta:
        """The drill gives up (and fails) this long after the backlog began."""
        return self.targets.page + 2 * TARGET_SLACK


def plan_drill(playbook: Playbook, production: Iterable[Playbook] = ()) -> DrillPlan:
    """The drill for ``playbook``'s ``gameday`` section, or :class:`DrillRefused`.

    DrillRefused (one sentence each) when the playbook has no ``gameday`` section, when its
    namespace is not the one marked staging, when the target queue is not marked
    staging, is not watched by the playbook or has no ``depth_above`` rule, or when
    the namespace or queue is one a ``production`` playbook (any served playbook
    other than this very one, compared by content, not by name) uses: a drill never
    pushes onto a production queue.
    """
    section = playbook.gameday
    if section is None:
        raise DrillRefused(
            f"Playbook '{playbook.name}' has no gameday section: nothing is staging."
        )
    queue = section.target_queue
    if playbook.namespace != section.staging.namespace:
        raise DrillRefused(
            f"Refusing the game day: namespace '{playbook.namespace}' is not marked staging "
            f"in playbook '{playbook.name}' (gameday.staging.namespace is "
            f"'{section.staging.namespace}')."
        )
    if queue not in section.staging.queues:
        raise DrillRefused(
            f"Refusing the game day: queue '{queue}' is not marked staging in playbook "
            f"'{playbook.name}'."
        )
    for other in production:
        # Only the very playbook being drilled is skipped — by content, not by name: a
        # copy of a production playbook with a gameday section added keeps its name, and
        # must still be refused on the production namespace and queues it shares.
        if other == playbook:
            continue
        if other.namespace == playbook.namespace:
            raise DrillRefused(
                f"Refusing the game day: namespace '{playbook.namespace}' is the production "
                f"namespace of playbook '{other.name}'."
            )
        if queue in other.queue_names:
            raise DrillRefused(
                f"Refusing the game day: queue '{queue}' is a production queue of playbook "
                f"'{other.name}'."
            )
    if queue not in playbook.queue_names:
        raise DrillRefused(
            f"Refusing the game day: queue '{queue}' is not among playbook "
            f"'{playbook.name}''s queues, so no rule of the bot watches it."
        )
    rule = _rule(playbook, queue, section.rule)
    return DrillPlan(
        playbook=playbook.name,
        namespace=playbook.namespace,
        queue=queue,
        rule=rule,
        prefix=section.job_prefix,
        targets=targets_for(playbook, rule),
        max_jobs=section.push.max_jobs,
        per_step=section.push.per_step,
        margin=section.push.margin,
        step=section.step,
    )


def check_gameday(playbook: Playbook) -> list[tuple[str, str]]:
    """``(field, reason)`` for each reference of the ``gameday`` section the playbook
    does not have (``check-playbook`` and start-up report them); whether the target
    (``gameday.queue``) is marked staging is decided, and refused in words, when a
    drill runs (:func:`plan_drill`)."""
    section = playbook.gameday
    if section is None:
        return []
    problems = [
        (f"gameday.staging.queues[{i}]", f"unknown queue '{queue}'")
        for i, queue in enumerate(section.staging.queues)
        if queue not in playbook.queue_names
    ]
    depth_rules = {r.name for r in playbook.rules if r.kind is RuleKind.DEPTH_ABOVE}
    if section.rule is not None and section.rule not in depth_rules:
        problems.append(("gameday.rule", f"'{section.rule}' is not a depth_above rule"))
    return problems


def _rule(playbook: Playbook, queue: str, name: str | None) -> AlertRule:
    rules = [r for r in playbook.rules if r.kind is RuleKind.DEPTH_ABOVE and r.queue == queue]
    if name is not None:
        rules = [r for r in rules if r.name == name]
    if not rules:
        wanted = f"depth_above rule '{name}'" if name else "depth_above rule"
        raise DrillRefused(
            f"Refusing the game day: playbook '{playbook.name}' has no {wanted} on "
            f"queue '{queue}' for the drill to fire."
        )
    return rules[0]


def targets_for(playbook: Playbook, rule: AlertRule) -> Targets:
    """The playbook's targets, else: detect = the rule's ``for`` + 1 min; post (the
    alert in the incident's channel) = detect + 1 min; page = detect + the first
    tier's ``after`` (the runbook's 30-minute response time) + 1 min."""
    given = playbook.gameday.targets if playbook.gameday else GameDayTargets()
    detect = given.detect or rule.for_ + TARGET_SLACK
    first_tier = min(playbook.escalation.tiers, key=lambda t: t.after)
    return Targets(
        detect=detect,
        post=given.post or detect + TARGET_SLACK,
        page=given.page or detect + first_tier.after + TARGET_SLACK,
    )


def synthetic_id(prefix: str, run_id: str, index: int) -> str:
    """The ``index``-th job of run ``run_id``: ``gameday-20261201T020000-3f2a-000042``.
    Cleaning up removes exactly these values, so a real job is never touched, even one
    whose payload contains the prefix."""
    return f"{prefix}{run_id}-{index:06d}"


def synthetic_ids(prefix: str, run_id: str, start: int, stop: int) -> list[str]:
    return [synthetic_id(prefix, run_id, i) for i in range(start, stop)]


def batches(start: int, stop: int, size: int = BATCH) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into ranges of at most ``size``."""
    return [(i, min(i + size, stop)) for i in range(start, stop, size)]


def to_push(depth: int, threshold: int, margin: int, pushed: int, plan: DrillPlan) -> int:
    """How many jobs to push now: enough to hold the queue ``margin`` above the rule's
    threshold, at most ``per_step`` at once and ``max_jobs`` in all."""
    wanted = max(0, threshold + margin + 1 - depth)
    return max(0, min(wanted, plan.per_step, plan.max_jobs - pushed))


@dataclass(frozen=True)
class Measured:
    """What the drill saw, on the bot's clock; None: it never happened."""

    crossed_at: datetime | None
    detected_at: datetime | None
    posted_at: datetime | None
    paged_at: datetime | None

    def since_start(self, at: datetime | None) -> timedelta | None:
        if at is None or self.crossed_at is None:
            return None
        return at - self.crossed_at


def missed(plan: DrillPlan, measured: Measured) -> list[str]:
    """Each target missed, as words: ``"time to page 41m 30s over the target 31m"``
    or ``"no page within 33m"``; empty when the drill passed."""
    out: list[str] = []
    if measured.crossed_at is None:
        return [f"the queue never went above {plan.rule.threshold} jobs"]
    for name, at, target in (
        ("detect", measured.detected_at, plan.targets.detect),
        ("post", measured.posted_at, plan.targets.post),
        ("page", measured.paged_at, plan.targets.page),
    ):
        took = measured.since_start(at)
        if took is None:
            out.append(f"time to {name}: never happened (target {show(target)})")
        elif took > target:
            out.append(f"time to {name} {show(took)} over the target {show(target)}")
    return out


def show(delta: timedelta | None) -> str:
    """``1h 2m 3s``, ``45s``; ``—`` for None."""
    if delta is None:
        return "—"
    seconds = max(0, round(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s"]
    if secs == 0 and (hours or minutes):
        parts[2] = ""
    return " ".join(p for p in parts if p)


def summary_lines(
    plan: DrillPlan,
    run_id: str,
    measured: Measured,
    failures: Sequence[str],
    *,
    pushed: int,
    removed: int,
    taken: int,
    incident_id: int | None,
) -> list[str]:
    """The pass/fail summary posted to the announcement channel and printed."""
    verdict = "PASSED" if not failures else "FAILED"
    where = f"queue `{plan.queue}` in namespace `{plan.namespace}`"
    lines = [
        f"Game day {run_id} {verdict} (a drill on {where}, rule {plan.rule.name}"
        + (f", incident #{incident_id}" if incident_id is not None else "")
        + ")."
    ]
    for name, at, target in (
        ("detect", measured.detected_at, plan.targets.detect),
        ("post the alert in its channel", measured.posted_at, plan.targets.post),
        ("page", measured.paged_at, plan.targets.page),
    ):
        lines.append(f"Time to {name}: {show(measured.since_start(at))} (target {show(target)}).")
    lines.append(
        f"Synthetic jobs: {pushed} pushed, {removed} removed, {taken} already taken by "
        "workers; no other job was touched."
    )
    lines += [f"Missed: {f}." for f in failures]
    return lines
