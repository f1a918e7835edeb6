"""Runs one ``requeue_stuck`` in its own process, for the SIGKILL test.

Usage: python tests/requeue_worker.py REDIS_URL PROCESSING_SET HEARTBEAT_KEY QUEUE
       OLDER_THAN_SECONDS BATCH_SIZE

Prints ``progress <done>`` after every batch (flushed, so the test can kill the
process at a chosen point) and ``finished <moved>`` at the end.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from bot.adapters.queues.requeue import requeue_stuck
from bot.domain.requeue import RequeueProgress


async def _progress(progress: RequeueProgress) -> None:
    print(f"progress {progress.done}", flush=True)


async def main(argv: list[str]) -> int:
    url, processing_set, heartbeat_key, queue, older_than, batch_size = argv
    client = aioredis.from_url(url)
    try:
        result = await requeue_stuck(
            client,
            processing_set=processing_set,
            heartbeat_key=heartbeat_key,
            target_queue=queue,
            older_than_seconds=float(older_than),
            batch_size=int(batch_size),
            on_progress=_progress,
            progress_interval_seconds=0,
        )
    finally:
        await client.aclose()
    print(f"finished {result.moved}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
