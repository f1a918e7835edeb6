"""Stuck-job requeue: the runbook's two EVALs against Backlog Bot's batched requeue.

    python benchmarks/requeue.py [--ids N] [--redis-url URL]

For each size (100,000 and 1,000,000 ids by default; ``--ids`` picks one) the
processing set ``processing_jobs`` is filled with ids ``job-00000000``…: a quarter
have no heartbeat, a quarter a heartbeat an hour old (both stuck), half a fresh one.
Then, on a freshly seeded database each time:

(a) the runbook, in spirit verbatim: script 1 (EVAL, SMEMBERS + per-id GET/SREM/DEL),
    then ``SMEMBERS processing_jobs`` *after* it, fed to script 2 (EVAL, one LPUSH per
    ARGV). A shell cannot pass that many ids in one command line (ARG_MAX), so script 2
    runs in as many calls as ARG_MAX needs; that is printed.
(b) Backlog Bot: ``requeue_stuck`` with its defaults.

Reported for each: elapsed time, ids requeued per second, ids lost (in neither the
queue nor the set), ids duplicated (more than once across queue and set), and the
longest single Redis command (SLOWLOG, our connections only). Then the ceiling for
pipelined single-id LPUSH, measured in the same run with redis-py (the bot's own
client stack) and with ``redis-benchmark -P 16`` when installed, and the ratios.

Only the database in the URL is flushed (default: TEST_REDIS_URL, else
redis://127.0.0.1:6379/14; never REDIS_URL, the bot's own), and only if it is empty
when the benchmark starts. The slowlog settings are restored at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.client import NEVER_DECODE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.queues.requeue import requeue_stuck

DEFAULT_URL = "redis://127.0.0.1:6379/14"
SIZES = (100_000, 1_000_000)
CLIENT_NAME = "bb-bench-requeue"
PROCESSING, QUEUE = "processing_jobs", "email_processing_queue"
THRESHOLD = 600
# Every command slower than this is logged. Not 0: Redis 7 also logs each command a
# script runs, and a million-id requeue would overflow any sane slowlog-max-len. The
# longest call is always far above 0.1 ms (a script over 500 ids takes 1-3 ms).
SLOWLOG_FLOOR_US = 100
RAW: dict[str, Any] = {NEVER_DECODE: True}

# The runbook's "Clear Stuck Jobs" scripts, as written there.
RUNBOOK_SCRIPT_1 = """
local stuck_jobs = {}
local processing_set = 'processing_jobs'
local jobs = redis.call('SMEMBERS', processing_set)
local current_time = redis.call('TIME')[1]

for _, job_id in ipairs(jobs) do
    local heartbeat = redis.call('GET', 'heartbeat:' .. job_id)
    if not heartbeat or (current_time - heartbeat) > 600 then
        table.insert(stuck_jobs, job_id)
        redis.call('SREM', processing_set, job_id)
        redis.call('DEL', 'heartbeat:' .. job_id)
    end
end
return stuck_jobs
"""
RUNBOOK_SCRIPT_2 = """
local stuck_jobs = ARGV
for i = 1, #stuck_jobs do
    redis.call('LPUSH', 'email_processing_queue', stuck_jobs[i])
end
return #stuck_jobs
"""

# Seeds ids [from, to) server-side: far faster than sending them from Python.
SEED_SCRIPT = """
local now = tonumber(redis.call('TIME')[1])
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
  local id = string.format('job-%08d', i)
  redis.call('SADD', KEYS[1], id)
  local kind = i % 4
  if kind == 1 then
    redis.call('SET', 'heartbeat:' .. id, now - 3600)
  elseif kind >= 2 then
    redis.call('SET', 'heartbeat:' .. id, now)
  end
