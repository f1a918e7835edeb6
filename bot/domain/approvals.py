"""Who may approve an action request, and when it has enough approvals."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.models import ActionRequest, ActionState
from bot.domain.playbook import ActionPolicy


class Verdict(StrEnum):
    REJECTED = "rejected"
    RECORDED = "recorded"  # counted, more approvals needed
    COMPLETE = "complete"  # this approval makes it runnable


@dataclass(frozen=True)
class ApprovalDecision:
    verdict: Verdict
    reason: str = ""
    approvals_after: int = 0
    required: int = 1
    expired: bool = False


def judge_approval(
    request: ActionRequest,
    policy: ActionPolicy,
    approver: str,
    eligible: Collection[str],
    now: datetime,
) -> ApprovalDecision:
    """Decides what one Approve click by ``approver`` does to ``request``.

    ``eligible`` is the set of Slack user ids in the policy's approver roles
    (usergroups already expanded by the caller).
    """
    required = policy.approvals_required
    so_far = len(request.approvals)
    rejection = _rejection(request, policy, approver, eligible, now)
    if rejection:
        expired = request.state is ActionState.PENDING and now >= request.expires_at
        return ApprovalDecision(Verdict.REJECTED, rejection, so_far, required, expired)
    after = so_far + 1
    verdict = Verdict.COMPLETE if after >= required else Verdict.RECORDED
    return ApprovalDecision(verdict, "", after, required)


def _rejection(
    request: ActionRequest,
    policy: ActionPolicy,
    approver: str,
    eligible: Collection[str],
    now: datetime,
) -> str:
    if request.state is not ActionState.PENDING:
        return f"This request is already {request.state.value}."
    if now >= request.expires_at:
        return "This request has expired; ask again."
    if approver not in eligible:
        roles = ", ".join(policy.approvers)
        return f"Only members of {roles} may approve `{request.kind.value}`."
    if approver == request.requested_by and not policy.requester_may_approve:
        return f"`{request.kind.value}` needs someone other than the requester to approve it."
    if approver in request.approvers:
        return "You have already approved this request."
    return ""


def may_deny(request: ActionRequest, user: str, eligible: Collection[str]) -> str:
    """Empty when ``user`` may deny (an approver or the requester); else the reason."""
    if request.state is not ActionState.PENDING:
        return f"This request is already {request.state.value}."
    if user in eligible or user == request.requested_by:
        return ""
    return "Only an approver or the requester can deny this request."
