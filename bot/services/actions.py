"""Remediation through approvals: request → approve/deny → execute once → record.

A button carries only the request's id; everything else is reloaded from
PostgreSQL and re-checked before anything runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.queues.requeue import RedisUnavailable, scan_stuck
from bot.adapters.store import Store
from bot.domain import commands
from bot.domain.actions import (
    ActionPlan,
    ActionRefused,
    plan_drain,
    plan_requeue,
    plan_restart,
    plan_scale,
    plan_scale_via_hpa,
    plan_tune,
    requeue_target,
)
from bot.domain.approvals import Verdict, judge_approval, may_deny
from bot.domain.models import ActionRequest, ActionState, Clock, EventKind
from bot.domain.playbook import Playbook
from bot.services import remediation
from bot.services.executors import ActionFailed, Executors
from bot.services.ports import Directory, Notifier

log = logging.getLogger(__name__)


# Slack and database round trips around an executor's own time limit.
ORPHAN_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class ClickOutcome:
    """What the clicking user is told (ephemeral) after Approve or Deny."""

    message: str
    request: ActionRequest | None = None


class ActionService:
    def __init__(
        self,
        *,
        store: Store,
        redis: aioredis.Redis,
        kube: KubeClient,
        notifier: Notifier,
        directory: Directory,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._store = store
        self._redis = redis
        self._kube = kube
        self._notifier = notifier
        self._directory = directory
        self._playbook = playbook
        self._clock = clock
        self.executors = Executors(
            kube=kube, redis=redis, notifier=notifier, playbook=playbook, clock=clock
        )

    # ---- requesting ------------------------------------------------------

    async def request_scale(
        self, user: str, command: commands.Scale, channel: str
    ) -> ActionRequest:
        current: int | None = None
        if command.deployment in self._playbook.deployments:
            try:
                status = await self._kube.deployment_status(
                    self._playbook.namespace, command.deployment
                )
            except KubeError as exc:
                raise ActionRefused(str(exc)) from exc
            current = status.desired
        plan = plan_scale(self._playbook, command, current)
        hpa = await self._kube.hpa_for(self._playbook.namespace, command.deployment)
        if hpa is not None:
            plan = plan_scale_via_hpa(self._playbook, command, hpa)
        return await self.submit(user, plan, channel)

    async def request_restart(
        self, user: str, command: commands.Restart, channel: str
    ) -> ActionRequest:
        return await self.submit(user, plan_restart(self._playbook, command), channel)

    async def request_tune(self, user: str, command: commands.Tune, channel: str) -> ActionRequest:
        config = self._playbook.worker_config
        current = await self._kube.read_configmap(self._playbook.namespace, config.configmap)
        return await self.submit(user, plan_tune(self._playbook, command, current), channel)

    async def request_drain(self, user: str, channel: str) -> ActionRequest:
        suffix = f"{self._clock():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
        return await self.submit(user, plan_drain(self._playbook, suffix), channel)

    async def request_requeue(
        self, user: str, command: commands.Requeue, channel: str
    ) -> ActionRequest:
        """Dry-runs the stuck-job scan and asks for approval with what it found."""
        stuck = self._playbook.stuck_jobs
        older_than = command.older_than or stuck.stuck_after
        requeue_target(self._playbook, command)  # a bad --queue is refused before any scan
        try:
            scan = await scan_stuck(
                self._redis,
                processing_set=stuck.processing_set,
                heartbeat_key=stuck.heartbeat_key,
                older_than_seconds=older_than.total_seconds(),
            )
        except RedisUnavailable as exc:
            raise ActionRefused(str(exc)) from exc
        plan = plan_requeue(self._playbook, command, scan)
        return await self.submit(user, plan, channel)

    async def submit(self, user: str, plan: ActionPlan, channel: str) -> ActionRequest:
        """Stores a planned action as a pending request and posts it for approval."""
        await remediation.refuse_paused_restarts(self._kube, plan)  # it could not run
        now = self._clock()
        policy = self._playbook.policy(plan.kind)
        incident = await self._store.open_incident_for(self._playbook.name)
        request = ActionRequest(
            id=uuid.uuid4(),
            incident_id=incident.id if incident else None,
            kind=plan.kind,
            params=plan.params,
            summary=plan.summary,
            requested_by=user,
            details=plan.details,
            requested_at=now,
            expires_at=now + policy.expires_after,
            state=ActionState.PENDING,
        )
        await self._store.create_action_request(request)
        posted = await self._notifier.post_approval_request(request, policy, channel)
        await self._store.set_action_message(request.id, posted.channel, posted.ts)
        await self._record(request, EventKind.ACTION_REQUESTED, user, f"Requested: {plan.summary}")
        await self._audit(request, user, "requested")
        stored = await self._store.get_action_request(request.id)
        assert stored is not None
        return stored

    # ---- approving -------------------------------------------------------

    async def approve(self, request_id: uuid.UUID, user: str) -> ClickOutcome:
        request = await self._store.get_action_request(request_id)
        if request is None:
            return ClickOutcome("That request no longer exists.")
        policy = self._playbook.policy(request.kind)
        eligible = await self._directory.members(policy.approvers)
        now = self._clock()
        outcome = await self._store.approve(
            request_id,
            user,
            now,
            lambda current: judge_approval(current, policy, user, eligible, now),
        )
        if outcome is None:
            return ClickOutcome("That request no longer exists.")
        decision, updated = outcome
        if decision.verdict is Verdict.REJECTED:
            await self._audit(updated, user, "approval refused", {"reason": decision.reason})
            if decision.expired:
                expired = await self._store.expire_action(request_id, now)
                if expired is not None:
                    await self._notifier.update_approval_request(expired, policy)
            return ClickOutcome(decision.reason, updated)
        await self._record(updated, EventKind.ACTION_APPROVED, user, f"Approved: {updated.summary}")
        await self._audit(updated, user, "approved")
        if decision.verdict is Verdict.RECORDED:
            note = f"{decision.approvals_after} of {decision.required} approvals"
            await self._notifier.update_approval_request(updated, policy, note)
            return ClickOutcome(f"Approval recorded ({note}).", updated)
        finished = await self._execute(updated)
        return ClickOutcome(f"Approved; the action {finished.state.value}.", finished)

    async def deny(self, request_id: uuid.UUID, user: str) -> ClickOutcome:
        request = await self._store.get_action_request(request_id)
        if request is None:
            return ClickOutcome("That request no longer exists.")
        policy = self._playbook.policy(request.kind)
        eligible = await self._directory.members(policy.approvers)
        outcome = await self._store.deny(
            request_id, user, self._clock(), lambda current: may_deny(current, user, eligible)
        )
        if outcome is None:
            return ClickOutcome("That request no longer exists.")
        reason, updated = outcome
        if reason:
            return ClickOutcome(reason, updated)
        await self._record(updated, EventKind.ACTION_DENIED, user, f"Denied: {updated.summary}")
        await self._audit(updated, user, "denied")
        await self._notifier.update_approval_request(updated, policy)
        return ClickOutcome("Denied.", updated)

    # ---- executing -------------------------------------------------------

    async def _execute(self, request: ActionRequest) -> ActionRequest:
        """Runs a request this process moved to ``executing`` (so: exactly once)."""
        policy = self._playbook.policy(request.kind)
        if request.incident_id is not None and request.executed_at is not None:
            await self._store.mark_mitigation_started(request.incident_id, request.executed_at)
        try:
            result = await self.executors.run(request)
        except Exception as exc:  # recorded below as the action's failure, never swallowed
            if not isinstance(exc, ActionFailed | KubeError):
                log.exception("action %s failed unexpectedly", request.kind.value)
                exc = ActionFailed(f"unexpected {type(exc).__name__}; see the bot's logs")
            finished = await self._store.finish_action(
                request.id, state=ActionState.FAILED, at=self._clock(), error=str(exc)
            )
            await self._record(finished, EventKind.ACTION_FAILED, None, f"Failed: {exc}")
            await self._audit(finished, "backlog-bot", "failed", {"error": str(exc)})
        else:
            finished = await self._store.finish_action(
                request.id, state=ActionState.SUCCEEDED, at=self._clock(), result=result
            )
            text = f"Done: {finished.summary}"
            await self._record(finished, EventKind.ACTION_SUCCEEDED, None, text, result)
            await self._audit(finished, "backlog-bot", "succeeded", result)
        await self._notifier.update_approval_request(finished, policy)
        if finished.channel:
            await self._notifier.post_in_thread(
                finished.channel, finished.message_ts, _outcome_text(finished)
            )
        return finished

    async def fail_orphans(self) -> int:
        """Marks actions whose process died mid-run as failed, and says so in their thread.

        Anything ``executing`` for longer than the longest an executor may take
        was interrupted; it is reported for a person to check, never re-run.
        """
        now = self._clock()
        limit = timedelta(seconds=self.executors.longest_run_seconds) + ORPHAN_MARGIN
        orphans = await self._store.fail_orphaned_actions(now - limit, now)
        for request_id in orphans:
            request = await self._store.get_action_request(request_id)
            if request is None:
                continue
            await self._record(
                request, EventKind.ACTION_FAILED, None, f"Interrupted: {request.summary}"
            )
            await self._audit(request, "backlog-bot", "interrupted")
            await self._notifier.update_approval_request(
                request, self._playbook.policy(request.kind)
            )
            if request.channel:
                await self._notifier.post_in_thread(
                    request.channel,
                    request.message_ts,
                    f":warning: {request.summary} was interrupted (the bot stopped while it ran). "
                    "It will not be re-run; check its effect by hand.",
                )
        return len(orphans)

    # ---- records ---------------------------------------------------------

    async def _record(
        self,
        request: ActionRequest,
        kind: EventKind,
        actor: str | None,
        text: str,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        if request.incident_id is None:
            return
        await self._store.add_event(
            request.incident_id,
            at=self._clock(),
            kind=kind,
            actor=actor,
            text=text,
            data={"request": str(request.id), **(data or {})},
        )

    async def _audit(
        self,
        request: ActionRequest,
        actor: str,
        outcome: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await self._store.audit(
            at=self._clock(),
            actor=actor,
            action=request.kind.value,
            target=_target(request),
            outcome=outcome,
            details={"request": str(request.id), "params": dict(request.params), **(details or {})},
        )


def _target(request: ActionRequest) -> str:
    params = request.params
    if "deployment" in params:
        return f"{params.get('namespace', '')}/deployment/{params['deployment']}"
    return request.kind.value


def _outcome_text(request: ActionRequest) -> str:
    approvers = ", ".join(f"<@{a}>" for a in request.approvers)
    if request.state is ActionState.SUCCEEDED:
        return f":white_check_mark: {request.summary} — done (approved by {approvers})."
    return f":x: {request.summary} — failed: {request.error}"