end
return 0
"""
SEED_CHUNK = 5_000


@dataclass
class Outcome:
    elapsed: float
    pushed: int
    requeued: int  # stuck ids that ended up in the queue
    lost: int
    duplicated: int
    max_call_ms: float
    calls: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.requeued / self.elapsed if self.elapsed > 0 else 0.0


# --- setup and checks ----------------------------------------------------------------------------


async def seed(client: aioredis.Redis, size: int) -> None:
    await client.flushdb()
    seeder = client.register_script(SEED_SCRIPT)
    for start in range(0, size, SEED_CHUNK):
        await seeder(keys=[PROCESSING], args=[start, min(size, start + SEED_CHUNK)])


def stuck_count(size: int) -> int:
    return sum(1 for i in range(size) if i % 4 < 2)


@dataclass
class Census:
    lost: int  # in neither the queue nor the set
    duplicated: int  # more than once across queue and set
    stuck_in_queue: int  # stuck ids that were requeued


async def census(client: aioredis.Redis, size: int) -> Census:
    """Every seeded id, counted from LRANGE of the queue (in chunks) and SMEMBERS."""
    queued: Counter[bytes] = Counter()
    length = await client.llen(QUEUE)
    for start in range(0, length, 10_000):
        queued.update(await client.execute_command("LRANGE", QUEUE, start, start + 9_999, **RAW))
    seen = queued + Counter(await client.execute_command("SMEMBERS", PROCESSING, **RAW))
    expected = [b"job-%08d" % i for i in range(size)]
    return Census(
        lost=sum(1 for job_id in expected if job_id not in seen),
        duplicated=sum(1 for count in seen.values() if count > 1),
        stuck_in_queue=sum(1 for i, job_id in enumerate(expected) if i % 4 < 2 and queued[job_id]),
    )


class SlowLog:
    """The longest commands of our connections, from SLOWLOG; restores the config after."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._saved: dict[str, Any] = {}

    async def __aenter__(self) -> SlowLog:
        self._saved = await self._client.config_get("slowlog-*")
        await self._client.config_set("slowlog-max-len", 500_000)
        await self._client.config_set("slowlog-log-slower-than", SLOWLOG_FLOOR_US)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for name, value in self._saved.items():
            await self._client.config_set(name, value)

    async def reset(self) -> None:
        await self._client.slowlog_reset()

    async def ours(self) -> list[int]:
        """Durations (us) of the top-level commands our connections sent."""
        entries = await self._client.slowlog_get(500_000)
        name = CLIENT_NAME.encode()
        return sorted(e["duration"] for e in entries if e.get("client_name") in (name, CLIENT_NAME))


# --- (a) the runbook -----------------------------------------------------------------------------


def arg_max_chunks(ids: list[bytes]) -> Iterator[list[bytes]]:
    """Split ids as a shell would have to: argv (pointers + strings) under ARG_MAX."""
    budget = os.sysconf("SC_ARG_MAX") // 2  # half: the environment and the command need room
    chunk: list[bytes] = []
    used = 0
    for job_id in ids:
        cost = len(job_id) + 1 + 8
        if chunk and used + cost > budget:
            yield chunk
            chunk, used = [], 0
        chunk.append(job_id)
        used += cost
    if chunk:
        yield chunk


async def run_runbook(client: aioredis.Redis, slowlog: SlowLog, size: int) -> Outcome:
    await seed(client, size)
    await slowlog.reset()
    started = time.perf_counter()
    await client.execute_command("EVAL", RUNBOOK_SCRIPT_1, 0, **RAW)
    remaining = await client.execute_command("SMEMBERS", PROCESSING, **RAW)
    pushed = calls = 0
    for chunk in arg_max_chunks(list(remaining)):
        pushed += int(await client.execute_command("EVAL", RUNBOOK_SCRIPT_2, 0, *chunk))
        calls += 1
    elapsed = time.perf_counter() - started
    durations = await slowlog.ours()
    counted = await census(client, size)
    note = f"script 2 needed {calls} call(s) to stay under ARG_MAX"
    if calls > 1:
        note += " (the runbook's single command line fails: 'Argument list too long')"
    return Outcome(
        elapsed=elapsed,
        pushed=pushed,
        requeued=counted.stuck_in_queue,
        lost=counted.lost,
        duplicated=counted.duplicated,
        max_call_ms=durations[-1] / 1000 if durations else 0.0,
        calls=calls + 2,
        note=note,
    )


# --- (b) Backlog Bot -----------------------------------------------------------------------------


async def run_bot(client: aioredis.Redis, slowlog: SlowLog, size: int) -> Outcome:
    await seed(client, size)
    await slowlog.reset()
    started = time.perf_counter()
    result = await requeue_stuck(
        client,
        processing_set=PROCESSING,
        heartbeat_key="heartbeat:{job_id}",
        target_queue=QUEUE,
        older_than_seconds=THRESHOLD,
    )
    elapsed = time.perf_counter() - started
    durations = await slowlog.ours()
    counted = await census(client, size)
    p99 = durations[int(len(durations) * 0.99) - 1] / 1000 if durations else 0.0
    over_10ms = sum(1 for duration in durations if duration > 10_000)
    return Outcome(
        elapsed=elapsed,
        pushed=result.moved,
        requeued=counted.stuck_in_queue,
        lost=counted.lost,
        duplicated=counted.duplicated,
        max_call_ms=durations[-1] / 1000 if durations else 0.0,
        calls=len(durations),
        note=f"batch 500; p99 call {p99:.2f} ms, {over_10ms} over 10 ms; moved {result.moved:,} of "
        f"{stuck_count(size):,} stuck; still running {result.still_running:,}",
    )


