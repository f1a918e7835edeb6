"""Checks between a playbook's sections that field validation cannot see (a queue's
deployment that does not exist, a role nobody defined, …), each problem named by its
field path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from bot.domain.measures import check_triggers
from bot.domain.permissions import check_permissions
from bot.domain.playbook_gameday import check_gameday
from bot.domain.playbook_sections import POLICY_FALLBACK, ActionKind, RuleKind

if TYPE_CHECKING:
    from bot.domain.playbook import Playbook


class PlaybookProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    reason: str


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
    problems += [PlaybookProblem(field=f, reason=r) for f, r in check_gameday(playbook)]
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
