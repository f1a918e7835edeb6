"""After ``WRONGTYPE``: which of the playbook's keys holds the wrong kind of value."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.client import NEVER_DECODE

from bot.adapters.queues.cluster import RedisClient
from bot.domain.text import code, show_bytes

log = logging.getLogger(__name__)

#: What a playbook key must hold, as Redis's ``TYPE`` names it.
KeyKind = str  # "list" | "set" | "string"

_RAW: dict[str, Any] = {NEVER_DECODE: True}
_KINDS = {
    "string": "a string",
    "list": "a list",
    "set": "a set",
    "zset": "a sorted set",
    "hash": "a hash",
    "stream": "a stream",
}


async def wrong_types(client: RedisClient, expected: Mapping[str, KeyKind]) -> str:
    """``"`k` holds a string, not a list"`` for each key whose type is wrong; "" if none
    is (or the types cannot be read)."""
    keys = list(expected)
    try:
        pipe: Any = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("TYPE", key, **_RAW)
        types = await pipe.execute()
    except Exception:  # the original error is reported, just without the key's name
        log.warning("could not read key types after WRONGTYPE", exc_info=True)
        return ""
    wrong = []
    for key, raw in zip(keys, types, strict=True):
        held = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        want = expected[key]
        if held not in (want, "none"):
            wrong.append(f"{code(show_bytes(key))} holds {_kind(held)}, not {_kind(want)}")
    return "; ".join(wrong)


def _kind(type_name: str) -> str:
    return _KINDS.get(type_name) or f"a value of type {code(show_bytes(type_name))}"
