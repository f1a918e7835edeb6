"""A simulated PhishNet: a producer filling Redis lists, workers draining them.

Workers drain ``jobs_per_worker_second`` each, and how many workers run is read
from the Kubernetes emulator's deployment, so an approved scale really does
drain the queue faster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis


@dataclass
class QueueLoad:
    queue: str
    deployment: str | None
    arrivals_per_second: float
    jobs_per_worker_second: float
    _arrival_debt: float = field(default=0.0, init=False)
    _work_debt: float = field(default=0.0, init=False)
    _next_id: int = field(default=0, init=False)


class SimulatedPhishNet:
    def __init__(
        self,
        redis: aioredis.Redis,
        replicas_of: Callable[[str], Awaitable[int]],
        loads: list[QueueLoad],
    ) -> None:
        self._redis = redis
        self._replicas_of = replicas_of
        self.loads = loads

    async def advance(self, seconds: float) -> None:
        """Simulates ``seconds`` of arrivals and processing, in one pipeline."""
        pipe: Any = self._redis.pipeline(transaction=False)
        for load in self.loads:
            load._arrival_debt += load.arrivals_per_second * seconds
            arrivals = int(load._arrival_debt)
            load._arrival_debt -= arrivals
            if arrivals:
                ids = [f"{load.queue}:{load._next_id + i}" for i in range(arrivals)]
                load._next_id += arrivals
                pipe.lpush(load.queue, *ids)
            workers = await self._replicas_of(load.deployment) if load.deployment else 1
            load._work_debt += workers * load.jobs_per_worker_second * seconds
            capacity = int(load._work_debt)
            load._work_debt -= capacity
            if capacity:
                pipe.rpop(load.queue, capacity)
        await pipe.execute()
