"""The report's timeline: the bot's own events, the moments read from the samples, and
people's pinned or marked messages, each as a :class:`~.document.Moment`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.domain.models import EventKind, Incident, TimelineEntry
from bot.domain.report.channel import ChannelMessage
from bot.domain.report.document import MessageMoment, Moment, MomentKind
from bot.domain.report.figures import BacklogSpan

_KINDS = {
    EventKind.DETECTED: MomentKind.DETECTED,
    EventKind.RULE_FIRING: MomentKind.RULE,
    EventKind.ACKNOWLEDGED: MomentKind.ACKNOWLEDGED,
    EventKind.ACTION_REQUESTED: MomentKind.ACTION,
    EventKind.ACTION_APPROVED: MomentKind.ACTION,
    EventKind.ACTION_DENIED: MomentKind.ACTION,
    EventKind.ACTION_SUCCEEDED: MomentKind.ACTION,
    EventKind.ACTION_FAILED: MomentKind.ACTION,
    EventKind.NOTE: MomentKind.NOTE,
    EventKind.ROOT_CAUSE: MomentKind.ROOT_CAUSE,
    EventKind.LESSON: MomentKind.LESSON,
    EventKind.PREVENTION: MomentKind.PREVENTION,
    EventKind.ESCALATED: MomentKind.PAGE,
    EventKind.DIAGNOSED: MomentKind.DIAGNOSIS,
    EventKind.RESOLVED: MomentKind.RESOLVED,
}
#: Timeline entries whose text a person typed (the others are the bot's mrkdwn).
TYPED = frozenset({EventKind.NOTE, EventKind.ROOT_CAUSE, EventKind.LESSON, EventKind.PREVENTION})


def timeline_moments(
    incident: Incident, timeline: Sequence[TimelineEntry], span: BacklogSpan
) -> list[Moment]:
    """The bot's timeline entries, plus when the backlog began, when mitigation
    started and when the queue recovered."""
    moments = []
    if span.began is not None:
        moments.append(
            Moment(
                span.began,
                MomentKind.BEGAN,
                f"Backlog began: `{incident.queue}` above its threshold"
                + (" (or earlier: the oldest sample read)" if span.began_early else ""),
            )
        )
    for entry in timeline:
        kind = _KINDS.get(entry.kind)
        if kind is None:
            continue
        # A page's text names who asked for it already.
        who = None if kind is MomentKind.PAGE else entry.actor
        moments.append(Moment(entry.at, kind, entry.text, who=who, typed=entry.kind in TYPED))
    if incident.mitigation_started_at is not None:
        moments.append(
            Moment(
                incident.mitigation_started_at,
                MomentKind.MITIGATION,
                "Mitigation started (the first approved action began)",
            )
        )
    if span.recovered is not None:
        moments.append(
            Moment(
                span.recovered,
                MomentKind.RECOVERED,
                f"Recovered: `{incident.queue}` back at or under its threshold",
            )
        )
    return moments


def channel_moments(
    channel: Iterable[ChannelMessage], mark_reactions: Sequence[str], prompt_ts: str | None
) -> list[MessageMoment]:
    """People's messages that were pinned or carry a marking reaction (replies to the
    report's prompt are lessons, not timeline)."""
    moments = []
    for message in channel:
        if not message.kept(mark_reactions):
            continue
        if prompt_ts is not None and message.thread_ts == prompt_ts:
            continue
        moments.append(
            MessageMoment(
                message.at,
                MomentKind.MESSAGE,
                "" if message.deleted else (message.text or ""),
                who=message.user,
                typed=True,
                pinned_by=(message.pinned_by or "") if message.pinned else None,
                marks=message.marks(mark_reactions),
                in_thread=message.is_reply,
                edited_at=message.edited_at,
                deleted=message.deleted,
                deleted_at=message.deleted_at,
                detail="text not known" if message.text is None and not message.deleted else "",
            )
        )
    return moments
