"""What an action leaves behind: its timeline entries and its audit rows.

Written in the caller's transaction (the state change they record), so the record
and the change commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.adapters.store import Store
from bot.domain.models import ActionRequest, ActionState, Clock, EventKind

_LABELS = {
    EventKind.ACTION_REQUESTED: "Requested",
    EventKind.ACTION_APPROVED: "Approved",
    EventKind.ACTION_DENIED: "Denied",
    EventKind.ACTION_SUCCEEDED: "Done",
    EventKind.ACTION_FAILED: "Failed",
}


class ActionRecords:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def event(
        self,
        tx: Store,
        request: ActionRequest,
        kind: EventKind,
        actor: str | None,
        text: str,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """A timeline entry on the request's incident (none for a request made with no
        incident open)."""
        if request.incident_id is None:
            return
        await tx.add_event(
            request.incident_id,
            at=self._clock(),
            kind=kind,
            actor=actor,
            text=f"{_LABELS.get(kind, kind.value)}: {text}",
            data={"request": str(request.id), **(data or {})},
        )

    async def audit(
        self,
        tx: Store,
        request: ActionRequest,
        actor: str,
        outcome: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """An audit row: who did what to which object, with the request's parameters."""
        await tx.audit(
            at=self._clock(),
            actor=actor,
            action=request.kind.value,
            target=target(request),
            outcome=outcome,
            details={"request": str(request.id), "params": dict(request.params), **(details or {})},
        )


def target(request: ActionRequest) -> str:
    """The audit log's target: ``namespace/deployment/NAME`` or the action's kind."""
    params = request.params
    if "deployment" in params:
        return f"{params.get('namespace', '')}/deployment/{params['deployment']}"
    return request.kind.value


def outcome_text(request: ActionRequest) -> str:
    """The line posted in the request's thread when it has run."""
    approvers = ", ".join(f"<@{a}>" for a in request.approvers)
    if request.state is ActionState.SUCCEEDED:
        return f":white_check_mark: {request.summary} — done (approved by {approvers})."
    return f":x: {request.summary} — failed: {request.error}"
