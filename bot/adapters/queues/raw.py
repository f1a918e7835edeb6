"""Byte-exact Redis calls for the stuck-job scan and requeue.

Job ids are opaque bytes: every reply here is read undecoded, whatever the client's
``decode_responses``, so an id goes back to Redis exactly as it came. Pipeline errors
are raised as Redis sent them (not wrapped in redis-py's "Command # n of pipeline"),
so :mod:`bot.adapters.queues.errors` can name them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.client import NEVER_DECODE
from redis.exceptions import NoScriptError

# Read replies as bytes: job ids are opaque and must be written back byte for byte.
_RAW: dict[str, Any] = {NEVER_DECODE: True}
# Stands in for a heartbeat key holding a list, hash...: not a number, so malformed.
_NOT_A_STRING = b"<not a string>"


class RawScript:
    """A registered script whose reply is read as raw bytes.

    ``register_script``'s callable decodes replies with the client's settings; job ids
    are opaque bytes and must come back unchanged whatever ``decode_responses`` is.
    """

    def __init__(self, client: aioredis.Redis, text: str) -> None:
        self._client = client
        self._script = client.register_script(text)

    async def __call__(self, *, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        command = ("EVALSHA", self._script.sha, len(keys), *keys, *args)
        try:
            return await execute(self._client, *command, **_RAW)
        except NoScriptError:
            # A restarted or failed-over Redis forgot it: load it and try once more.
            await execute(self._client, "SCRIPT LOAD", self._script.script)
            return await execute(self._client, *command, **_RAW)


async def read_heartbeats(
    client: aioredis.Redis, keys: list[bytes]
) -> tuple[float, list[bytes | None]]:
    """Redis server time and the raw heartbeats, in one round trip (plus one if any is nil)."""
    pipe: Any = client.pipeline(transaction=False)
    pipe.execute_command("TIME")
    pipe.execute_command("MGET", *keys, **_RAW)
    (seconds, micros), values = raise_first(await pipe.execute(raise_on_error=False))
    return seconds + micros / 1_000_000, await _mark_wrong_types(client, keys, list(values))


async def _mark_wrong_types(
    client: aioredis.Redis, keys: list[bytes], values: list[bytes | None]
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


async def execute(client: aioredis.Redis, *args: Any, **options: Any) -> Any:
    # redis-py's command methods are typed "Awaitable[T] | T" (sync and async share
    # them); the asyncio client always returns an awaitable.
    untyped: Any = client
    return await untyped.execute_command(*args, **options)
