"""Every Redis failure reaches a person as a clear sentence, on every Redis path.

Each fault is produced by a real server configured as operators run it (a password,
an ACL, a read-only replica, ``maxmemory``, a long script, Redis Cluster) or by a real
network fault, and goes through the bot's own calls: queue depths (``/backlog status``
and the monitor), the stuck-job scan (``/backlog requeue``) and the requeue itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bot.adapters.queues.depths import QueuesUnavailable, connect, queue_depths
from bot.adapters.queues.errors import RedisFailure, RedisFault, describe, explain
from bot.adapters.queues.requeue import RedisUnavailable, requeue_stuck, scan_stuck
from tests.integration.tcp_gate import TcpGate
from tests.redis_servers import PrivateRedis, free_port, redis_server_binary

QUEUES = ["email_processing_queue", "analysis_queue", "notification_queue"]
HEARTBEAT = "heartbeat:{job_id}"

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs a redis-server binary to start its own servers"
)

Start = Callable[..., Awaitable[PrivateRedis]]


@pytest.fixture
async def start_redis(tmp_path: Path) -> AsyncIterator[Start]:
    """Starts private redis-servers for one test; stops them (by pid) afterwards."""
    servers: list[PrivateRedis] = []

    async def start(*config: str, cluster: bool = False) -> PrivateRedis:
        server = PrivateRedis(tmp_path / f"redis-{len(servers)}", *config, cluster=cluster)
        servers.append(server)
        return await server.start()

    yield start
    for server in servers:
        await server.stop()


@contextlib.asynccontextmanager
async def bot_client(url: str, **options: float) -> AsyncIterator[aioredis.Redis]:
    """A client built the way the bot builds its own (``depths.connect``)."""
    client = connect(url, **options)
    try:
        yield client
    finally:
        await client.aclose()


def assert_sentence(failure: BaseException, *needles: str) -> None:
    """A full sentence, safe in mrkdwn, with no URL or password, saying ``needles``."""
    said = str(failure)
    assert isinstance(failure, QueuesUnavailable)
    assert said[0].isupper() and said.endswith(".")
    assert "redis://" not in said and "s3cret" not in said and "wrong-password" not in said
    assert not re.search(r"<|>", said), said  # Slack's control characters are escaped
    for needle in needles:
        assert needle in said, said


async def scan(client: aioredis.Redis, processing_set: str = "processing_jobs") -> None:
    await scan_stuck(
        client, processing_set=processing_set, heartbeat_key=HEARTBEAT, older_than_seconds=60
    )


async def requeue(
    client: aioredis.Redis,
    processing_set: str = "processing_jobs",
    heartbeat_key: str = HEARTBEAT,
    target_queue: str = "email_processing_queue",
) -> None:
    await requeue_stuck(
        client,
        processing_set=processing_set,
        heartbeat_key=heartbeat_key,
        target_queue=target_queue,
        older_than_seconds=60,
    )


# --- the network ---------------------------------------------------------------------------------


async def test_connection_refused() -> None:
    async with bot_client(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=2) as client:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, QUEUES)
    assert caught.value.fault is RedisFault.REFUSED
    assert_sentence(caught.value, "Redis did not answer: the connection was refused")


async def test_connection_timed_out() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # swallows the commands, says nothing, until the client leaves
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with bot_client(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.3) as client:
            with pytest.raises(QueuesUnavailable) as caught:
                await queue_depths(client, QUEUES)
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.fault is RedisFault.TIMEOUT
    assert_sentence(caught.value, "Redis did not answer: the connection timed out")


async def test_connection_reset_during_a_scan(redis_url: str, redis_client) -> None:
    await redis_client.sadd("processing_jobs", "a")
    gate = await TcpGate(redis_url).start()
    try:
        async with bot_client(gate.url(), timeout_seconds=2) as client:
            await queue_depths(client, QUEUES)  # connected
            gate.cut()
            with pytest.raises(RedisUnavailable) as caught:
                await scan(client)
    finally:
        await gate.stop()
    assert caught.value.fault.unreachable
    assert_sentence(caught.value, "Redis did not answer", "Nothing was changed.")


async def test_host_name_that_does_not_resolve() -> None:
    # .invalid never resolves (RFC 2606).
    async with bot_client("redis://redis.example.invalid:6379/0", timeout_seconds=2) as client:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, QUEUES)
    assert caught.value.fault is RedisFault.UNRESOLVED
    assert_sentence(caught.value, "host name in `REDIS_URL` could not be resolved")


# --- authentication and ACLs ---------------------------------------------------------------------


async def test_password_required_but_not_given(start_redis: Start) -> None:
    server = await start_redis("requirepass s3cret")
    async with bot_client(server.url()) as client:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, QUEUES)
    assert caught.value.fault is RedisFault.NOAUTH
    assert_sentence(caught.value, "requires a password", "(NOAUTH)", "`REDIS_URL`")


async def test_wrong_password(start_redis: Start) -> None:
    server = await start_redis("requirepass s3cret")
    async with bot_client(server.url(password="wrong-password")) as client:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, QUEUES)
    assert caught.value.fault is RedisFault.WRONGPASS
    assert_sentence(caught.value, "user name or password in `REDIS_URL` is wrong")


async def test_acl_user_not_allowed_a_command(start_redis: Start) -> None:
    server = await start_redis("user default off", "user bot on >s3cret ~* +@all -llen")
    async with bot_client(server.url(user="bot", password="s3cret")) as client:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, QUEUES)
    assert caught.value.fault is RedisFault.NOPERM
    assert_sentence(caught.value, "the bot's Redis user is not allowed to run it (NOPERM", "llen")


# --- servers that refuse ------------------------------------------------------------------------


async def test_requeue_on_a_read_only_replica_moves_nothing_and_says_so(start_redis: Start) -> None:
    server = await start_redis("replica-serve-stale-data yes")
    async with bot_client(server.url()) as client:
        await client.sadd("processing_jobs", "a", "b")
        # A replica of a primary that never answers keeps its data and refuses writes.
        await client.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
        await scan(client)  # reading works on a replica
        with pytest.raises(RedisUnavailable) as caught:
            await requeue(client)
        assert await client.smembers("processing_jobs") == {"a", "b"}
    assert caught.value.fault is RedisFault.READONLY and caught.value.unconfirmed == 0
    assert_sentence(
        caught.value,
        "Redis refused to write: the bot is connected to a read-only replica",
        "moving 0 ids",
        "No job was lost",
    )


async def test_out_of_memory(start_redis: Start) -> None:
    server = await start_redis("maxmemory 1", "maxmemory-policy noeviction")
    async with bot_client(server.url()) as client:
        assert await queue_depths(client, QUEUES)  # reads still work when Redis is full
        with pytest.raises(ResponseError) as refused:
            await client.lpush("email_processing_queue", "x")
        failure = await explain(client, refused.value)
    assert failure.fault is RedisFault.OOM
    assert_sentence(failure, "out of memory", "`maxmemory`", "OOM")


async def test_redis_busy_running_a_script(start_redis: Start) -> None:
    server = await start_redis("lua-time-limit 20")  # BUSY after 20 ms (default 5 s)
    async with bot_client(server.url()) as blocker, bot_client(server.url()) as client:
        looping = asyncio.create_task(blocker.eval("while true do end", 0))
        try:
            caught = await _first_failure(lambda: queue_depths(client, QUEUES))
        finally:
            # A bare client: the bot's would PING first (health check) and get BUSY too.
            killer = aioredis.Redis(host="127.0.0.1", port=server.port)
            await killer.execute_command("SCRIPT", "KILL")
            await killer.aclose()
            with contextlib.suppress(ResponseError):
                await looping
    assert caught.fault is RedisFault.BUSY
    assert_sentence(caught, "busy running a script", "(BUSY)", "`SCRIPT KILL`")


async def _first_failure(call: Callable[[], Awaitable[object]]) -> RedisFailure:
    """Calls until it fails: the looping script needs a moment to pass the BUSY limit."""
    for _ in range(200):
        try:
            await call()
        except RedisFailure as failure:
            return failure
        await asyncio.sleep(0.02)
    raise AssertionError("Redis never answered BUSY")


async def test_script_unknown_to_redis(redis_client) -> None:
    with pytest.raises(ResponseError) as refused:
        await redis_client.evalsha("0" * 40, 0)
    failure = await explain(redis_client, refused.value)
    assert failure.fault is RedisFault.NOSCRIPT
    assert_sentence(failure, "(NOSCRIPT)", "`SCRIPT FLUSH`")


async def test_any_other_refusal_is_said_with_redis_words_escaped(redis_client) -> None:
    with pytest.raises(ResponseError) as refused:
        await redis_client.execute_command("NOPE<!channel>")
    failure = describe(refused.value)
    assert failure.fault is RedisFault.REFUSED_COMMAND
    assert_sentence(failure, "Redis refused the command: unknown command", "NOPE&lt;!channel&gt;")


# --- Redis Cluster -------------------------------------------------------------------------------


async def _cluster_node(start_redis: Start, slots: range) -> PrivateRedis:
    node = await start_redis(cluster=True)
    async with bot_client(node.url()) as client:
        await client.execute_command("CLUSTER", "ADDSLOTS", *slots)
    return node


async def _wait_cluster_ok(*nodes: PrivateRedis) -> None:
    for node in nodes:
        async with bot_client(node.url()) as client:
            for _ in range(400):
                if "cluster_state:ok" in await client.execute_command("CLUSTER", "INFO"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the test cluster never became ready")


async def test_keys_in_different_cluster_slots_and_the_hash_tag_that_fixes_it(
    start_redis: Start,
) -> None:
    node = await _cluster_node(start_redis, range(16384))
    await _wait_cluster_ok(node)
    async with bot_client(node.url()) as client:
        await client.sadd("processing_jobs", "a", "b", "c")
        with pytest.raises(RedisUnavailable) as caught:
            await scan(client)
        # The advice works: keys sharing a hash tag share a slot, and the requeue runs.
        await client.sadd("{phishnet}:processing_jobs", "a", "b", "c")
        await requeue(
            client,
            processing_set="{phishnet}:processing_jobs",
            heartbeat_key="{phishnet}:heartbeat:{job_id}",
            target_queue="{phishnet}:email_processing_queue",
        )
        assert await client.llen("{phishnet}:email_processing_queue") == 3
    assert caught.value.fault is RedisFault.CROSSSLOT
    assert_sentence(caught.value, "different hash slots (CROSSSLOT)", "hash tag", "Nothing was")


async def test_a_cluster_node_redirects_elsewhere(start_redis: Start) -> None:
    first = await _cluster_node(start_redis, range(8192))
    second = await _cluster_node(start_redis, range(8192, 16384))
    async with bot_client(first.url()) as client:
        await client.execute_command("CLUSTER", "MEET", "127.0.0.1", str(second.port))
    await _wait_cluster_ok(first, second)
    async with bot_client(first.url()) as client:
        with pytest.raises(QueuesUnavailable) as caught:
            await queue_depths(client, QUEUES)  # email_processing_queue is in slot 12137
    assert caught.value.fault is RedisFault.REDIRECTED
    assert_sentence(caught.value, "cluster redirection (MOVED 12137", "one node of a Redis Cluster")


async def test_an_error_wrapped_by_a_redis_py_pipeline_is_still_named(redis_client) -> None:
    await redis_client.set("email_processing_queue", "oops")
    pipe = redis_client.pipeline(transaction=False)
    pipe.llen("analysis_queue")
    pipe.llen("email_processing_queue")
    with pytest.raises(ResponseError) as refused:
        await pipe.execute()  # raise_on_error=True: redis-py rewrites the message
    failure = await explain(redis_client, refused.value, expected=dict.fromkeys(QUEUES, "list"))
    assert failure.fault is RedisFault.WRONGTYPE
    assert_sentence(
        failure, "Redis refused the command: `email_processing_queue` holds a string, not a list."
    )
