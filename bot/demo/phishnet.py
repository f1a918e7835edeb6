"""A simulated PhishNet: a producer filling Redis lists, workers draining them, and a
worker that dies holding a batch of jobs.

Workers clear the playbook's ``capacity.jobs_per_worker_minute`` each (the runbook's
50), and how many run is read from the Kubernetes emulator's deployment, so an
approved scale really does drain the queue faster. Each worker holds the job it
is on in the processing set with a fresh heartbeat, as PhishNet's workers do; a
crash leaves its batch there with heartbeats that stop, which is what
``/backlog requeue`` finds.

Simulated time runs faster than Redis's clock, and the requeue scan compares
heartbeats with Redis ``TIME``: so a stopped heartbeat is written as
"Redis now minus the simulated time since the crash", its age growing with the
simulation, not with the wall clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.adapters.queues.cluster import RedisClient


@dataclass
class QueueLoad:
    """Jobs arriving on ``queue`` and the workers of ``deployment`` clearing them (one
    worker when there is no deployment); rates per minute."""

    queue: str
    deployment: str | None
    arrivals_per_minute: float
    jobs_per_worker_minute: float
    _arrival_debt: float = field(default=0.0, init=False)
    _work_debt: float = field(default=0.0, init=False)
    _next_id: int = field(default=0, init=False)
    _in_flight: list[str] = field(default_factory=list, init=False)


@dataclass(frozen=True)
class WorkerCrash:
    """``after`` the simulation starts, a worker of ``queue`` dies holding ``jobs`` jobs."""

    after: timedelta
    queue: str
    jobs: int


@dataclass(frozen=True)
class Processing:
    """Where PhishNet's workers mark what they are on (the playbook's ``stuck_jobs``)."""

    processing_set: str
    heartbeat_key: str  # with {job_id}

    def heartbeat(self, job_id: str) -> str:
        return self.heartbeat_key.replace("{job_id}", job_id)


class SimulatedPhishNet:
    def __init__(
        self,
        redis: RedisClient,
        replicas_of: Callable[[str], Awaitable[int]],
        loads: list[QueueLoad],
        *,
        processing: Processing | None = None,
        crash: WorkerCrash | None = None,
    ) -> None:
        self._redis = redis
        self._replicas_of = replicas_of
        self.loads = loads
        self._processing = processing
        self._crash = crash
        self.elapsed = 0.0
        self.crashed_at: float | None = None
        self.stuck: list[str] = []

    async def advance(self, seconds: float) -> None:
        """Simulates ``seconds`` of arrivals and processing."""
        self.elapsed += seconds
        pipe: Any = self._redis.pipeline(transaction=False)
        popping: list[QueueLoad] = []
        workers: dict[str, int] = {}
        for load in self.loads:
            load._arrival_debt += load.arrivals_per_minute * seconds / 60
            arrivals = int(load._arrival_debt)
            load._arrival_debt -= arrivals
            if arrivals:
                ids = [f"{load.queue}:{load._next_id + i}" for i in range(arrivals)]
                load._next_id += arrivals
                pipe.lpush(load.queue, *ids)
            count = await self._replicas_of(load.deployment) if load.deployment else 1
            workers[load.queue] = count
            load._work_debt += count * load.jobs_per_worker_minute * seconds / 60
            capacity = int(load._work_debt)
            load._work_debt -= capacity
            if capacity:
                pipe.rpop(load.queue, capacity)
                popping.append(load)
        results = await pipe.execute()
        popped: dict[str, list[str]] = {load.queue: [] for load in self.loads}
        for load, result in zip(popping, results[len(results) - len(popping) :], strict=True):
            popped[load.queue] = _ids(result)
        if self._processing is not None:
            await self._work(self._processing, popped, workers)

    async def _work(
        self, processing: Processing, popped: dict[str, list[str]], workers: dict[str, int]
    ) -> None:
        """The processing set: each worker on its latest job with a fresh heartbeat, the
        crashed worker's batch left behind with its heartbeats stopped."""
        if self.stuck:  # a requeue may have moved them back to their queue
            redis: Any = self._redis  # redis-py's command stubs are sync-or-async unions
            member = await redis.smismember(processing.processing_set, self.stuck)
            self.stuck = [job for job, m in zip(self.stuck, member, strict=True) if m]
        seconds, micros = await self._redis.time()
        now = float(seconds) + float(micros) / 1_000_000
        pipe: Any = self._redis.pipeline(transaction=False)
        await self._maybe_crash(processing, pipe)
        for load in self.loads:
            current = popped[load.queue][-workers[load.queue] :] if workers[load.queue] else []
            finished = [job for job in load._in_flight if job not in current]
            load._in_flight = current
            if finished:
                pipe.srem(processing.processing_set, *finished)
                pipe.delete(*(processing.heartbeat(job) for job in finished))
            if current:
                pipe.sadd(processing.processing_set, *current)
                for job in current:
                    pipe.set(processing.heartbeat(job), f"{now:.3f}")
        if self.stuck and self.crashed_at is not None:
            # The heartbeats stopped at the crash: as old as the simulated time since.
            stopped = now - (self.elapsed - self.crashed_at)
            for job in self.stuck:
                pipe.set(processing.heartbeat(job), f"{stopped:.3f}")
        await pipe.execute()

    async def _maybe_crash(self, processing: Processing, pipe: Any) -> None:
        crash = self._crash
        if crash is None or self.crashed_at is not None:
            return
        if self.elapsed < crash.after.total_seconds():
            return
        redis: Any = self._redis
        self.stuck = _ids(await redis.rpop(crash.queue, crash.jobs))
        self.crashed_at = self.elapsed
        if self.stuck:
            pipe.sadd(processing.processing_set, *self.stuck)


def _ids(result: object) -> list[str]:
    if not isinstance(result, list):
        return []
    return [r.decode() if isinstance(r, bytes) else str(r) for r in result]
