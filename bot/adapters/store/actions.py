"""Action requests and their approvals.

State changes are conditional (``UPDATE … WHERE state = …``) and taken under
a row lock, so a double click or two replicas run an action exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from bot.adapters.store.base import Queries, changed
from bot.domain.approvals import ApprovalDecision, Verdict
from bot.domain.models import ActionRequest, ActionState, Approval
from bot.domain.playbook import ActionKind

Judge = Callable[[ActionRequest], ApprovalDecision]


class ActionQueries(Queries):
    async def create_action_request(
        self, request: ActionRequest, playbook: str | None = None
    ) -> None:
        """Stores ``request``, made in ``playbook`` (its name)."""
        await self._db.execute(
            """
            INSERT INTO action_requests (id, incident_id, kind, params, summary, details,
                                         requested_by, requested_at, expires_at, state,
                                         channel, message_ts, playbook)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            request.id,
            request.incident_id,
            request.kind.value,
            dict(request.params),
            request.summary,
            list(request.details),
            request.requested_by,
            request.requested_at,
            request.expires_at,
            request.state.value,
            request.channel,
            request.message_ts,
            playbook,
        )

    async def action_request_playbook(self, request_id: UUID) -> str | None:
        """The playbook a request was made in (None: unknown, or made before playbooks
        were recorded)."""
        value = await self._db.fetchval(
            "SELECT playbook FROM action_requests WHERE id = $1", request_id
        )
        return str(value) if value is not None else None

    async def set_action_message(self, request_id: UUID, channel: str, ts: str | None) -> None:
        await self._db.execute(
            "UPDATE action_requests SET channel = $2, message_ts = COALESCE($3, message_ts) "
            "WHERE id = $1",
            request_id,
            channel,
            ts,
        )

    async def get_action_request(self, request_id: UUID) -> ActionRequest | None:
        async with self._connection() as conn:
            return await _load_request(conn, request_id, lock=False)

    async def approve(
        self, request_id: UUID, approver: str, at: datetime, judge: Judge
    ) -> tuple[ApprovalDecision, ActionRequest] | None:
        """Records one approval under a row lock.

        ``judge`` (pure) sees the request as it is now and decides; when its
        verdict is COMPLETE the request moves to ``executing`` in the same
        transaction, so exactly one click, on one replica, gets to run it.
        """
        async with self._transaction() as conn:
            request = await _load_request(conn, request_id, lock=True)
            if request is None:
                return None
            decision = judge(request)
            if decision.verdict is Verdict.REJECTED:
                return decision, request
            await conn.execute(
                "INSERT INTO approvals (request_id, approver, at) VALUES ($1, $2, $3)",
                request_id,
                approver,
                at,
            )
            if decision.verdict is Verdict.COMPLETE:
                await conn.execute(
                    "UPDATE action_requests SET state = 'executing', executed_at = $2 "
                    "WHERE id = $1 AND state = 'pending'",
                    request_id,
                    at,
                )
            updated = await _load_request(conn, request_id, lock=False)
            assert updated is not None
            return decision, updated

    async def deny(
        self, request_id: UUID, user: str, at: datetime, check: Callable[[ActionRequest], str]
    ) -> tuple[str, ActionRequest] | None:
        """Denies a pending request; returns (refusal reason or "", request)."""
        async with self._transaction() as conn:
            request = await _load_request(conn, request_id, lock=True)
            if request is None:
                return None
            reason = check(request)
            if reason:
                return reason, request
            await conn.execute(
                "UPDATE action_requests SET state = 'denied', denied_by = $2, finished_at = $3 "
                "WHERE id = $1 AND state = 'pending'",
                request_id,
                user,
                at,
            )
            updated = await _load_request(conn, request_id, lock=False)
            assert updated is not None
            return "", updated

    async def expire_action(self, request_id: UUID, at: datetime) -> ActionRequest | None:
        """Marks a pending request past its expiry as expired; None if it was not."""
        async with self._connection() as conn:
            status = await conn.execute(
                "UPDATE action_requests SET state = 'expired', finished_at = $2 "
                "WHERE id = $1 AND state = 'pending' AND expires_at <= $2",
                request_id,
                at,
            )
            if not changed(status):
                return None
            return await _load_request(conn, request_id, lock=False)

    async def expire_due_actions(
        self, at: datetime, playbook: str | None = None
    ) -> list[ActionRequest]:
        """Pending requests past their expiry (``playbook``'s and those of no recorded
        playbook; every one when None), now marked expired (once, across replicas)."""
        rows = await self._db.fetch(
            "UPDATE action_requests SET state = 'expired', finished_at = $1 "
            "WHERE state = 'pending' AND expires_at <= $1 "
            "AND ($2::text IS NULL OR playbook IS NULL OR playbook = $2) RETURNING id",
            at,
            playbook,
        )
        return await self._requests([row["id"] for row in rows])

    async def expire_pending_for_incident(
        self, incident_id: int, at: datetime
    ) -> list[ActionRequest]:
        """The incident's pending requests, now expired (it was resolved: nothing of
        them may run any more)."""
        rows = await self._db.fetch(
            "UPDATE action_requests SET state = 'expired', finished_at = $2 "
            "WHERE incident_id = $1 AND state = 'pending' RETURNING id",
            incident_id,
            at,
        )
        return await self._requests([row["id"] for row in rows])

    async def executing_actions(self) -> list[ActionRequest]:
        rows = await self._db.fetch(
            "SELECT id FROM action_requests WHERE state = 'executing' ORDER BY executed_at"
        )
        return await self._requests([row["id"] for row in rows])

    async def mark_interrupted(self, request_id: UUID, at: datetime) -> ActionRequest | None:
        """Fails an ``executing`` request whose process died (it holds no lease): it is
        reported, never re-run. None when it was not executing any more."""
        status = await self._db.execute(
            """
            UPDATE action_requests SET state = 'failed', finished_at = $2,
                   error = 'interrupted: the bot stopped while this ran'
            WHERE id = $1 AND state = 'executing'
            """,
            request_id,
            at,
        )
        if not changed(status):
            return None
        return await self.get_action_request(request_id)

    async def fail_unposted_request(self, request_id: UUID, at: datetime, why: str) -> bool:
        """A pending request whose approval message Slack refused: nobody can approve
        it, so it fails rather than stay pending."""
        status = await self._db.execute(
            "UPDATE action_requests SET state = 'failed', finished_at = $2, error = $3 "
            "WHERE id = $1 AND state = 'pending'",
            request_id,
            at,
            why,
        )
        return changed(status)

    async def set_action_progress(self, request_id: UUID, progress: Mapping[str, Any]) -> None:
        """What a running action has done so far (said if it is interrupted)."""
        await self._db.execute(
            "UPDATE action_requests SET progress = $2 WHERE id = $1", request_id, dict(progress)
        )

    async def recent_action_requests(self, limit: int = 50) -> list[ActionRequest]:
        """The newest requests first, whatever their incident."""
        rows = await self._db.fetch(
            "SELECT id FROM action_requests ORDER BY requested_at DESC, id LIMIT $1", limit
        )
        return await self._requests([row["id"] for row in rows])

    async def _requests(self, ids: list[UUID]) -> list[ActionRequest]:
        async with self._connection() as conn:
            found = [await _load_request(conn, request_id, lock=False) for request_id in ids]
        return [r for r in found if r is not None]

    async def finish_action(
        self,
        request_id: UUID,
        *,
        state: ActionState,
        at: datetime,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> ActionRequest:
        async with self._connection() as conn:
            await conn.execute(
                """
                UPDATE action_requests SET state = $2, finished_at = $3, result = $4, error = $5
                WHERE id = $1 AND state = 'executing'
                """,
                request_id,
                state.value,
                at,
                dict(result or {}),
                error,
            )
            request = await _load_request(conn, request_id, lock=False)
            assert request is not None
            return request

    async def actions_for_incident(self, incident_id: int) -> list[ActionRequest]:
        async with self._connection() as conn:
            ids = await conn.fetch(
                "SELECT id FROM action_requests WHERE incident_id = $1 ORDER BY requested_at, id",
                incident_id,
            )
            requests = [await _load_request(conn, row["id"], lock=False) for row in ids]
        return [r for r in requests if r is not None]


async def _load_request(
    conn: asyncpg.Connection, request_id: UUID, *, lock: bool
) -> ActionRequest | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow("SELECT * FROM action_requests WHERE id = $1" + suffix, request_id)
    if row is None:
        return None
    approvals = await conn.fetch(
        "SELECT approver, at FROM approvals WHERE request_id = $1 ORDER BY at, approver",
        request_id,
    )
    return ActionRequest(
        id=row["id"],
        incident_id=row["incident_id"],
        kind=ActionKind(row["kind"]),
        params=row["params"],
        summary=row["summary"],
        details=tuple(row["details"]),
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        expires_at=row["expires_at"],
        state=ActionState(row["state"]),
        approvals=tuple(Approval(approver=a["approver"], at=a["at"]) for a in approvals),
        denied_by=row["denied_by"],
        executed_at=row["executed_at"],
        finished_at=row["finished_at"],
        result=row["result"],
        error=row["error"],
        channel=row["channel"],
        message_ts=row["message_ts"],
        progress=row["progress"],
    )
