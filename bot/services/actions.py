"""Remediation through approvals: request → approve/deny → execute once → record.

A button carries only the request's id; everything else is reloaded from
PostgreSQL and re-checked before anything runs. Each state change, its
timeline entry, its audit row and the update of the request's Slack message
commit in one transaction; Slack is reached later by the outbox sender, so an
action that ran is recorded as having run whatever Slack does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.requeue import RedisUnavailable, scan_stuck
from bot.adapters.store import Store
from bot.adapters.store.leases import ActionLeases
from bot.adapters.store.outbox import incident_destination
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
from bot.domain.errors import BotError
from bot.domain.models import ActionRequest, ActionState, Clock, EventKind
from bot.domain.playbook import Playbook
from bot.services import remediation
from bot.services.action_records import ActionRecords, outcome_text
from bot.services.executors import ActionFailed, Executors
from bot.services.interruptions import Interruptions
from bot.services.messages import Messages, request_key
from bot.services.ports import Directory

log = logging.getLogger(__name__)

# How long cancelled actions get to unwind when a shutdown's grace period is over.
CANCEL_SECONDS = 2.0

# Runs in the transaction recording an executed action's outcome (the effect check,
# bot/services/effects.py; wired in bot/app.py).
FinishedHook = Callable[[Store, ActionRequest], Awaitable[None]]


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
        redis: RedisClient,
        kube: KubeClient,
        messages: Messages,
        directory: Directory,
        leases: ActionLeases,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._store = store
        self._redis = redis
        self._kube = kube
        self._messages = messages
        self._directory = directory
        self._leases = leases
        self._playbook = playbook
        self._clock = clock
        self.executors = Executors(
            kube=kube,
            redis=redis,
            journal=store,
            report=self._progress,
            playbook=playbook,
            clock=clock,
        )
        self._records = ActionRecords(clock)
        self.interruptions = Interruptions(
            store=store,
            redis=redis,
            leases=leases,
            messages=messages,
            records=self._records,
            playbook=playbook,
            clock=clock,
        )
        self.on_finished: FinishedHook | None = None
        # Actions executing in this process, for a graceful shutdown (wait_idle/interrupt).
        self._in_flight: dict[uuid.UUID, asyncio.Task[Any]] = {}
        self._settled = asyncio.Event()

    # ---- requesting ------------------------------------------------------

    async def request_scale(
        self, user: str, command: commands.Scale, channel: str
    ) -> ActionRequest:
        current: int | None = None
        if command.deployment in self._playbook.deployments:
            status = await self._kube.deployment_status(
                self._playbook.namespace, command.deployment
            )
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
        target = requeue_target(self._playbook, command)  # refused before any scan
        scan = await scan_stuck(
            self._redis,
            processing_set=stuck.processing_set,
            heartbeat_key=stuck.heartbeat_key,
            older_than_seconds=older_than.total_seconds(),
            target_queue=target,
        )
        plan = plan_requeue(self._playbook, command, scan)
        return await self.submit(user, plan, channel)

    async def submit(self, user: str, plan: ActionPlan, channel: str) -> ActionRequest:
        """Stores a planned action as a pending request with its approval message, in one
        transaction: there is never a request without a message on its way, or the reverse."""
        await remediation.refuse_paused_restarts(self._kube, plan)  # it could not run
        now = self._clock()
        policy = self._playbook.policy(plan.kind)
        async with self._store.transaction() as tx:
            incident = await tx.open_incident_for(self._playbook.name)
            # An incident's requests go to its channel, wherever they were typed.
            typed_in, channel = channel, incident_destination(incident.id) if incident else channel
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
                channel=channel,
            )
            await tx.create_action_request(request, self._playbook.name)
            await self._messages.approval(tx, request, policy, channel, typed_in=typed_in)
            await self._records.event(tx, request, EventKind.ACTION_REQUESTED, user, plan.summary)
            await self._records.audit(tx, request, user, "requested")
        return request

    async def on_request_message_refused(self, request_id: uuid.UUID, why: str) -> None:
        """Slack refused the approval request's message: nobody can approve it, so the
        request fails (the sender has told the requester why)."""
        now = self._clock()
        async with self._store.transaction() as tx:
            if not await tx.fail_unposted_request(request_id, now, why):
                return
            request = await tx.get_action_request(request_id)
            if request is not None:
                await self._records.event(tx, request, EventKind.ACTION_FAILED, None, why)
                await self._records.audit(tx, request, "backlog-bot", "failed", {"error": why})

    # ---- approving -------------------------------------------------------

    async def approve(self, request_id: uuid.UUID, user: str) -> ClickOutcome:
        request = await self._store.get_action_request(request_id)
        if request is None:
            return ClickOutcome("That request no longer exists.")
        policy = self._playbook.policy(request.kind)
        eligible = await self._directory.members(policy.approvers)
        # Taken before the request can become `executing`, so no other replica ever
        # sees it executing without a lease (and calls it interrupted).
        lease = await self._leases.take(request_id)
        if lease is None:
            return ClickOutcome("That request is already running.", request)
        try:
            now = self._clock()
            async with self._store.transaction() as tx:
                outcome = await tx.approve(
                    request_id,
                    user,
                    now,
                    lambda current: judge_approval(current, policy, user, eligible, now),
                )
                if outcome is None:
                    return ClickOutcome("That request no longer exists.")
                decision, updated = outcome
                if decision.verdict is Verdict.REJECTED:
                    await self._records.audit(
                        tx, updated, user, "approval refused", {"reason": decision.reason}
                    )
                    if decision.expired:
                        expired = await tx.expire_action(request_id, now)
                        if expired is not None:
                            await self._messages.approval_changed(tx, expired, policy)
                    return ClickOutcome(decision.reason, updated)
                await self._records.event(
                    tx, updated, EventKind.ACTION_APPROVED, user, updated.summary
                )
                await self._records.audit(tx, updated, user, "approved")
                note = ""
                if decision.verdict is Verdict.RECORDED:
                    note = f"{decision.approvals_after} of {decision.required} approvals"
                await self._messages.approval_changed(tx, updated, policy, note)
            if decision.verdict is Verdict.RECORDED:
                return ClickOutcome(f"Approval recorded ({note}).", updated)
            finished = await self._execute(updated)
            return ClickOutcome(f"Approved; the action {finished.state.value}.", finished)
        finally:
            await lease.release()

    async def deny(self, request_id: uuid.UUID, user: str) -> ClickOutcome:
        request = await self._store.get_action_request(request_id)
        if request is None:
            return ClickOutcome("That request no longer exists.")
        policy = self._playbook.policy(request.kind)
        eligible = await self._directory.members(policy.approvers)
        async with self._store.transaction() as tx:
            outcome = await tx.deny(
                request_id, user, self._clock(), lambda current: may_deny(current, user, eligible)
            )
            if outcome is None:
                return ClickOutcome("That request no longer exists.")
            reason, updated = outcome
            if reason:
                return ClickOutcome(reason, updated)
            await self._records.event(tx, updated, EventKind.ACTION_DENIED, user, updated.summary)
            await self._records.audit(tx, updated, user, "denied")
            await self._messages.approval_changed(tx, updated, policy)
        return ClickOutcome("Denied.", updated)

    # ---- executing -------------------------------------------------------

    async def _execute(self, request: ActionRequest) -> ActionRequest:
        """Runs a request this process moved to ``executing`` (so: exactly once)."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight[request.id] = task
        try:
            return await self._run_and_record(request)
        finally:
            self._in_flight.pop(request.id, None)
            self._settled.set()

    async def _run_and_record(self, request: ActionRequest) -> ActionRequest:
        policy = self._playbook.policy(request.kind)
        if request.incident_id is not None and request.executed_at is not None:
            await self._store.mark_mitigation_started(request.incident_id, request.executed_at)
        result: Mapping[str, Any] = {}
        error: BotError | None = None
        try:
            result = await self.executors.run(request)
        except (ActionFailed, KubeError, RedisUnavailable) as exc:
            error = exc
        except Exception as exc:  # recorded as the action's failure below, never swallowed
            log.exception("action %s failed unexpectedly", request.kind.value)
            error = ActionFailed(f"unexpected {type(exc).__name__}; see the bot's logs")
        now = self._clock()
        async with self._store.transaction() as tx:
            if error is None:
                finished = await tx.finish_action(
                    request.id, state=ActionState.SUCCEEDED, at=now, result=result
                )
                await self._records.event(
                    tx, finished, EventKind.ACTION_SUCCEEDED, None, finished.summary, result
                )
                await self._records.audit(tx, finished, "backlog-bot", "succeeded", result)
            else:
                finished = await tx.finish_action(
                    request.id, state=ActionState.FAILED, at=now, error=str(error)
                )
                await self._records.event(tx, finished, EventKind.ACTION_FAILED, None, f"{error}")
                await self._records.audit(
                    tx, finished, "backlog-bot", "failed", {"error": str(error)}
                )
            await self._messages.approval_changed(tx, finished, policy)
            await self._messages.outcome(tx, finished, outcome_text(finished))
            if self.on_finished is not None:
                await self.on_finished(tx, finished)
        return finished

    async def _progress(
        self, request: ActionRequest, text: str, done: Mapping[str, Any] | None
    ) -> None:
        async with self._store.transaction() as tx:
            await self._messages.progress(tx, request, text)
            if done is not None:
                await tx.set_action_progress(request.id, done)

    # ---- sweeps ------------------------------------------------------------

    async def recover_interrupted(self) -> int:
        """Reports actions a dead process left executing (bot/services/interruptions.py)."""
        return await self.interruptions.recover()

    async def expire_pending(self) -> int:
        """Requests nobody approved in time lose their buttons and say so."""
        async with self._store.transaction() as tx:
            expired = await tx.expire_due_actions(self._clock(), self._playbook.name)
            for request in expired:
                await self._records.audit(tx, request, "backlog-bot", "expired")
                await self._messages.approval_changed(
                    tx, request, self._playbook.policy(request.kind)
                )
        return len(expired)

    # ---- shutting down ---------------------------------------------------

    async def wait_idle(self, seconds: float) -> list[uuid.UUID]:
        """Waits up to ``seconds`` for the actions executing in this process to
        finish; returns the ids of those still running (empty: idle)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._in_flight and (left := deadline - loop.time()) > 0:
            self._settled.clear()
            try:
                async with asyncio.timeout(left):  # not wait_for: see delivery.py
                    await self._settled.wait()
            except TimeoutError:
                break
        return list(self._in_flight)

    async def interrupt(self, request_ids: Sequence[uuid.UUID], reason: str) -> list[uuid.UUID]:
        """Cancels these actions running in this process (a shutdown's grace period is
        over) and reports them interrupted as :meth:`recover_interrupted` does: failed,
        never re-run, what is known said in their thread; ``reason`` goes to the audit
        log. Returns the ids reported."""
        tasks = [task for i in request_ids if (task := self._in_flight.get(i)) is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_SECONDS)
        reported = []
        for request_id in request_ids:
            request = await self._store.get_action_request(request_id)
            if request is not None and await self.interruptions.report(request, {"reason": reason}):
                reported.append(request_id)
        return reported


__all__ = ["ActionRefused", "ActionService", "ClickOutcome", "request_key"]
