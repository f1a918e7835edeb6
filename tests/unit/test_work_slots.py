"""Acks before work: listeners' work waits while acks are pending, and a long action
never keeps other work out of the slots."""

from __future__ import annotations

import asyncio

from slack_bolt.response import BoltResponse

from bot.adapters.slack.work_slots import WorkSlots


async def test_work_waits_while_a_request_is_being_acknowledged():
    slots = WorkSlots(slots=2, patience=60, hold=60)
    acked = asyncio.Event()
    order: list[str] = []

    async def acknowledging() -> BoltResponse:
        await acked.wait()
        order.append("ack sent")
        return BoltResponse(status=200)

    async def work() -> None:
        order.append("work")

    pending = asyncio.create_task(slots.middleware(None, BoltResponse(status=200), acknowledging))
    await asyncio.sleep(0)  # the request is now being acknowledged
    assert slots.acking == 1
    working = asyncio.create_task(slots.run(work))
    await asyncio.sleep(0)
    assert order == []  # held back behind the ack
    acked.set()
    await asyncio.gather(pending, working)
    assert order == ["ack sent", "work"] and slots.acking == 0


async def test_long_work_does_not_keep_the_slots():
    slots = WorkSlots(slots=1, patience=0, hold=0)
    release = asyncio.Event()
    done: list[str] = []

    async def long_action() -> None:  # a rollout followed for minutes
        await release.wait()
        done.append("long")

    async def status() -> None:
        done.append("status")

    long_task = asyncio.create_task(slots.run(long_action))
    await asyncio.wait_for(slots.run(status), timeout=5)
    assert done == ["status"]
    release.set()
    await long_task
    assert done == ["status", "long"]
