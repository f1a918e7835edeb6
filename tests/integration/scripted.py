"""Scripted queue depths for the whole bot: before each monitor sample the queue is
set to exactly the depth the script says, on the injected clock."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import timedelta

import redis.asyncio as aioredis

from bot.adapters.slack.ids import ActionId
from bot.demo.clock import ManualClock
from bot.demo.sandbox import Sandbox
from bot.emulators.slack_api import StoredMessage

EMAIL = "email_processing_queue"
STEP = timedelta(seconds=30)
_ids = itertools.count()


async def set_depth(redis: aioredis.Redis, queue: str, depth: int) -> None:
    """Pushes new ids or pops the oldest until ``queue`` holds ``depth``."""
    current = await redis.llen(queue)
    if depth > current:
        await redis.lpush(queue, *[f"job-{next(_ids)}" for _ in range(depth - current)])
    elif depth < current:
        await redis.rpop(queue, current - depth)


async def run(
    sandbox: Sandbox,
    redis: aioredis.Redis,
    clock: ManualClock,
    minutes: float,
    depth_at: Callable[[float], float],
    queue: str = EMAIL,
) -> None:
    """Samples every 30 s for ``minutes``: depth ``depth_at(m)`` at ``m`` minutes in."""
    for step in range(int(minutes * 60 / STEP.total_seconds())):
        await set_depth(redis, queue, max(round(depth_at(step * STEP.total_seconds() / 60)), 0))
        await sandbox.tick()
        clock.advance(STEP)


def in_thread(sandbox: Sandbox, message: StoredMessage, text: str) -> StoredMessage | None:
    """The newest reply in ``message``'s thread whose rendered text contains ``text``."""
    for reply in reversed(sandbox.slack.thread(message.channel, message.ts)[1:]):
        if text in reply.rendered:
            return reply
    return None


def request_id_of(approval: StoredMessage) -> uuid.UUID:
    """The request id the approval message's Approve button carried (first version)."""
    for block in approval.versions[0].blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == ActionId.APPROVE.value:
                return uuid.UUID(element["value"])
    raise LookupError("no Approve button")
