"""What the outbox sender needs of Slack, and the rate it keeps to (bot/services/delivery.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.domain.delivery import Delivered, Delivery, RetryLater


class Transport(Protocol):
    """What the sender needs of Slack (bot/adapters/slack/transport.py)."""

    async def post(
        self, channel: str, payload: dict[str, object], *, thread_ts: str | None, message_id: int
    ) -> Delivery: ...

    async def update(self, channel: str, ts: str, payload: dict[str, object]) -> Delivery: ...

    async def upload(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        filename: str,
        title: str,
        content: bytes,
        initial_comment: str,
    ) -> Delivery: ...

    async def ephemeral(self, channel: str, user: str, text: str) -> Delivery: ...

    async def permalink(self, channel: str, ts: str) -> str | None: ...

    async def find(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        message_id: int,
        since: datetime,
        filename: str | None = None,
    ) -> Delivered | RetryLater | None: ...


@dataclass
class TokenBucket:
    """At most ``per_minute`` calls a minute, in bursts of up to ``burst``."""

    per_minute: float
    monotonic: Callable[[], float]
    burst: float = 10.0
    _tokens: float = field(default=-1.0, init=False)
    _at: float = field(default=0.0, init=False)

    def take(self) -> float:
        """0 when a call may go now (and takes a token), else seconds to wait."""
        now = self.monotonic()
        if self._tokens < 0:
            self._tokens, self._at = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_minute / 60)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) * 60 / self.per_minute
