"""Stuck-job scan and requeue against a real Redis: failures (Redis vanishing
mid-way, unreachable, bad parameters, a queue of the wrong type) said in words.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.adapters.queues.requeue import (
    RedisUnavailable,
    requeue_stuck,
    scan_stuck,
)
from bot.domain.requeue import RequeueProgress
from tests.requeue_scenario import (
    THRESHOLD,
    Keys,
    assert_each_id_once,
    make_jobs,
    requeue,
    seed,
)

# --- failures ------------------------------------------------------------------------------------


class RedisProxy:
    """A TCP proxy in front of Redis; ``cut()`` makes Redis vanish for its clients."""

    def __init__(self, redis_url: str) -> None:
        self._target = parse_url(redis_url)
        self._links: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/{self._target.get('db', 0)}"

    def cut(self) -> None:
        assert self._server is not None
        self._server.close()  # new connections are refused
        for writer in self._links:
            writer.transport.abort()  # open ones are reset

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if "path" in self._target:
            server_r, server_w = await asyncio.open_unix_connection(self._target["path"])
        else:
            server_r, server_w = await asyncio.open_connection(
                self._target["host"], self._target["port"]
            )
        self._links += [client_w, server_w]
        await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


async def test_redis_vanishing_mid_requeue_reports_what_was_done(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    keys, jobs = Keys(), make_jobs(stale=400)
    await seed(redis_client, keys, jobs)
    progress_seen: list[RequeueProgress] = []

    proxy = RedisProxy(redis_url)
    client = aioredis.from_url(await proxy.start(), retry=Retry(NoBackoff(), 1))

    async def on_progress(progress: RequeueProgress) -> None:
        progress_seen.append(progress)
        if progress.done >= 100:
            proxy.cut()  # Redis goes away after a few batches

    try:
        with pytest.raises(RedisUnavailable) as caught:
            await requeue(
                client, keys, batch_size=50, on_progress=on_progress, progress_interval_seconds=0
            )
    finally:
        await client.aclose()

    error = caught.value
    assert error.partial is not None
    assert error.partial.moved == progress_seen[-1].moved >= 100
    assert error.unconfirmed in (0, 50)
    message = str(error)
    assert "Redis did not answer" in message and "No job was lost" in message
    assert f"{error.partial.moved:,} ids" in message and "127.0.0.1" not in message
    await assert_each_id_once(redis_client, keys, jobs.every)


async def test_unreachable_redis_is_reported_in_words_for_scan_and_requeue() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0))
    keys = Keys()
    try:
        with pytest.raises(RedisUnavailable, match="Nothing was changed"):
            await scan_stuck(
                client,
                processing_set=keys.processing,
                heartbeat_key=keys.heartbeat,
                older_than_seconds=THRESHOLD,
            )
        with pytest.raises(RedisUnavailable, match="No job was lost") as caught:
            await requeue(client, keys)
    finally:
        await client.aclose()
    assert caught.value.partial is not None and caught.value.partial.moved == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 100_000}, "batch_size"),
        ({"older_than_seconds": 0}, "older_than_seconds"),
        ({"older_than_seconds": float("nan")}, "older_than_seconds"),
        ({"heartbeat_key": "heartbeat:"}, "{job_id}"),
    ],
)
async def test_bad_parameters_are_refused_before_touching_redis(
    redis_client: aioredis.Redis, options: dict[str, object], message: str
) -> None:
    keys, jobs = Keys(), make_jobs(stale=3)
    await seed(redis_client, keys, jobs)
    arguments: dict[str, object] = {
        "processing_set": keys.processing,
        "heartbeat_key": keys.heartbeat,
        "target_queue": keys.queue,
        "older_than_seconds": THRESHOLD,
        **options,
    }
    with pytest.raises(ValueError, match=message):
        await requeue_stuck(redis_client, **arguments)  # type: ignore[arg-type]
    assert await redis_client.scard(keys.processing) == 3


async def test_a_queue_of_the_wrong_type_moves_nothing(redis_client: aioredis.Redis) -> None:
    keys, jobs = Keys(), make_jobs(stale=3)
    await seed(redis_client, keys, jobs)
    await redis_client.set(keys.queue, "not a list")

    with pytest.raises(RedisUnavailable) as caught:
        await requeue(redis_client, keys)

    said = str(caught.value)
    assert said.startswith(f"Redis refused the command: `{keys.queue}` holds a string, not a list.")
    assert "stopped after moving 0 ids" in said and "may or may not" not in said
    assert caught.value.unconfirmed == 0

    assert set(await redis_client.smembers(keys.processing)) == jobs.stuck
    assert await redis_client.get(keys.queue) == "not a list"
