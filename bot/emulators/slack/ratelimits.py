"""Slack's Web API rate limits, on demand: ``429`` with ``Retry-After`` once exceeded.

Source: Slack's "Rate limits" page. Tier 1 allows 1+ calls a minute, Tier 2 20+, Tier 3
50+, Tier 4 100+, "per API method per workspace per app", with bursts tolerated; each
method's page names its tier (the table below). ``chat.postMessage`` is special: about one
message a second per channel, short bursts allowed.

Each (method, channel for ``chat.postMessage``) has a token bucket: it holds the tier's
per-minute number of calls and refills at that number per minute, so a burst of a
minute's calls passes and the next waits. Time is the emulator's clock, so a test moves
it instead of sleeping. Off by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.emulators.slack.records import JSONDict

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

METHOD_TIERS: dict[str, int] = {
    "apps.connections.open": 1,
    "auth.test": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.info": 3,
    "conversations.members": 4,
    "conversations.list": 2,
    "conversations.open": 3,
    "conversations.create": 2,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.invite": 3,
    "conversations.archive": 2,
    "conversations.unarchive": 2,
    "conversations.join": 3,
    "pins.add": 2,
    "pins.remove": 2,
    "pins.list": 2,
    "bookmarks.add": 2,
    "bookmarks.list": 3,
    "reactions.add": 3,
    "reactions.remove": 2,
    "reactions.get": 3,
    "users.info": 4,
    "usergroups.users.list": 2,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}


@dataclass(frozen=True)
class Limit:
    """``burst`` calls at once, refilled at ``per_second``."""

    burst: float
    per_second: float


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimits:
    """Per-method limits, checked before a call is handled (when :attr:`enabled`)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.enabled = False
        self._limits: dict[str, Limit] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def enable(
        self,
        per_minute: Mapping[str, int] | None = None,
        *,
        post_message_per_second: float = 1.0,
        post_message_burst: int = 1,
    ) -> None:
        """Limit every method by its tier; ``per_minute`` overrides methods' numbers.

        ``chat.postMessage`` gets ``post_message_per_second`` per channel with bursts of
        ``post_message_burst`` (Slack documents bursts without a number).
        """
        limits = {
            method: Limit(TIER_PER_MINUTE[tier], TIER_PER_MINUTE[tier] / 60)
            for method, tier in METHOD_TIERS.items()
        }
        limits["chat.postMessage"] = Limit(post_message_burst, post_message_per_second)
        for method, count in (per_minute or {}).items():
            limits[method] = Limit(count, count / 60)
        self._limits = limits
        self._buckets.clear()
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def retry_after(self, method: str, args: JSONDict) -> int | None:
        """Seconds to wait if this call is over its limit (it is then not counted), else
        None (and the call is counted)."""
        limit = self._limits.get(method)
        if not self.enabled or limit is None:
            return None
        key = (method, str(args.get("channel", "")) if method == "chat.postMessage" else "")
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(limit.burst, now))
        bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.updated) * limit.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / limit.per_second))
