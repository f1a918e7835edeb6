"""The incident channel as the report knows it: people's messages, their pins and marks.

Two sources describe the same messages. Slack's Events API tells the bot as things
happen (a message posted, edited or deleted, a reaction added or removed, a pin), and
the bot records that (:class:`ChannelChange`); when the report is built, the channel's
history is read again (:class:`HistoryRead`). :func:`merge_channel` puts them together:
what the re-read shows wins (it is Slack's state now), a recorded message the re-read
covered but did not find was deleted, and what the re-read did not cover (an older
thread, or no re-read at all) stays as recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum


def ts_time(ts: str) -> datetime:
    """A Slack ``ts`` (``"1795856400.000100"``: unix seconds and a sequence) as a UTC
    datetime, exact to the microsecond."""
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


@dataclass(frozen=True)
class ChannelMessage:
    """One person's message in a channel.

    ``text`` is as typed (Slack's ``&amp;``/``&lt;``/``&gt;`` already turned back into
    characters), None when only a reaction or pin event was seen and the text is not
    known. ``reactions`` maps a reaction name (``pushpin``) to the users who added it.
    ``deleted`` messages keep what was known of them (pins and marks included, since
    Slack drops those on deletion) so the report can say a marked message was deleted.
    """

    channel: str
    ts: str
    user: str | None
    text: str | None
    thread_ts: str | None = None
    edited_at: datetime | None = None
    deleted: bool = False
    deleted_at: datetime | None = None
    pinned: bool = False
    pinned_by: str | None = None
    pinned_at: datetime | None = None
    reactions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    from_bot: bool = False

    @property
    def at(self) -> datetime:
        return ts_time(self.ts)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def marks(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The marking reactions (of ``names``) this message carries, with who added them."""
        return {name: self.reactions[name] for name in names if self.reactions.get(name)}

    def kept(self, mark_reactions: Iterable[str]) -> bool:
        """Whether the report's timeline shows it: a person's message that was pinned
        or carries one of the playbook's marking reactions."""
        if self.from_bot or self.user is None:
            return False
        return self.pinned or bool(self.marks(mark_reactions))


class ChangeKind(StrEnum):
    POSTED = "posted"
    EDITED = "edited"
    DELETED = "deleted"
    REACTED = "reacted"
    UNREACTED = "unreacted"
    PINNED = "pinned"
    UNPINNED = "unpinned"


@dataclass(frozen=True)
class ChannelChange:
    """One thing that happened to a person's message, from one Events API event.

    ``ts`` is the message's; ``at`` when it happened; ``user`` who did it (the author
    for posts and edits, the reacting or pinning person otherwise); ``author`` the
    message's author when known; ``text`` the message's text (posts, edits, and pins,
    which carry the message); ``reaction`` for reactions.
    """

    kind: ChangeKind
    channel: str
    ts: str
    at: datetime
    user: str | None = None
    author: str | None = None
    text: str | None = None
    thread_ts: str | None = None
    reaction: str | None = None


@dataclass(frozen=True)
class HistoryRead:
    """The channel as ``conversations.history`` / ``conversations.replies`` showed it:
    every top-level message from ``oldest`` to ``latest`` and the replies of the
    threads in ``threads`` (by their parent's ts). ``calls`` counts the API calls."""

    channel: str
    oldest: datetime
    latest: datetime
    messages: tuple[ChannelMessage, ...]
    threads: frozenset[str] = frozenset()
    calls: int = 0

    def covers(self, message: ChannelMessage) -> bool:
        """Whether this read would have seen ``message`` had it still existed."""
        if message.channel != self.channel:
            return False
        if message.is_reply:
            return message.thread_ts in self.threads
        return self.oldest <= message.at <= self.latest


def merge_channel(
    recorded: Sequence[ChannelMessage], read: HistoryRead | None
) -> list[ChannelMessage]:
    """The channel's messages now, oldest first: ``read`` wins where it has a message;
    a recorded message it covered but lacks was deleted (by ``read.latest`` at the
    latest); the rest stays as recorded."""
    if read is None:
        return sorted(recorded, key=lambda m: m.at)
    fresh = {(m.channel, m.ts): m for m in read.messages}
    merged: dict[tuple[str, str], ChannelMessage] = {}
    for old in recorded:
        key = (old.channel, old.ts)
        new = fresh.pop(key, None)
        if new is not None:
            merged[key] = _newer(old, new)
        elif read.covers(old) and not old.deleted:
            merged[key] = replace(old, deleted=True, deleted_at=old.deleted_at or read.latest)
        else:
            merged[key] = old
    merged.update(fresh)
    return sorted(merged.values(), key=lambda m: m.at)


def _newer(old: ChannelMessage, new: ChannelMessage) -> ChannelMessage:
    """The re-read's message, with what only the events knew (who pinned it and when,
    when it was deleted, and its marks if Slack dropped them with a deletion)."""
    if new.deleted:
        return replace(
            new,
            text=None,
            user=old.user or new.user,
            deleted_at=old.deleted_at or new.deleted_at,
            pinned=old.pinned,
            pinned_by=old.pinned_by,
            pinned_at=old.pinned_at,
            reactions=old.reactions or new.reactions,
        )
    if new.pinned and old.pinned:
        return replace(new, pinned_by=old.pinned_by, pinned_at=old.pinned_at)
    return new
