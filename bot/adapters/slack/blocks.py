"""Block Kit, built by pure functions from domain values.

Kept within Slack's limits (50 blocks a message, 3,000 characters a section
text, 150 a header, 2,000 a button value) so a long incident never turns
into an ``invalid_blocks`` error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.adapters.slack.fit import (
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT,
    MAX_HEADER,
    MAX_SECTION,
    NOTIFICATION_TEXT,
    clip,
    fit_blocks,
    split_sections,
)
from bot.adapters.slack.ids import ActionId, BlockId
from bot.domain.models import ActionRequest, ActionState, Incident
from bot.domain.playbook import ActionPolicy, Playbook, RuleKind
from bot.domain.report import format_duration
from bot.domain.views import AlertView

Block = dict[str, Any]
Payload = dict[str, Any]

_SPARK = "▁▂▃▄▅▆▇█"


def payload(text: str, blocks: list[Block] | None = None, where: str = "") -> Payload:
    """A message body within Slack's limits: short notification text, ≤ 50 blocks."""
    body: Payload = {"text": clip(text, NOTIFICATION_TEXT)}
    if blocks:
        body["blocks"] = fit_blocks(blocks, where or "ask `/backlog status` for the rest")
    return body


def section(text: str, where: str = "") -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION, where)}}


def header(text: str) -> Block:
    # plain_text: nothing in it is interpreted, so nothing needs escaping.
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER)}}


def context(text: str, where: str = "") -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(text, MAX_CONTEXT, where)}],
    }


def button(text: str, action_id: ActionId, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT)},
        "action_id": action_id.value,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        element["style"] = style
    return element


def sparkline(values: Sequence[int], width: int = 40) -> str:
    """A text chart of the most recent ``width`` values."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    low, high = min(tail), max(tail)
    span = high - low or 1
    return "".join(_SPARK[min(7, (v - low) * 8 // span)] for v in tail)


def alert_blocks(view: AlertView) -> list[Block]:
    incident, state, sample = view.incident, view.rule_state, view.sample
    rule = state.rule
    depth = sample.depths.get(rule.queue, 0)
    series = [s.depths.get(rule.queue, 0) for s in view.history]
    depth_lines = "\n".join(f"• `{queue}`: *{value:,}*" for queue, value in sample.depths.items())
    lasted = format_duration(state.above_for(sample.at))
    if rule.kind is RuleKind.DEPTH_ABOVE:
        finding = (
            f"*{rule.name}* ({rule.severity.value}): `{rule.queue}` is at *{depth:,}*, above "
            f"the threshold of {rule.threshold:,} for *{lasted}* "
            f"(rule: for {format_duration(rule.for_)})."
        )
    else:
        finding = (
            f"*{rule.name}* ({rule.severity.value}, from Prometheus): workers have processed "
            f"nothing for *{lasted}* while `{rule.queue}` holds *{depth:,}* jobs."
        )
    blocks = [
        header(f":rotating_light: Incident #{incident.id}: {incident.title}"),
        section(finding),
        section(f"*Queue depths*\n{depth_lines}"),
    ]
    if len(series) > 1:
        blocks.append(
            section(
                f"*`{rule.queue}` trend* ({min(series):,} → {max(series):,})\n`{sparkline(series)}`"
            )
        )
    blocks.append(_alert_buttons(view.playbook, rule.queue))
    blocks.append(
        context(f"Detected {sample.at:%Y-%m-%d %H:%M:%S} UTC · `/backlog help` for commands")
    )
    return blocks


def _alert_buttons(playbook: Playbook, queue: str) -> Block:
    elements = [
        button("Acknowledge", ActionId.ACK, "ack", "primary"),
        button("Status", ActionId.ALERT_STATUS, "status"),
        button("Diagnose", ActionId.ALERT_DIAGNOSE, "diagnose"),
    ]
    queue_spec = playbook.queue(queue)
    if queue_spec and queue_spec.deployment:
        deployment = playbook.deployments[queue_spec.deployment]
        if deployment.suggested_replicas:
            elements.append(
                button(
                    f"Scale {queue_spec.deployment} to {deployment.suggested_replicas}",
                    ActionId.ALERT_SCALE,
                    f"{queue_spec.deployment}:{deployment.suggested_replicas}",
                )
            )
    return {"type": "actions", "block_id": BlockId.ALERT_BUTTONS.value, "elements": elements}


def alert_text(view: AlertView) -> str:
    rule = view.rule_state.rule
    depth = view.sample.depths.get(rule.queue, 0)
    if rule.kind is RuleKind.DEPTH_ABOVE:
        return (
            f"Incident #{view.incident.id}: {rule.queue} at {depth:,} "
            f"(threshold {rule.threshold:,})"
        )
    return f"Incident #{view.incident.id}: {rule.name}: {rule.queue} at {depth:,}, not draining"


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
