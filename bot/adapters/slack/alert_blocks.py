"""The living alert in Block Kit: one message per incident, edited as samples arrive.

Open, it shows the state (firing, mitigating, recovering), the rule's finding,
every queue's depth with its trend and what the trend implies (empty in, or
above the threshold in), the last action and who approved it, and the buttons.
Resolved, the buttons give way to the outcome and a link to the report.
"""

from __future__ import annotations

from bot.adapters.slack.ids import ActionId, BlockId, incident_value
from bot.adapters.slack.kit import Block, actions, button, context, header, section, sparkline
from bot.domain.alert_state import AlertPhase, quiet_left
from bot.domain.models import ActionRequest, ActionState
from bot.domain.playbook import RuleKind
from bot.domain.report import format_duration
from bot.domain.views import AlertView, QueueOutlook

_ICONS = {
    AlertPhase.FIRING: ":rotating_light:",
    AlertPhase.MITIGATING: ":hammer_and_wrench:",
    AlertPhase.RECOVERING: ":large_yellow_circle:",
    AlertPhase.RESOLVED: ":white_check_mark:",
}


def alert_blocks(view: AlertView) -> list[Block]:
    if view.phase is AlertPhase.RESOLVED:
        return _resolved_blocks(view)
    incident = view.incident
    blocks = [
        header(f"{_ICONS[view.phase]} Incident #{incident.id}: {incident.title}"),
        section(_state_line(view)),
        section(_finding(view)),
        section("*Queue depths*\n" + "\n".join(_queue_line(view, q) for q in _queues(view))),
    ]
    series = [s.depths.get(view.rule_state.rule.queue, 0) for s in view.history]
    if len(series) > 1:
        queue = view.rule_state.rule.queue
        blocks.append(
            section(f"*`{queue}` trend* ({min(series):,} → {max(series):,})\n`{sparkline(series)}`")
        )
    action_line = _action_line(view)
    if action_line:
        blocks.append(section(action_line))
    blocks.append(_buttons(view))
    blocks.append(context(_footer(view)))
    return blocks


def alert_text(view: AlertView) -> str:
    """The notification text: the incident, its state and the rule queue's depth."""
    rule = view.rule_state.rule
    depth = view.sample.depths.get(rule.queue, 0)
    incident = view.incident
    if view.phase is AlertPhase.RESOLVED:
        return f"Incident #{incident.id} resolved: {incident.title}"
    state = "" if view.phase is AlertPhase.FIRING else f" ({view.phase.value})"
    if rule.kind is RuleKind.DEPTH_ABOVE:
        return (
            f"Incident #{incident.id}{state}: {rule.queue} at {depth:,} "
            f"(threshold {rule.threshold:,})"
        )
    return f"Incident #{incident.id}{state}: {rule.name}: {rule.queue} at {depth:,}, not draining"


def _queues(view: AlertView) -> list[QueueOutlook]:
    if view.queues:
        return list(view.queues)
    return [QueueOutlook(queue, depth) for queue, depth in view.sample.depths.items()]


def _state_line(view: AlertView) -> str:
    incident, now = view.incident, view.sample.at
    acked = (
        f" · acknowledged by <@{incident.acknowledged_by}> at {incident.acknowledged_at:%H:%M} UTC"
        if incident.acknowledged_by and incident.acknowledged_at
        else " · not acknowledged yet"
    )
    match view.phase:
        case AlertPhase.MITIGATING:
            return f"*State:* :hammer_and_wrench: *Mitigating*: an approved action ran{acked}"
        case AlertPhase.RECOVERING:
            return _recovering_line(view) + acked
    age = format_duration(now - incident.detected_at)
    return f"*State:* :red_circle: *Firing* for {age}{acked}"


def _recovering_line(view: AlertView) -> str:
    incident, now = view.incident, view.sample.at
    recovery = view.playbook.recovery
    since = incident.clear_since or now
    line = (
        f"*State:* :large_yellow_circle: *Recovering*: every queue at or below its clear "
        f"level for {format_duration(now - since)}"
    )
    left = quiet_left(since, now, recovery.quiet_period)
    if left:
        line += f" (recovery is announced after {format_duration(recovery.quiet_period)})"
    else:
        line += ": recovery announced, resolve when satisfied"
    if recovery.auto_resolve_after is not None:
        at = since + recovery.auto_resolve_after
        line += f"; Backlog Bot resolves it at {at:%H:%M} UTC if it stays quiet"
    return line


def _finding(view: AlertView) -> str:
    state, sample = view.rule_state, view.sample
    rule = state.rule
    depth = sample.depths.get(rule.queue, 0)
    head = f"*{rule.name}* ({rule.severity.value})"
    if rule.kind is not RuleKind.DEPTH_ABOVE:
        lasted = format_duration(state.above_for(sample.at))
        return (
            f"*{rule.name}* ({rule.severity.value}, from Prometheus): workers have processed "
            f"nothing for *{lasted}* while `{rule.queue}` holds *{depth:,}* jobs."
        )
    if depth > rule.threshold and state.active_since is not None:
        return (
            f"{head}: `{rule.queue}` is at *{depth:,}*, above the threshold of "
            f"{rule.threshold:,} for *{format_duration(state.above_for(sample.at))}* "
            f"(rule: for {format_duration(rule.for_)})."
        )
    incident = view.incident
    peak = f"; peak {incident.peak_depth:,} in `{incident.peak_queue}`"
    where = "above" if depth > rule.threshold else "under"
    return (
        f"{head}: `{rule.queue}` is at *{depth:,}*, {where} the threshold of "
        f"{rule.threshold:,}{peak}."
    )


