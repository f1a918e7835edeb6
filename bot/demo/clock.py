"""Clocks for the demo and the tests: time is an argument, never a sleep."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class ManualClock:
    """Moves only when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


class SimulatedClock:
    """Simulated time running ``speed`` times faster than real time (the demo)."""

    def __init__(self, start: datetime | None = None, speed: float = 60.0) -> None:
        self._start = start or datetime.now(UTC).replace(microsecond=0)
        self._real_start = time.monotonic()
        self.speed = speed

    def __call__(self) -> datetime:
        elapsed = (time.monotonic() - self._real_start) * self.speed
        return self._start + timedelta(seconds=elapsed)
