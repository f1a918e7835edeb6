"""The journaled requeue, the pure part: its records and what it promises, in words.

When the processing set, the heartbeat keys and the target queue cannot share one
Redis Cluster hash slot, no script can move an id atomically. The Redis adapter
(``bot.adapters.queues.journaled``) then moves each batch in steps, journaled in
PostgreSQL, pushing onto the queue *before* removing from the set. Nothing is lost,
but a job can run twice; :func:`journaled_guarantee` says when, for the approval
request. The full analysis is in ``docs/redis-cluster.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from bot.domain.text import code, codes


class RequeueMode(StrEnum):
    """How a requeue moves ids: one atomic script per batch, or the journaled steps."""

    ATOMIC = "atomic"
    JOURNALED = "journaled"


class MarkerState(StrEnum):
    """What a batch's marker key (beside the queue) says; set once, never changed."""

    PUSHED = "pushed"
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class JournaledBatch:
    """One batch of the journaled requeue, as committed before its ids are pushed.

    ``job_ids`` are raw ids (bytes, written back to Redis byte for byte) whose heartbeat
    the bot has claimed (deleted while still stale or missing); ``marker_key`` is the
    key, in the queue's slot, that the push sets together with the ``LPUSH``.
    """

    id: UUID
    run_id: UUID
    processing_set: str
    target_queue: str
    heartbeat_key: str
    marker_key: str
    job_ids: tuple[bytes, ...]


@dataclass(frozen=True)
class Removal:
    """What the removal step found for a pushed batch's ids (each counted once).

    - ``removed``: taken out of the processing set (now only in the queue).
    - ``taken_again``: had a heartbeat again, so a worker holds it: left in the set (it is
      also in the queue until a worker pops it).
    - ``left_early``: no longer in the set when the bot removed it: its worker finished it
      after the scan (then the queued copy runs it a second time), or a worker already
      popped the pushed copy and finished it. An upper bound on jobs that run twice.
    """

    removed: int = 0
    taken_again: int = 0
    left_early: int = 0

    def __add__(self, other: Removal) -> Removal:
        return Removal(
            self.removed + other.removed,
            self.taken_again + other.taken_again,
            self.left_early + other.left_early,
        )


@dataclass(frozen=True)
class RecoveryOutcome:
    """What finishing the batches of an interrupted journaled requeue did.

    ``finished`` batches had been pushed: their ids were removed from the set as a
    normal batch's are (``removal``). ``abandoned`` batches had not been pushed and now
    never will be (their marker says so); their ``abandoned_ids`` stay in the set,
    without a heartbeat, and the requeue that follows moves them.
    """

    finished: int = 0
    abandoned: int = 0
    abandoned_ids: int = 0
    removal: Removal = Removal()

    @property
    def batches(self) -> int:
        return self.finished + self.abandoned


def format_recovery(outcome: RecoveryOutcome) -> str:
    """``"finished 2 batches an interrupted requeue had left: …"`` (mrkdwn), or "" if none."""
    if not outcome.batches:
        return ""
    parts = []
    if outcome.finished:
        parts.append(
            f"{outcome.removal.removed:,} ids it had pushed taken out of the set "
            f"({outcome.finished:,} batches)"
        )
    if outcome.abandoned:
        parts.append(
            f"{outcome.abandoned_ids:,} ids it had not pushed left in the set "
            f"({outcome.abandoned:,} batches)"
        )
    return "first finished an interrupted requeue: " + ", ".join(parts)


def hash_tagged(names: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """The names with one hash tag in front (``{phishnet}:processing_jobs``), so they
    share a slot; a name that already starts with a tag gets ``tag`` instead."""
    tagged = []
    for name in names:
        if name.startswith("{") and "}" in name[2:] and not name.startswith("{job_id}"):
            name = name[name.index("}", 2) + 1 :].lstrip(":")
        tagged.append(f"{{{tag}}}:{name}")
    return tuple(tagged)


def journaled_guarantee(
    processing_set: str, heartbeat_key: str, target_queue: str, *, tag: str
) -> tuple[str, ...]:
    """The approval request's lines (mrkdwn) for a requeue that cannot be atomic:
    what the bot does, what it promises, when a job may run twice, and the fix.

    ``tag`` is the suggested hash tag (the playbook's namespace, e.g. ``phishnet``). The
    analysis behind each sentence is in ``docs/redis-cluster.md``.
    """
    keys = (processing_set, heartbeat_key, target_queue)
    return (
        f":warning: Not atomic: {codes(list(keys))} are in different Redis Cluster hash "
        "slots, so no single script can move an id. The bot journals each batch in its "
        f"database, pushes the ids onto {code(target_queue)} *before* taking them out of "
        f"{code(processing_set)}, and finishes or abandons any batch a crash interrupted: "
        "no id is lost, though an id may briefly be in both places.",
        "A job may run twice if its worker, thought stuck, heartbeats again or finishes it "
        "in the few milliseconds its batch takes to move (the bot reports how many it "
        "saw). On a nearly empty queue, a worker that takes a pushed id in the millisecond "
        "before it leaves the set runs it outside the set: if that worker dies too, "
        "nothing requeues it.",
        "To make the requeue atomic again, give the three keys one hash tag: "
        f"{codes(list(hash_tagged(keys, tag)))}.",
    )
