from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.approvals import Verdict, judge_approval, may_deny
from bot.domain.models import ActionRequest, ActionState, Approval
from bot.domain.playbook import ActionKind, ActionPolicy

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def request(kind=ActionKind.SCALE, **changes) -> ActionRequest:
    base = ActionRequest(
        id=uuid.uuid4(),
        incident_id=1,
        kind=kind,
        params={},
        summary="Scale",
        requested_by="UALICE",
        requested_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
        state=ActionState.PENDING,
    )
    return replace(base, **changes)


ONE = ActionPolicy(approvers=("sre",), approvals_required=1)
TWO_OTHERS = ActionPolicy(approvers=("leads",), approvals_required=2, requester_may_approve=False)
ELIGIBLE = {"UALICE", "UBOB", "UCAROL"}


def test_single_approval_completes():
    decision = judge_approval(request(), ONE, "UBOB", ELIGIBLE, NOW)
    assert decision.verdict is Verdict.COMPLETE


def test_requester_may_approve_own_request_when_policy_allows():
    assert judge_approval(request(), ONE, "UALICE", ELIGIBLE, NOW).verdict is Verdict.COMPLETE


def test_non_member_is_rejected_with_the_roles_named():
    decision = judge_approval(request(), ONE, "UDAVE", ELIGIBLE, NOW)
    assert decision.verdict is Verdict.REJECTED
    assert "Only members of sre may approve `scale`" in decision.reason


def test_two_approvers_neither_the_requester():
    drain = request(ActionKind.DRAIN)
    own = judge_approval(drain, TWO_OTHERS, "UALICE", ELIGIBLE, NOW)
    assert own.verdict is Verdict.REJECTED and "other than the requester" in own.reason
    first = judge_approval(drain, TWO_OTHERS, "UBOB", ELIGIBLE, NOW)
    assert (first.verdict, first.approvals_after, first.required) == (Verdict.RECORDED, 1, 2)
    approved_once = replace(drain, approvals=(Approval("UBOB", NOW),))
    again = judge_approval(approved_once, TWO_OTHERS, "UBOB", ELIGIBLE, NOW)
    assert again.verdict is Verdict.REJECTED and "already approved" in again.reason
    second = judge_approval(approved_once, TWO_OTHERS, "UCAROL", ELIGIBLE, NOW)
    assert second.verdict is Verdict.COMPLETE


def test_expired_and_finished_requests_cannot_be_approved():
    late = judge_approval(request(), ONE, "UBOB", ELIGIBLE, NOW + timedelta(hours=1))
    assert late.verdict is Verdict.REJECTED and "expired" in late.reason
    done = judge_approval(request(state=ActionState.SUCCEEDED), ONE, "UBOB", ELIGIBLE, NOW)
    assert done.verdict is Verdict.REJECTED and "already succeeded" in done.reason


def test_deny_rights():
    assert may_deny(request(), "UBOB", ELIGIBLE) == ""
    assert may_deny(request(requested_by="UDAVE"), "UDAVE", ELIGIBLE) == ""
    assert "Only an approver" in may_deny(request(), "UEVE", ELIGIBLE)
    assert "already denied" in may_deny(request(state=ActionState.DENIED), "UBOB", ELIGIBLE)