def _queue_line(view: AlertView, outlook: QueueOutlook) -> str:
    if outlook.depth is None:
        return f"• `{outlook.queue}`: not read in the last sample"
    line = f"• `{outlook.queue}`: *{outlook.depth:,}*"
    if outlook.threshold is not None:
        line += f" / {outlook.threshold:,}"
        if outlook.depth > outlook.threshold:
            line += " :rotating_light:"
    return line + " · " + _trend(outlook)


def _trend(outlook: QueueOutlook) -> str:
    rate = outlook.per_minute
    if rate is None:
        return "trend after 3 samples"
    if abs(rate) < 1:
        return "steady"
    if rate < 0:
        text = f"draining {-rate:,.0f}/min"
        if outlook.drains_in is not None:
            text += f" → empty in ~{format_duration(outlook.drains_in)}"
        return text
    text = f"growing {rate:,.0f}/min"
    if outlook.threshold is None or outlook.breaches_in is None:
        return text
    if outlook.breaches_in:
        return text + f" → above {outlook.threshold:,} in ~{format_duration(outlook.breaches_in)}"
    return text + ", above its threshold"


def _action_line(view: AlertView) -> str:
    parts = []
    if view.last_action is not None:
        parts.append("*Last action:* " + describe_action(view.last_action))
    if view.effect:
        parts.append(f"*Effect:* {view.effect}")
    if view.pending_actions:
        parts.append(f"{view.pending_actions} request(s) waiting for approval")
    return " · ".join(parts)


def describe_action(request: ActionRequest) -> str:
    """An action as one line: what, who approved it, how it went."""
    approvers = ", ".join(f"<@{a}>" for a in request.approvers) or "nobody"
    at = request.finished_at or request.executed_at
    when = f" at {at:%H:%M} UTC" if at else ""
    match request.state:
        case ActionState.SUCCEEDED:
            outcome = f"done{when}"
        case ActionState.FAILED:
            outcome = f"failed{when}: {request.error}"
        case _:
            outcome = "running"
    return f"{request.summary}, approved by {approvers}, {outcome}"


def _buttons(view: AlertView) -> Block:
    incident_id = view.incident.id
    value = incident_value(incident_id)
    elements = []
    if view.incident.acknowledged_at is None:
        elements.append(button("Acknowledge", ActionId.ACK, value, "primary"))
    elements += [
        button("Status", ActionId.ALERT_STATUS, value),
        button("Diagnose", ActionId.ALERT_DIAGNOSE, value),
    ]
    scale = view.scale
    if scale is not None and (view.ready is None or scale.workers > view.ready):
        elements.append(
            button(
                f"Scale {scale.deployment} to {scale.workers}",
                ActionId.ALERT_SCALE,
                incident_value(incident_id, scale.deployment, str(scale.workers)),
            )
        )
    return actions(BlockId.ALERT_BUTTONS, *elements)


def _footer(view: AlertView) -> str:
    incident = view.incident
    parts = [f"Detected {incident.detected_at:%Y-%m-%d %H:%M:%S} UTC"]
    if view.updated_at is not None and view.updated_at != incident.detected_at:
        parts.append(f"updated {view.updated_at:%H:%M:%S} UTC")
    if view.scale is not None:
        parts.append(f"Scale count: {view.scale.explanation}")
    elif view.scale_held_until is not None:
        parts.append(
            f"Scale count again from {view.scale_held_until:%H:%M} UTC, when the trend no "
            "longer mixes in the minutes before the last scale"
        )
    parts.append("`/backlog help` for commands")
    return " · ".join(parts)


def _resolved_blocks(view: AlertView) -> list[Block]:
    incident = view.incident
    resolved_at = incident.resolved_at or view.sample.at
    by = (
        "Backlog Bot, after a quiet period"
        if incident.resolved_by in (None, "backlog-bot")
        else f"<@{incident.resolved_by}>"
    )
    lasted = format_duration(incident.duration(resolved_at))
    peak = f"peak {incident.peak_depth:,} in `{incident.peak_queue}`"
    if incident.peak_at is not None:
        peak += f" at {incident.peak_at:%H:%M} UTC"
    report = (
        f"<{incident.report_link}|Report for incident #{incident.id}>"
        if incident.report_link
        else "the report is posted in this channel"
    )
    blocks = [
        header(f":white_check_mark: Incident #{incident.id} resolved: {incident.title}"),
        section(
            f"*Resolved* by {by} at {resolved_at:%H:%M} UTC after {lasted} · {peak}\n"
            f"*Report:* {report}"
        ),
    ]
    if view.last_action is not None:
        blocks.append(section("*Last action:* " + describe_action(view.last_action)))
    if view.effect:
        blocks.append(section(f"*Effect:* {view.effect}"))
    blocks.append(
        context(
            f"Detected {incident.detected_at:%Y-%m-%d %H:%M:%S} UTC · resolved "
            f"{resolved_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    )
    return blocks
