"""Byte-exact Redis calls for the stuck-job scan and requeue.

Job ids are opaque bytes: every reply here is read undecoded, whatever the client's
``decode_responses``, so an id goes back to Redis exactly as it came. Pipeline errors
are raised as Redis sent them (not wrapped in redis-py's "Command # n of pipeline"),
so :mod:`bot.adapters.queues.errors` can name them.

Every function takes either client (:data:`~bot.adapters.queues.cluster.RedisClient`);
on a Redis Cluster, pipelines go out as one round trip per node.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.client import NEVER_DECODE
from redis.exceptions import NoScriptError, ResponseError

from bot.adapters.queues.cluster import RedisClient, is_cluster

# Read replies as bytes: job ids are opaque and must be written back byte for byte.
_RAW: dict[str, Any] = {NEVER_DECODE: True}
# Stands in for a heartbeat key holding a list, hash...: not a number, so malformed.
_NOT_A_STRING = b"<not a string>"


#: One script call: (keys, args).
Call = tuple[Sequence[bytes | str], Sequence[Any]]


class RawScript:
    """A registered script whose reply is read as raw bytes.

    ``register_script``'s callable decodes replies with the client's settings; job ids
    are opaque bytes and must come back unchanged whatever ``decode_responses`` is.
    """

    def __init__(self, client: RedisClient, text: str) -> None:
        self._client = client
        self._text = text
        self.sha = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return await execute(self._client, *command, **_RAW)
        except NoScriptError:
            # A restarted or failed-over Redis forgot it: load it and try once more.
            await self.load()
            return await execute(self._client, *command, **_RAW)

    async def load(self) -> None:
        """``SCRIPT LOAD`` (on a Redis Cluster, redis-py sends it to every primary)."""
        await execute(self._client, "SCRIPT LOAD", self._text)

    async def pipelined(self, calls: Sequence[Call]) -> list[Any]:
        """Several calls ``(keys, args)``, pipelined: one round trip per node. Each
        call's keys must share a slot. Answers in order; the first error is raised.

        Calls refused with ``NOSCRIPT`` did not run: the script is loaded and only those
        are sent again (re-running the others could change their answer).
        """
        answers = await pipeline_raw(self._client, [self._command(*call) for call in calls])
        again = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if again:
            await self.load()
            retried = await pipeline_raw(self._client, [self._command(*calls[i]) for i in again])
            for index, answer in zip(again, retried, strict=True):
                answers[index] = answer
        return raise_first(answers)

    def _command(self, keys: Sequence[bytes | str], args: Sequence[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


async def pipeline_raw(client: RedisClient, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Raw commands, pipelined without MULTI; errors come back in place, unwrapped."""
    pipe: Any = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command, **_RAW)
    answers: list[Any] = await pipe.execute(raise_on_error=False)
    return answers


async def read_heartbeats(
    client: RedisClient, keys: list[bytes]
) -> tuple[float, list[bytes | None]]:
    """Redis server time and the raw heartbeats, in one round trip (plus one if any is nil).

    On a Redis Cluster, whose heartbeat keys may be on every node, one ``GET`` per key,
    pipelined: one round trip per node. Server time then comes from one node (the
    client's default); cluster nodes' clocks are assumed NTP-synchronised, far within
    a stuck-job threshold of minutes.
    """
    if is_cluster(client):
        return await _read_heartbeats_by_node(client, keys)
    pipe: Any = client.pipeline(transaction=False)
    pipe.execute_command("TIME")
    pipe.execute_command("MGET", *keys, **_RAW)
    (seconds, micros), values = raise_first(await pipe.execute(raise_on_error=False))
    return seconds + micros / 1_000_000, await _mark_wrong_types(client, keys, list(values))


async def _read_heartbeats_by_node(
    client: RedisClient, keys: list[bytes]
) -> tuple[float, list[bytes | None]]:
    answers = await pipeline_raw(client, [("TIME",), *(("GET", key) for key in keys)])
    seconds, micros = raise_first(answers[:1])[0]
    return int(seconds) + int(micros) / 1_000_000, heartbeat_values(answers[1:])


def heartbeat_values(answers: list[Any]) -> list[bytes | None]:
    """Pipelined ``GET`` replies of heartbeat keys. A ``WRONGTYPE`` error (the key holds
    a list, hash...) becomes a value that is not a number, so it is classified malformed,
    as requeue.lua does; any other error is raised."""
    values: list[bytes | None] = []
    for answer in answers:
        if isinstance(answer, ResponseError) and str(answer).startswith("WRONGTYPE"):
            values.append(_NOT_A_STRING)
        elif isinstance(answer, Exception):
            raise answer
        else:
            values.append(answer)
    return values


async def _mark_wrong_types(
    client: RedisClient, keys: list[bytes], values: list[bytes | None]
) -> list[bytes | None]:
    """MGET answers nil for a key of another type too; requeue.lua calls that malformed."""
    nil_at = [index for index, value in enumerate(values) if value is None]
    if not nil_at:
        return values
    pipe: Any = client.pipeline(transaction=False)
    for index in nil_at:
        pipe.exists(keys[index])
    answers = raise_first(await pipe.execute(raise_on_error=False))
    for index, exists in zip(nil_at, answers, strict=True):
        if exists:
            values[index] = _NOT_A_STRING
    return values


async def batches(
    scan_script: RawScript, key: str, scan_count: int, size: int
) -> AsyncIterator[list[bytes]]:
    """The set's ids in lists of exactly ``size`` (the last may be shorter)."""
    pending: list[bytes] = []
    async for ids in _walk(scan_script, key, scan_count):
        pending.extend(ids)
        while len(pending) >= size:
            yield pending[:size]
            del pending[:size]
    if pending:
        yield pending


async def _walk(scan_script: RawScript, key: str, count: int) -> AsyncIterator[list[bytes]]:
    """SSCAN steps. Every id present for the whole walk is returned at least once."""
    cursor = b"0"
    while True:
        cursor, lengths, joined = await scan_script(keys=[key], args=[b"ids", cursor, count])
        if joined or lengths:
            yield _split_ids(lengths, joined)
        if cursor == b"0":
            return


def _split_ids(lengths: bytes, joined: bytes) -> list[bytes]:
    """Cut scan.lua's concatenated ids at the given lengths."""
    ids: list[bytes] = []
    position = 0
    for length in map(int, lengths.split(b",")):
        ids.append(joined[position : position + length])
        position += length
    return ids


def raise_first(answers: list[Any]) -> list[Any]:
    """A pipeline's answers; its first error raised as Redis sent it (not wrapped)."""
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers


async def execute(client: RedisClient, *args: Any, **options: Any) -> Any:
    # redis-py's command methods are typed "Awaitable[T] | T" (sync and async share
    # them); the asyncio client always returns an awaitable.
    untyped: Any = client
    return await untyped.execute_command(*args, **options)