# --- the LPUSH ceiling ---------------------------------------------------------------------------


async def lpush_ceiling_redis_py(client: aioredis.Redis, pushes: int) -> float:
    await client.delete("bench:ceiling")
    pipe = client.pipeline(transaction=False)
    started = time.perf_counter()
    for i in range(pushes):
        pipe.lpush("bench:ceiling", b"job-%08d" % i)
        if len(pipe) == 1000:
            await pipe.execute()
    await pipe.execute()
    elapsed = time.perf_counter() - started
    await client.delete("bench:ceiling")
    return pushes / elapsed


def lpush_ceiling_redis_benchmark(url: str) -> float | None:
    binary = shutil.which("redis-benchmark")
    target = parse_url(url)
    if binary is None or "path" in target:
        return None
    command = [
        binary, "-h", str(target.get("host", "127.0.0.1")), "-p", str(target.get("port", 6379)),
        "--dbnum", str(target.get("db", 0)), "-t", "lpush", "-n", "1000000", "-P", "16", "-q",
    ]  # fmt: skip
    if target.get("password"):
        command += ["-a", str(target["password"])]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    rates = re.findall(r"LPUSH: ([\d.]+) requests per second", run.stdout)
    return float(rates[-1]) if rates else None


# --- report --------------------------------------------------------------------------------------


def show(label: str, outcome: Outcome) -> None:
    print(
        f"  {label:<8} {outcome.elapsed:6.2f} s  pushed {outcome.pushed:>7,}, stuck ones"
        f" {outcome.requeued:>7,}: {outcome.rate:>7,.0f} ids/s  lost {outcome.lost:>7,}  dup."
        f" {outcome.duplicated:>7,}  longest call {outcome.max_call_ms:8.2f} ms"
        f" ({outcome.calls:,} calls over 0.1 ms)"
    )
    print(f"           {outcome.note}")


async def main(sizes: tuple[int, ...], url: str) -> None:
    client = aioredis.from_url(url, client_name=CLIENT_NAME, socket_timeout=None)
    if keys := await client.dbsize():
        await client.aclose()
        sys.exit(
            f"{url.rsplit('@', 1)[-1]} holds {keys} key(s); the benchmark empties its "
            "database, so it only runs on one that is empty. Pick another --redis-url."
        )
    started = time.perf_counter()
    bot: dict[int, Outcome] = {}
    try:
        async with SlowLog(client) as slowlog:
            for size in sizes:
                print(f"{size:,} ids in {PROCESSING}, {stuck_count(size):,} of them stuck")
                runbook = await run_runbook(client, slowlog, size)
                show("runbook", runbook)
                if runbook.max_call_ms > 5000:
                    print("           script 1 ran over 5 s: every other client got BUSY")
                bot[size] = await run_bot(client, slowlog, size)
                show("bot", bot[size])
            await client.flushdb()
            await slowlog.reset()
            redis_py = await lpush_ceiling_redis_py(client, min(200_000, max(sizes)))
            # A single-id LPUSH takes ~1 us of server time: any that the slowlog caught
            # shows how far this machine's scheduling noise alone stretches a command.
            noise = await slowlog.ours()
        native = lpush_ceiling_redis_benchmark(url)
    finally:
        await client.flushdb()
        await client.aclose()
    report(bot, redis_py, native, noise)
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")
    largest = bot[max(sizes)]
    print(
        f"requeue ids={max(sizes)} lost={largest.lost} duplicated={largest.duplicated}"
        f" max_call_ms={largest.max_call_ms:.2f} ratio_to_lpush={largest.rate / redis_py:.2f}"
    )


def report(
    bot: dict[int, Outcome], redis_py: float, native: float | None, noise: list[int]
) -> None:
    longest_lpush = f"{noise[-1] / 1000:.2f} ms" if noise else "under 0.1 ms"
    print(f"longest single-id LPUSH during the ceiling run: {longest_lpush} (machine noise)")
    print(f"pipelined LPUSH ceiling, redis-py (1,000 per pipeline): {redis_py:,.0f} ids/s")
    for size, outcome in bot.items():
        print(f"  bot / redis-py LPUSH at {size:,}: {outcome.rate / redis_py:.2f}")
    if native is not None:
        print(f"pipelined LPUSH ceiling, redis-benchmark -P 16 -c 50: {native:,.0f} ids/s")
        for size, outcome in bot.items():
            print(f"  bot / redis-benchmark LPUSH at {size:,}: {outcome.rate / native:.3f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, help="one size instead of 100,000 and 1,000,000")
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", DEFAULT_URL))
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main((args.ids,) if args.ids else SIZES, args.redis_url))
