"""Shared by the remediation-executor tests: the namespace and deployments seeded, the
instant plans are made at, what the channel would read (:class:`Progress`), and an
injected clock for following rollouts (:class:`FakeTime`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.adapters.kube.follow import Polling

NS = "phishnet"
EMAIL, ANALYSIS = "phishnet-worker-email", "phishnet-worker-analysis"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


class Progress:
    """Collects the lines the channel would see."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class FakeTime:
    """Injected into :class:`Polling`: sleeping only advances this clock, and may run
    ``on_sleep`` (the world moving on while the bot waits)."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self._on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self._on_sleep:
            self._on_sleep(self.sleeps)

    def monotonic(self) -> float:
        return self.now

    def polling(self, timeout: float = 60.0) -> Polling:
        return Polling(
            poll_seconds=5, timeout_seconds=timeout, sleep=self.sleep, monotonic=self.monotonic
        )
