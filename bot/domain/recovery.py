"""An emergency drain without losing the analysis: what the drain took, and putting
those emails back for the full analysis they skipped.

The runbook's drain Job processes emails "with minimal analysis"
(``SKIP_DETAILED_ANALYSIS=true``). Before the Job starts, the bot copies the ids
waiting in the drained queue (the snapshot). When the Job ends it sorts each
snapshotted id:

* **taken**: no longer in the queue nor in the processing set: processed while the
  drain ran. The regular workers take from the same queue meanwhile and nothing in
  Redis says who took an id, so some of these had the full analysis already;
  analysing them again is harmless, missing one the drain skimmed is not;
* **left**: still in the queue: the drain never took it, it will be analysed fully by
  the workers, and it is never pushed again;
* **in flight**: in the processing set (a worker has it now, or the drain stopped
  while it held it: a requeue puts it back): also never pushed again.

Once the backlog is over, **Re-analyse** (an approved action) pushes the taken ids
onto the playbook's ``emergency_drain.recovery.reanalyse_to`` queue, in batches of
``batch_size`` and at most ``max_per_minute`` a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from bot.domain.actions import ActionPlan, ActionRefused
from bot.domain.models import ActionRequest
from bot.domain.playbook import ActionKind, Playbook
from bot.domain.report import format_duration


class RecoveryState(StrEnum):
    SNAPSHOTTED = "snapshotted"  # the drain is running (or stopped before it was counted)
    COUNTED = "counted"  # the drain ended; taken ids are known
    OFFERED = "offered"  # the backlog is over: Re-analyse is on offer
    REANALYSED = "reanalysed"  # every taken id went back for full analysis
    EXPIRED = "expired"  # the recovery key's TTL is over


@dataclass(frozen=True)
class DrainCount:
    """How the snapshot's ids were sorted when the drain ended (entries, not distinct
    ids: a queue may hold an id twice)."""

    snapshotted: int
    taken: int
    left: int
    in_flight: int


@dataclass(frozen=True)
class Recovery:
    """A drain's recovery record (PostgreSQL), with what has been pushed back so far."""

    request_id: UUID
    incident_id: int | None
    job: str
    queue: str
    snapshotted: int
    expires_at: datetime
    state: RecoveryState
    count: DrainCount | None = None
    pushed: int = 0
    channel: str = ""
    succeeded: bool | None = None


def anchor_queue(playbook: Playbook) -> str:
    """The queue a drain's recovery list is kept beside (for a Redis Cluster: in its
    slot): the queue its ids go back onto, else the drained queue."""
    return playbook.emergency_drain.recovery.reanalyse_to or playbook.drain_queue


def snapshot_text(job: str, queue: str, snapshotted: int, ttl: timedelta) -> str:
    return (
        f":camera_with_flash: Before starting `{job}`, the bot copied the {snapshotted:,} ids "
        f"waiting in `{queue}` (kept {format_duration(ttl)}), to count what the drain takes."
    )


def count_text(job: str, queue: str, count: DrainCount, succeeded: bool) -> str:
    """The drain's outcome in the thread: processed vs snapshotted."""
    ended = "finished" if succeeded else "stopped (the Job failed)"
    lines = [
        f":bar_chart: *Drain {ended}: it processed {count.taken:,} of the {count.snapshotted:,} "
        f"emails snapshotted before it started* (with minimal analysis).",
    ]
    if count.left:
        lines.append(
            f"{count.left:,} are still in `{queue}`: the drain never took them; the workers "
            "will analyse them fully."
        )
    if count.in_flight:
        lines.append(
            f"{count.in_flight:,} are in the processing set (being worked on, or held by the "
            "drain when it stopped: `/backlog requeue` puts stuck ones back); not re-analysed."
        )
    return "\n".join(lines)


def backlog_over(depth: int | None, threshold: int | None, incident_open: bool) -> bool:
    """The backlog is over when the incident is resolved, or the drained queue is back
    under its alert line (with no alert line: empty)."""
    if not incident_open:
        return True
    if depth is None:
        return False
    return depth <= (threshold or 0)


def reanalyse_minutes(count: int, max_per_minute: int) -> float:
    return count / max_per_minute


def plan_reanalysis(
    playbook: Playbook,
    drain: ActionRequest,
    recovery: Recovery,
    waiting: int | None,
    now: datetime,
) -> ActionPlan:
    """The approval request that pushes what the drain took back for full analysis, or
    :class:`ActionRefused` saying why not (nowhere to push, not counted, nothing taken,
    expired, all pushed already, the backlog not over yet). ``waiting`` is how many
    taken ids are still in Redis (None: the recovery keys are gone)."""
    settings = playbook.emergency_drain.recovery
    target = settings.reanalyse_to
    if target is None:
        raise ActionRefused(
            "The playbook names no analysis queue (`emergency_drain.recovery.reanalyse_to`), "
            "so there is nowhere to send the drained emails."
        )
    expired = waiting is None and recovery.state is not RecoveryState.SNAPSHOTTED
    if expired or recovery.state is RecoveryState.EXPIRED or now >= recovery.expires_at:
        raise ActionRefused(
            f"The drain's recovery list expired at {recovery.expires_at:%Y-%m-%d %H:%M} UTC "
            "(the playbook's `emergency_drain.recovery.ttl`); nothing can be re-analysed."
        )
    count = recovery.count
    if recovery.state is RecoveryState.SNAPSHOTTED or count is None:
        raise ActionRefused(
            "The drain's outcome was never counted (the bot stopped while the drain ran), so "
            "it cannot tell which emails the drain took."
        )
    remaining = waiting or 0
    if remaining <= 0:
        done = "the drain took no email" if count.taken == 0 else "every email went back already"
        raise ActionRefused(f"Nothing to re-analyse: {done}.")
    if recovery.state is RecoveryState.COUNTED:
        raise ActionRefused(
            "The backlog is not over yet: re-analysing now would add to it. Re-analyse works "
            f"once `{recovery.queue}` is back under its alert line or the incident is resolved."
        )
    minutes = reanalyse_minutes(remaining, settings.max_per_minute)
    params: dict[str, Any] = {
        "drain": str(drain.id),
        "once": f"reanalyse:{drain.id}",
        "job": recovery.job,
        "target_queue": target,
        "count": remaining,
        "batch_size": settings.batch_size,
        "max_per_minute": settings.max_per_minute,
    }
    return ActionPlan(
        kind=ActionKind.REANALYSE,
        params=params,
        summary=(
            f"Re-analyse the {remaining:,} emails the emergency drain `{recovery.job}` processed "
            f"with minimal analysis: push them onto `{target}`"
        ),
        details=(
            f"{settings.batch_size:,} at a time, at most {settings.max_per_minute:,} a minute "
            f"(about {format_duration(timedelta(minutes=math.ceil(minutes)))}), so the "
            "re-analysis does not cause the next backlog. Each batch moves atomically; a "
            "stop half-way resumes without pushing an email twice.",
        ),
    )


def progress_text(pushed: int, total: int, target: str) -> str:
    return f":recycle: Re-analysis: {pushed:,} of {total:,} emails pushed onto `{target}`"
