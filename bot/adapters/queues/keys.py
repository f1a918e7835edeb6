"""Key names and where they live: heartbeat keys from the playbook's template, the
bot's own keys, and the Redis Cluster hash slot of each.

Redis Cluster puts a key in slot ``CRC16(k) mod 16384``, where ``k`` is the key's
hash tag (the text between its first ``{`` and the first ``}`` after it, when that is
not empty) or else the whole key (https://redis.io/docs/latest/operate/oss_and_stack/
reference/cluster-spec/#hash-tags). A script or a multi-key command may only use
keys of one slot; that decides whether a requeue can be one atomic script per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from uuid import UUID

from redis.crc import key_slot

from bot.domain.requeue import heartbeat_key_parts

#: The bot's own keys start with this (after a hash tag that places them).
OWN_PREFIX = "backlog-bot"


def slot_of(key: str | bytes) -> int:
    """The hash slot of ``key`` (0..16383), as Redis Cluster computes it."""
    return key_slot(key.encode("utf-8") if isinstance(key, str) else key)


class HeartbeatKeys:
    """Builds heartbeat key names (bytes) from a template like ``heartbeat:{job_id}``."""

    def __init__(self, template: str) -> None:
        prefix, suffix = heartbeat_key_parts(template)
        self.template = template
        self._prefix = prefix.encode("utf-8")
        self._suffix = suffix.encode("utf-8")
        # requeue.lua cuts each job id back out of its key with these.
        self.affixes = (self._prefix, self._suffix)

    def for_ids(self, ids: Sequence[bytes]) -> list[bytes]:
        prefix, suffix = self._prefix, self._suffix
        return [prefix + job_id + suffix for job_id in ids]

    @property
    def fixed_slot(self) -> int | None:
        """The one slot every heartbeat key is in, whatever the job id; None when the
        slot depends on the id (no complete hash tag before ``{job_id}``)."""
        start = self._prefix.find(b"{")
        if start < 0:
            return None
        end = self._prefix.find(b"}", start + 1)
        if end < 0 or end == start + 1:
            # The tag would end inside the id (or be empty: then the whole key counts).
            return None
        return slot_of(self._prefix)


def slot_anchor(key: str) -> str:
    """A hash tag (``{…}``) that puts any key starting with it in ``key``'s slot.

    The bot's own keys that must sit beside a playbook key (a batch marker beside its
    queue, for one script) start with it. Usually the key's own tag, or the key itself
    as the tag; a key whose name defeats that (a ``}`` in it) gets a searched tag.
    """
    return _anchor(key)


@cache
def _anchor(key: str) -> str:
    slot = slot_of(key)
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    tag = key[start + 1 : end] if start >= 0 and end > start + 1 else key
    if "}" not in tag and slot_of("{" + tag + "}") == slot:
        return "{" + tag + "}"
    # Every slot is the slot of some "{n}" with n below 110,000 (checked): at most
    # tens of milliseconds, once per key.
    number = 0
    while slot_of(f"{{{number}}}") != slot:
        number += 1
    return f"{{{number}}}"


def batch_marker(target_queue: str, batch_id: str) -> str:
    """The key that records whether a journaled batch was pushed onto ``target_queue``
    (``pushed``) or given up (``abandoned``); in the queue's slot, so one script can push
    the ids and set it together."""
    return f"{slot_anchor(target_queue)}:{OWN_PREFIX}:requeue-batch:{batch_id}"


@dataclass(frozen=True)
class DrainKeys:
    """The recovery keys of one emergency drain (issue 12).

    * ``snapshot`` (list): the drained queue's ids when the Job was about to start;
    * ``remaining`` (list), ``remaining_set`` (set) and ``held`` (set): the queue and the
      processing set as they were when the Job ended, while they are being counted
      (deleted once counted);
    * ``taken`` (list): the snapshot's ids the drain took, waiting for re-analysis;
    * ``state`` (hash): counts and cursors, so each step resumes without repeating.

    All sit in the slot of ``anchor`` (the queue the ids go back onto), so the scripts
    that count them and move them onto that queue each touch one slot.
    """

    snapshot: str
    remaining: str
    remaining_set: str
    held: str
    taken: str
    state: str


def drain_keys(request_id: UUID, anchor: str) -> DrainKeys:
    """The recovery keys of the drain ``request_id``, in ``anchor``'s hash slot."""
    base = f"{slot_anchor(anchor)}:{OWN_PREFIX}:drain:{request_id}"
    return DrainKeys(
        snapshot=f"{base}:snapshot",
        remaining=f"{base}:remaining",
        remaining_set=f"{base}:remaining-set",
        held=f"{base}:held",
        taken=f"{base}:taken",
        state=f"{base}:state",
    )
