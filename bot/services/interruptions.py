"""Actions cut off mid-run: found, failed (never re-run) and said with what is known.

An action is ``executing`` only while some process holds its lease
(bot/adapters/store/leases.py). One left ``executing`` without a lease belonged to a
process that died; a shutdown whose grace period ran out cancels its own. Either
way the request fails as *interrupted*, its message loses its buttons and says what
is known (a requeue's progress so far; a journaled requeue's unfinished batches are
settled first), and a person decides what next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.journaled import recover_requeue
from bot.adapters.store import Store
from bot.adapters.store.leases import ActionLeases
from bot.domain.errors import BotError
from bot.domain.models import ActionRequest, Clock, EventKind
from bot.domain.playbook import ActionKind, Playbook
from bot.services.action_records import ActionRecords
from bot.services.messages import Messages


class Interruptions:
    def __init__(
        self,
        *,
        store: Store,
        redis: RedisClient,
        leases: ActionLeases,
        messages: Messages,
        records: ActionRecords,
        playbook: Playbook,
        clock: Clock,
    ) -> None:
        self._store = store
        self._redis = redis
        self._leases = leases
        self._messages = messages
        self._records = records
        self._playbook = playbook
        self._clock = clock

    async def recover(self) -> int:
        """Reports actions left ``executing`` by a process that died (no one holds their
        lease): known within seconds of the next start. Returns how many."""
        count = 0
        for request in await self._store.executing_actions():
            if await self._leases.is_running(request.id):
                continue
            count += await self.report(request)
        return count

    async def report(
        self, request: ActionRequest, details: Mapping[str, Any] | None = None
    ) -> bool:
        """Fails an ``executing`` request as interrupted and says what is known of it;
        False when it was not executing any more."""
        settled = await self._settle_journaled_batches(request)
        async with self._store.transaction() as tx:
            interrupted = await tx.mark_interrupted(request.id, self._clock())
            if interrupted is None:
                return False
            known = what_is_known(interrupted) + settled
            await self._records.event(
                tx, interrupted, EventKind.ACTION_FAILED, None, f"Interrupted: {known}"
            )
            details = {**interrupted.progress, **(details or {})}
            await self._records.audit(tx, interrupted, "backlog-bot", "interrupted", details)
            await self._messages.approval_changed(
                tx, interrupted, self._playbook.policy(interrupted.kind), known
            )
            await self._messages.outcome(tx, interrupted, f":warning: {known}")
        return True

    async def _settle_journaled_batches(self, request: ActionRequest) -> str:
        """A journaled requeue (Redis Cluster, keys in different slots) cut off mid-batch
        leaves journal rows: finish or abandon them now rather than at the next requeue,
        and say what that did."""
        if request.kind is not ActionKind.REQUEUE or request.params.get("mode") != "journaled":
            return ""
        try:
            outcome = await recover_requeue(
                self._redis, self._store, str(request.params["processing_set"])
            )
        except BotError as exc:
            return (
                f" Its unfinished batches could not be settled now ({exc}); the next "
                "requeue settles them first."
            )
        return (
            f" Of its unfinished batches, {outcome.finished} were completed and "
            f"{outcome.abandoned} abandoned ({outcome.abandoned_ids:,} ids left in the set, "
            "to be moved by the next requeue)."
        )


def what_is_known(request: ActionRequest) -> str:
    """What an interrupted action is known to have done, and what a person should do."""
    progress = request.progress
    if request.kind is ActionKind.REQUEUE and progress:
        moved = int(progress.get("moved", 0))
        examined, total = int(progress.get("examined", 0)), int(progress.get("total", 0))
        return (
            f"{request.summary} was interrupted (the bot stopped while it ran) after moving "
            f"{moved:,} stuck job(s) ({examined:,} of {total:,} examined). The rest are still "
            "in the processing set, untouched: ask again with `/backlog requeue` to move them."
        )
    return (
        f"{request.summary} was interrupted (the bot stopped while it ran). It will not be "
        "re-run: check its effect (e.g. `/backlog status`) before asking again."
    )
