"""What every requeue run shares, atomic or journaled: the tally, progress, the
sentence it stops with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.errors import RedisFailure, RedisFault
from bot.adapters.queues.keys import HeartbeatKeys
from bot.adapters.queues.raw import RawScript
from bot.adapters.queues.scripts import SCAN_LUA
from bot.domain.requeue import RequeueProgress, RequeueResult, RequeueTally
from bot.domain.requeue_journal import RequeueMode
from bot.domain.text import code


class RedisUnavailable(RedisFailure):
    """A scan or requeue stopped on a Redis failure (any kind: not answering, a wrong
    key type, a read-only replica...). ``str()`` is fit to show a user: what Redis
    said, then what had been done.

    ``partial`` is what a requeue had done, confirmed, before it stopped; batches are
    atomic, so an unconfirmed batch (no reply came) either fully ran or did not run at
    all, and up to ``unconfirmed`` more ids may have moved. Either way every id is in
    the processing set or the queue (a journaled requeue's interrupted batch may leave
    some in both until the next requeue finishes it).
    """

    def __init__(
        self,
        message: str,
        *,
        fault: RedisFault,
        partial: RequeueResult | None = None,
        unconfirmed: int = 0,
    ) -> None:
        super().__init__(message, fault=fault)
        self.partial = partial
        self.unconfirmed = unconfirmed


class RequeueRun:
    """One requeue run: the tally, the in-flight count, the error wrapping. Subclasses
    move one batch of ids (:meth:`batch`)."""

    mode = RequeueMode.ATOMIC

    def __init__(
        self,
        client: RedisClient,
        *,
        processing_set: str,
        keys: HeartbeatKeys,
        target_queue: str,
        threshold: float,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._processing_set = processing_set
        self._target_queue = target_queue
        self._keys = keys
        self._threshold = threshold
        self._clock = clock
        self._started = clock()
        self._tally = RequeueTally(target_queue, mode=self.mode)
        # Ids of a batch whose move was sent and not yet confirmed.
        self._in_flight = 0
        self.scan_script = RawScript(client, SCAN_LUA)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Held around the whole run (the journaled run locks and recovers here)."""
        yield

    async def batch(self, ids: list[bytes]) -> None:
        raise NotImplementedError

    def progress(self, total: int) -> RequeueProgress:
        return self._tally.progress(total, self._clock() - self._started)

    def result(self) -> RequeueResult:
        return self._tally.result(self._clock() - self._started)

    def unavailable(self, failure: RedisFailure) -> RedisUnavailable:
        partial = self.result()
        # Only when no reply came may the batch in flight have run; an error reply
        # means the script stopped before its first write (the scripts check first).
        unconfirmed = self._in_flight if failure.fault.unreachable else 0
        message = (
            f"{failure} The requeue stopped after moving {partial.moved:,} ids to "
            f"{code(partial.target_queue)}.{self._in_flight_words(unconfirmed)} No job was "
            f"lost: {self._where()} Run the requeue again {_again(failure)}."
        )
        return RedisUnavailable(
            message, fault=failure.fault, partial=partial, unconfirmed=unconfirmed
        )

    def _in_flight_words(self, unconfirmed: int) -> str:
        if not unconfirmed:
            return ""
        return f" The last batch of {unconfirmed:,} ids may or may not have moved (it is atomic)."

    def _where(self) -> str:
        return "every id is still in the processing set or in the queue."


def _again(failure: RedisFailure) -> str:
    if failure.fault is RedisFault.REQUEUE_RUNNING:
        return "when that one has finished"
    return "when Redis is back" if failure.fault.unreachable else "once that is fixed"
