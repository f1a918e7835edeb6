"""The atomic requeue: one ``requeue.lua`` per batch, when every key shares a slot.

That is always so on a single Redis server, and on a Redis Cluster when the
processing set, the heartbeat keys and the target queue share one hash tag. Each
batch's heartbeats are classified first (read-only, ``scan.lua``), and the ids that
look stuck go to one ``EVALSHA`` of ``requeue.lua``, which reads their heartbeats
again, ``SREM``s each still-stuck id and only when that removed it deletes the
heartbeat and ``LPUSH``es the id: an id is always in the set or in a queue, never
both, never neither, and is pushed at most once however many requeues (or bot
replicas, or client retries) run at once.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.queues.raw import RawScript
from bot.adapters.queues.run import RequeueRun
from bot.adapters.queues.scripts import REQUEUE_LUA
from bot.domain.requeue import BatchOutcome, HeartbeatState

_STUCK = frozenset({HeartbeatState.STALE.value, HeartbeatState.MISSING.value})


class AtomicRequeue(RequeueRun):
    """Moves each batch with one script run; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # repr() round-trips a float exactly; Lua's tonumber reads it back bit for bit.
        self._threshold_arg = repr(self._threshold)
        self._requeue_script = RawScript(self._client, REQUEUE_LUA)

    async def batch(self, ids: list[bytes]) -> None:
        heartbeat_keys = self._keys.for_ids(ids)
        reply = await self.scan_script(
            keys=heartbeat_keys, args=[b"heartbeats", self._threshold_arg]
        )
        states: str = reply.decode("ascii")
        candidates = self._candidates(ids, heartbeat_keys, states)
        outcome = BatchOutcome(
            malformed=states.count(HeartbeatState.MALFORMED),
            still_running=states.count(HeartbeatState.FRESH),
        )
        if candidates:
            outcome = self._add(outcome, await self._requeue(candidates))
        self._tally.add(len(ids), outcome)

    def _candidates(self, ids: list[bytes], keys: list[bytes], states: str) -> list[bytes]:
        """The heartbeat keys of ids that look stuck; malformed ones are noted, never sent."""
        if len(states) != len(ids):
            raise RuntimeError(f"scan.lua classified {len(states)} heartbeats for {len(ids)} ids")
        candidates: list[bytes] = []
        for job_id, key, state in zip(ids, keys, states, strict=True):
            if state in _STUCK:
                candidates.append(key)
            elif state == HeartbeatState.MALFORMED:
                self._tally.note_malformed(job_id)
        return candidates

    async def _requeue(self, heartbeat_keys: list[bytes]) -> list[Any]:
        keys: list[str | bytes] = [self._processing_set, self._target_queue]
        keys += heartbeat_keys
        # Until the reply arrives this batch may or may not have run (never half).
        # Re-running it (redis-py retries after a timeout) is harmless: ids it moved
        # are no longer in the set, so the second run counts them as gone.
        self._in_flight = len(heartbeat_keys)
        args = (self._threshold_arg, *self._keys.affixes)
        reply: list[Any] = await self._requeue_script(keys=keys, args=args)
        self._in_flight = 0
        return reply

    def _add(self, outcome: BatchOutcome, reply: list[Any]) -> BatchOutcome:
        """Fold requeue.lua's ``{moved, renewed, gone, malformed, malformed ids...}`` in."""
        moved, renewed, gone, malformed = (int(count) for count in reply[:4])
        for job_id in reply[4:]:
            self._tally.note_malformed(job_id)
        return BatchOutcome(
            moved=moved,
            skipped_renewed=renewed,
            skipped_gone=gone,
            malformed=outcome.malformed + malformed,
            still_running=outcome.still_running,
        )
