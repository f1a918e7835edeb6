"""Block Kit, built by pure functions from domain values.

Kept within Slack's limits (50 blocks a message, 3,000 characters a section
text, 150 a header, 2,000 a button value) so a long incident never turns
into an ``invalid_blocks`` error.
"""

from __future__ import annotations

import re

from bot.adapters.slack.alert_blocks import alert_blocks, alert_text
from bot.adapters.slack.fit import fit_blocks, split_sections
from bot.adapters.slack.ids import ActionId, BlockId
from bot.adapters.slack.kit import (
    Block,
    Payload,
    button,
    context,
    header,
    payload,
    section,
    sparkline,
    without_buttons,
)
from bot.domain.models import ActionRequest, ActionState, Incident
from bot.domain.playbook import ActionPolicy

__all__ = [
    "Block",
    "Payload",
    "alert_blocks",
    "alert_text",
    "approval_blocks",
    "approval_text",
    "button",
    "context",
    "header",
    "markdown_to_mrkdwn",
    "payload",
    "report_blocks",
    "section",
    "sparkline",
    "without_buttons",
]


def approval_blocks(request: ActionRequest, policy: ActionPolicy, note: str = "") -> list[Block]:
    roles = ", ".join(policy.approvers)
    approvals = ", ".join(f"<@{a}>" for a in request.approvers) or "none yet"
    blocks = [
        section(f"{_state_heading(request)} — {request.summary}"),
        *(section(detail, "see the thread") for detail in request.details[:10]),
        context(
            f"Requested by <@{request.requested_by}> · needs {policy.approvals_required} "
            f"approval(s) from {roles}"
            + ("" if policy.requester_may_approve else " (not the requester)")
            + f" · approvals: {approvals} · expires {request.expires_at:%H:%M} UTC"
        ),
    ]
    if note:
        blocks.append(context(note))
    if request.state is ActionState.PENDING:
        value = str(request.id)
        blocks.append(
            {
                "type": "actions",
                "block_id": BlockId.APPROVAL_BUTTONS.value,
                "elements": [
                    button("Approve", ActionId.APPROVE, value, "primary"),
                    button("Deny", ActionId.DENY, value, "danger"),
                ],
            }
        )
    else:
        blocks.append(section(_final_line(request)))
    return blocks


_HEADINGS = {
    ActionState.PENDING: ":raising_hand: *Approval needed*",
    ActionState.EXECUTING: ":hourglass_flowing_sand: *Approved, running*",
    ActionState.SUCCEEDED: ":white_check_mark: *Done*",
    ActionState.FAILED: ":x: *Failed*",
    ActionState.DENIED: ":no_entry_sign: *Denied*",
    ActionState.EXPIRED: ":hourglass: *Expired*",
}


def _state_heading(request: ActionRequest) -> str:
    return _HEADINGS.get(request.state, request.state.value)


def _final_line(request: ActionRequest) -> str:
    approvers = ", ".join(f"<@{a}>" for a in request.approvers)
    match request.state:
        case ActionState.EXECUTING:
            return f":hourglass_flowing_sand: Approved by {approvers}; running…"
        case ActionState.SUCCEEDED:
            return f":white_check_mark: Approved by {approvers}; done."
        case ActionState.FAILED:
            return f":x: Approved by {approvers}; failed: {request.error}"
        case ActionState.DENIED:
            return f":no_entry_sign: Denied by <@{request.denied_by}>."
        case ActionState.EXPIRED:
            return ":hourglass: Expired before it was approved; nothing was done. Ask again."
    return f"State: {request.state.value}"


def approval_text(request: ActionRequest) -> str:
    """The notification text: says the request's state, as the blocks do."""
    if request.state is ActionState.PENDING:
        return f"Approval needed: {request.summary}"
    return f"{request.summary}: {_final_line(request)}"


_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown_to_mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn has no headings and uses single asterisks for bold."""
    out = []
    for line in markdown.splitlines():
        match = _HEADING.match(line)
        line = f"*{match.group(1)}*" if match else _BOLD.sub(r"*\1*", line)
        out.append(line)
    return "\n".join(out)


def report_blocks(incident: Incident, markdown: str) -> list[Block]:
    """The report as sections of at most 3,000 characters, cut at line ends; a report
    too long for one message is posted as a file instead (see services/messages.py)."""
    blocks = [header(f":page_facing_up: Report for incident #{incident.id}")]
    blocks += [section(chunk) for chunk in split_sections(markdown_to_mrkdwn(markdown))]
    return fit_blocks(blocks, "the whole report is in the attached file")
