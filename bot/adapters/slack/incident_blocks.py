"""The other messages of an incident's life in Slack: its channel's topic and purpose,
the pointer in the announcement channel, pages (in the channel and by direct
message), the recovery announcement, and the closing message offering to archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.adapters.slack.ids import ActionId, BlockId, incident_value
from bot.adapters.slack.kit import Block, actions, button, context, section
from bot.domain.alert_state import AlertPhase
from bot.domain.models import Incident
from bot.domain.playbook import AlertRule, EscalationTier, Playbook
from bot.domain.report import format_duration

#: Slack's limit for a topic or a purpose (``conversations.setTopic`` reference).
MAX_TOPIC = 250

_PHASE_WORDS = {
    AlertPhase.FIRING: "Firing",
    AlertPhase.MITIGATING: "Mitigating",
    AlertPhase.RECOVERING: "Recovering",
    AlertPhase.RESOLVED: "Resolved",
}


def where(incident: Incident) -> str:
    """How a message names the incident's channel: a link once it is known."""
    if incident.channel and incident.channel.startswith(("C", "G")):
        return f"<#{incident.channel}>"
    if incident.channel:
        return "#" + incident.channel.lstrip("#")
    return f"#{incident.channel_name}" if incident.channel_name else "its channel"


def channel_topic(incident: Incident, rule: AlertRule | None, phase: AlertPhase) -> str:
    """``Firing · EmailQueueBacklog on email_processing_queue (above 1,000) · warning ·
    incident #7``: what the channel is about, as its state changes."""
    what = rule.name if rule else incident.rule
    on = f" on {incident.queue}"
    if rule is not None and rule.threshold:
        on += f" (above {rule.threshold:,})"
    text = (
        f"{_PHASE_WORDS[phase]} · {what}{on} · {incident.severity.value} · incident #{incident.id}"
    )
    return text[:MAX_TOPIC]


def channel_purpose(incident: Incident, rule: AlertRule | None) -> str:
    condition = ""
    if rule is not None and rule.threshold:
        condition = f" (threshold {rule.threshold:,} for {format_duration(rule.for_)})"
    text = (
        f"Incident #{incident.id}: {incident.title}. Rule {incident.rule} on "
        f"{incident.queue}{condition}, severity {incident.severity.value}. Opened by "
        f"Backlog Bot at {incident.detected_at:%Y-%m-%d %H:%M} UTC; /backlog help for commands."
    )
    return text[:MAX_TOPIC]


def pointer_text(incident: Incident, channel: str, depth: int | None) -> str:
    """The announcement channel's one line about an incident living elsewhere."""
    at = f" at {depth:,}" if depth is not None else ""
    return (
        f":rotating_light: Incident #{incident.id} ({incident.severity.value}): "
        f"{incident.title}: `{incident.queue}`{at}. Follow it in <#{channel}>."
    )


def pointer_resolved_text(incident: Incident, channel: str, now: datetime) -> str:
    lasted = format_duration(incident.duration(now))
    return (
        f":white_check_mark: Incident #{incident.id} ({incident.severity.value}): "
        f"{incident.title}: resolved after {lasted}. Report in <#{channel}>."
    )


def page_text(
    incident: Incident,
    tier: EscalationTier,
    people: Sequence[str],
    reason: str,
    extra: Sequence[str] = (),
) -> str:
    """A page in the incident's channel; ``extra``: lines such as where else it went."""
    mentions = " ".join(f"<@{user}>" for user in people) or "(nobody: the tier's roles are empty)"
    duties = "; ".join(tier.duties)
    return (
        f":rotating_light: *Escalating incident #{incident.id} to L{tier.level} — "
        f"{tier.name}*: {mentions}\nWhy: {reason}."
        + (f"\nExpected: {duties}." if duties else "")
        + "".join(f"\n{line}" for line in extra)
        + "\nAcknowledge with the button or `/backlog ack`; later tiers are paged on their "
        "timers until someone does."
    )


def page_blocks(incident: Incident, text: str) -> list[Block]:
    return [
        section(text),
        actions(
            BlockId.PAGE_BUTTONS,
            button("Acknowledge", ActionId.ACK, incident_value(incident.id), "primary"),
        ),
    ]


def page_dm_text(incident: Incident, tier: EscalationTier, reason: str, depth: int | None) -> str:
    at = f" (`{incident.queue}` at {depth:,})" if depth is not None else ""
    return (
        f":rotating_light: You are paged for incident #{incident.id}, L{tier.level} — "
        f"{tier.name}: {incident.title}{at}.\nWhy: {reason}.\nJoin {where(incident)}; "
        "acknowledge here or there and the later tiers are not paged."
    )


def acknowledged_line(user: str, at: datetime) -> str:
    return f":white_check_mark: Acknowledged by <@{user}> at {at:%H:%M} UTC."


def recovery_text(
    incident: Incident,
    playbook: Playbook,
    depths: dict[str, int],
    quiet_for: timedelta,
    auto_at: datetime | None,
) -> str:
    levels = []
    for rule in playbook.rules:
        if rule.threshold and rule.queue in depths:
            levels.append(f"`{rule.queue}` {depths[rule.queue]:,} (alert above {rule.threshold:,})")
    text = (
        f":large_green_circle: *Incident #{incident.id}: every queue has been back under its "
        f"threshold for {format_duration(quiet_for)}*: " + ", ".join(dict.fromkeys(levels)) + "."
        "\nResolve it when you are satisfied; the report is written then."
    )
    if auto_at is not None:
        text += f" Backlog Bot resolves it by itself at {auto_at:%H:%M} UTC if it stays quiet."
    return text


def recovery_blocks(incident: Incident, text: str) -> list[Block]:
    return [
        section(text),
        actions(
            BlockId.RECOVERY_BUTTONS,
            button("Resolve", ActionId.RESOLVE, incident_value(incident.id), "primary"),
        ),
    ]


def relapse_line(queue: str, depth: int, level: int, at: datetime) -> str:
    return (
        f":warning: `{queue}` rose again to {depth:,} at {at:%H:%M:%S} UTC (clear at or below "
        f"{level:,}): the incident goes on and the quiet period starts over."
    )


def closing_text(incident: Incident) -> str:
    return (
        f":white_check_mark: Incident #{incident.id} is resolved. This channel stays open for "
        "follow-up; archive it when you are done."
    )


def closing_blocks(incident: Incident) -> list[Block]:
    return [
        section(closing_text(incident)),
        actions(
            BlockId.CLOSING_BUTTONS,
            button("Archive this channel", ActionId.ARCHIVE, incident_value(incident.id)),
        ),
        context("Nothing is archived unless someone clicks."),
    ]


def fallback_text(incident: Incident, why: str) -> str:
    return (
        f":warning: Backlog Bot could not create a channel for incident #{incident.id} "
        f"({why}); the incident is followed here instead."
    )


def mirror_text(user: str, typed_in: str, command: str, answer: str) -> str:
    """A command about the incident typed elsewhere, as its channel sees it."""
    place = f"<#{typed_in}>" if typed_in.startswith(("C", "G")) else "a direct message"
    quoted = "\n".join("> " + line for line in answer.splitlines() if line.strip())
    return f"<@{user}> in {place}: `/backlog {command}`\n{quoted}"
