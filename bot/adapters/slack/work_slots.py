"""Acknowledging comes before working (Slack gives an app 3 s to ack; see
benchmarks/ack_latency.py).

A burst of commands and clicks (fifty people clicking one button) would otherwise
start all their work at once, and the event loop, busy with it, would send the acks
still pending late. So a listener's work after its ``ack()`` waits until no request
is still being acknowledged (at most ``patience`` seconds, so a steady stream cannot
starve it), and starts in one of ``slots`` slots: a slot is held while the work
starts, for at most ``hold`` seconds, so a long action (a rollout followed for
minutes) never keeps other work waiting. Waiting costs the work a few milliseconds;
it is done in the order it came.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse


class WorkSlots:
    def __init__(self, slots: int = 2, patience: float = 0.25, hold: float = 0.5) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._patience = patience
        self._hold = hold
        self._acking = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def acking(self) -> int:
        """Requests being acknowledged now."""
        return self._acking

    async def middleware(
        self, req: Any, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """Bolt middleware: a request counts as being acknowledged until Bolt has its
        response."""
        self._acking += 1
        self._quiet.clear()
        try:
            return await next()
        finally:
            self._acking -= 1
            if self._acking == 0:
                self._quiet.set()

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Runs ``work`` once the acks pending are sent, in a slot while it starts."""
        # Not wait_for: in Python 3.11 it can swallow a cancel (gh-86296), and a work
        # cancelled at shutdown would then run anyway.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._patience):
                await self._quiet.wait()
        async with self._slots:
            task = asyncio.ensure_future(work())
            await asyncio.wait({task}, timeout=self._hold)
        await task
