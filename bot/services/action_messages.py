"""What the bot says about actions: approval requests and their state, progress,
outcomes, effect checks and an emergency drain's recovery (issues 7 and 12)."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.slack import blocks, effect_blocks
from bot.adapters.store import Store
from bot.domain.effects import Judgement
from bot.domain.models import ActionRequest
from bot.domain.playbook import ActionPolicy
from bot.domain.recovery import Recovery
from bot.services.message_keys import request_key
from bot.services.message_writer import MessageWriter


class ActionMessages(MessageWriter):
    async def approval(
        self,
        tx: Store,
        request: ActionRequest,
        policy: ActionPolicy,
        channel: str,
        *,
        typed_in: str | None = None,
    ) -> None:
        """The approval request with Approve/Deny in ``channel``; if Slack refuses it, the
        requester is told (``notify_user``, in ``typed_in``: where they asked) and the
        request is marked failed by the caller."""
        await tx.enqueue_message(
            request_key(request.id),
            channel,
            blocks.payload(blocks.approval_text(request), blocks.approval_blocks(request, policy)),
            at=self._clock(),
            incident_id=request.incident_id,
            notify_user=request.requested_by,
            notify_channel=typed_in or channel,
        )

    async def approval_changed(
        self, tx: Store, request: ActionRequest, policy: ActionPolicy, note: str = ""
    ) -> None:
        """The request's message shows its state now (and loses its buttons once it is
        no longer pending)."""
        await tx.update_message(
            request_key(request.id),
            blocks.payload(
                blocks.approval_text(request), blocks.approval_blocks(request, policy, note)
            ),
        )

    async def progress(self, tx: Store, request: ActionRequest, text: str) -> None:
        """One progress message in the request's thread, edited as work goes on."""
        key = f"{request_key(request.id)}/progress"
        body = blocks.payload(text, [blocks.section(text)])
        if not await tx.update_message(key, body):
            await tx.enqueue_message(
                key,
                request.channel or "",
                body,
                at=self._clock(),
                thread_key=request_key(request.id),
                incident_id=request.incident_id,
            )

    async def outcome(self, tx: Store, request: ActionRequest, text: str) -> None:
        await self.say(
            tx,
            f"{request_key(request.id)}/outcome",
            request.channel or "",
            text,
            thread_key=request_key(request.id),
            incident_id=request.incident_id,
        )

    async def effect(
        self,
        tx: Store,
        request: ActionRequest,
        judgement: Judgement,
        *,
        watch_until: datetime | None,
        window_seconds: float,
        can_roll_back: bool,
    ) -> None:
        """The action's effect check: one message in its thread, edited as data arrives
        (issue 12; bot/services/effects.py)."""
        body = effect_blocks.effect_payload(
            request,
            judgement,
            watch_until=watch_until,
            window_seconds=window_seconds,
            can_roll_back=can_roll_back,
        )
        await self._in_thread(
            tx, f"{request_key(request.id)}/effect", request_key(request.id), request, body
        )

    async def drain_recovery(self, tx: Store, recovery: Recovery, reanalyse_to: str | None) -> None:
        """An emergency drain's count (processed vs snapshotted) in its thread, and the
        Re-analyse button once the backlog is over (issue 12)."""
        key = request_key(recovery.request_id)
        body = effect_blocks.recovery_payload(recovery, reanalyse_to=reanalyse_to)
        if not await tx.update_message(f"{key}/recovery", body):
            await tx.enqueue_message(
                f"{key}/recovery",
                recovery.channel,
                body,
                at=self._clock(),
                thread_key=key,
                incident_id=recovery.incident_id,
            )
