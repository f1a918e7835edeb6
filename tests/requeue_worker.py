"""Runs one ``requeue_stuck`` in its own process, for the SIGKILL tests.

Usage: python tests/requeue_worker.py REDIS_URL PROCESSING_SET HEARTBEAT_KEY QUEUE
       OLDER_THAN_SECONDS BATCH_SIZE [JOURNAL_DATABASE_URL]

``REDIS_URL`` may be a ``redis+cluster://`` URL; with ``JOURNAL_DATABASE_URL`` the
requeue journals in that (migrated) PostgreSQL database, as the bot does on a Redis
Cluster whose keys are in different slots.

Prints ``progress <done>`` after every batch (flushed, so the test can kill the
process at a chosen point) and ``finished <moved>`` at the end.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from bot.adapters.queues.cluster import is_cluster_url
from bot.adapters.queues.depths import connect
from bot.adapters.queues.requeue import requeue_stuck
from bot.adapters.store import Store
from bot.domain.requeue import RequeueProgress


async def _progress(progress: RequeueProgress) -> None:
    print(f"progress {progress.done}", flush=True)


async def main(argv: list[str]) -> int:
    url, processing_set, heartbeat_key, queue, older_than, batch_size, *journal_url = argv
    client = connect(url) if is_cluster_url(url) else aioredis.from_url(url)
    journal = await Store.connect(journal_url[0]) if journal_url else None
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
            journal=journal,
        )
    finally:
        await client.aclose()
        if journal is not None:
            await journal.close()
    print(f"finished {result.moved}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
