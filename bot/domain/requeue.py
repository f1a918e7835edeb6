"""Stuck-job recovery, the pure part: what counts as stuck, tallies, progress.

The Redis adapter (``bot.adapters.queues.requeue``) walks the processing set and
moves ids; everything here takes plain values and a clock value, so it can be
unit-tested without a server.

Heartbeats are unix seconds written by the workers. A heartbeat is *valid* when
it is a plain decimal number (``1700000000`` or ``1700000000.25``, optionally
negative) of at most ``HEARTBEAT_MAX_LENGTH`` characters. The Lua scripts apply
the very same grammar (``requeue.lua``, ``scan.lua``); keeping it strict (no
exponents, hex, blanks or ``inf``) is what lets Python and Lua agree on every
value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.requeue_journal import RecoveryOutcome, RequeueMode, format_recovery
from bot.domain.text import code, codes, show_bytes

HEARTBEAT_MAX_LENGTH = 32
JOB_ID_PLACEHOLDER = "{job_id}"

_HEARTBEAT_RE = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?")


class HeartbeatState(StrEnum):
    """One id's heartbeat, as seen at one moment. Values match the Lua scripts' letters."""

    FRESH = "f"
    STALE = "s"
    MISSING = "m"
    MALFORMED = "x"

    @property
    def is_stuck(self) -> bool:
        return self in (HeartbeatState.STALE, HeartbeatState.MISSING)


@dataclass(frozen=True)
class Heartbeat:
    state: HeartbeatState
    # Seconds since the last heartbeat; only known for FRESH and STALE.
    age_seconds: float | None = None


def classify_heartbeat(raw: bytes | str | None, *, now: float, threshold: float) -> Heartbeat:
    """Classify a raw heartbeat value; ``now`` is Redis server time in seconds."""
    if raw is None:
        return Heartbeat(HeartbeatState.MISSING)
    value = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(value) > HEARTBEAT_MAX_LENGTH or not _HEARTBEAT_RE.fullmatch(value):
        return Heartbeat(HeartbeatState.MALFORMED)
    age = now - float(value)
    state = HeartbeatState.STALE if age > threshold else HeartbeatState.FRESH
    return Heartbeat(state, age)


def validate_threshold(older_than_seconds: float) -> float:
    if not math.isfinite(older_than_seconds) or older_than_seconds <= 0:
        raise ValueError(f"older_than_seconds must be a positive number, not {older_than_seconds}")
    return float(older_than_seconds)


def heartbeat_key_parts(template: str) -> tuple[str, str]:
    """Split ``"heartbeat:{job_id}"`` into the text before and after the id."""
    prefix, found, suffix = template.partition(JOB_ID_PLACEHOLDER)
    if not found or JOB_ID_PLACEHOLDER in suffix:
        raise ValueError(
            f"heartbeat key template must contain {JOB_ID_PLACEHOLDER} once: {template!r}"
        )
    if not prefix and not suffix:
        # The heartbeat key would be the job id itself: deleting it could hit any key.
        raise ValueError(f"heartbeat key template needs text around {JOB_ID_PLACEHOLDER}")
    return prefix, suffix


# --- the dry run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StuckScan:
    """What a dry run found in the processing set. Nothing was changed."""

    scanned: int
    stuck: int
    missing_heartbeat: int
    stale_heartbeat: int
    # A capped sample of ids whose heartbeat is not a number; they are never requeued.
    # Ids here and in ``sample_ids`` are display forms (``show_bytes``): printable, no
    # NUL, so they can be stored in PostgreSQL and shown; never written back to Redis.
    malformed: tuple[str, ...]
    malformed_count: int
    # Age of the oldest stale heartbeat; ids with no heartbeat have no age.
    oldest_age_seconds: float | None
    sample_ids: tuple[str, ...]
    threshold_seconds: float
    processing_set: str
    # How the requeue would move them (journaled: keys in different cluster slots).
    mode: RequeueMode = RequeueMode.ATOMIC


@dataclass
class StuckTally:
    """Accumulates a dry run, one id at a time (the adapter feeds it batch by batch)."""

    threshold_seconds: float
    processing_set: str
    sample_size: int = 5
    mode: RequeueMode = RequeueMode.ATOMIC
    scanned: int = 0
    missing: int = 0
    stale: int = 0
    malformed_count: int = 0
    oldest_age: float | None = None
    samples: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    def add(self, job_id: bytes | str, raw_heartbeat: bytes | str | None, now: float) -> None:
        self.scanned += 1
        heartbeat = classify_heartbeat(raw_heartbeat, now=now, threshold=self.threshold_seconds)
        if heartbeat.state is HeartbeatState.MALFORMED:
            self.malformed_count += 1
            self._sample(self.malformed, job_id)
            return
        if heartbeat.state is HeartbeatState.FRESH:
            return
        if heartbeat.state is HeartbeatState.MISSING:
            self.missing += 1
        else:
            self.stale += 1
            self._note_age(heartbeat.age_seconds)
        self._sample(self.samples, job_id)

    def result(self) -> StuckScan:
        return StuckScan(
            scanned=self.scanned,
            stuck=self.missing + self.stale,
            missing_heartbeat=self.missing,
            stale_heartbeat=self.stale,
            malformed=tuple(self.malformed),
            malformed_count=self.malformed_count,
            oldest_age_seconds=self.oldest_age,
            sample_ids=tuple(self.samples),
            threshold_seconds=self.threshold_seconds,
            processing_set=self.processing_set,
            mode=self.mode,
        )

    def _sample(self, into: list[str], job_id: bytes | str) -> None:
        if len(into) < self.sample_size:
            into.append(show_bytes(job_id))

    def _note_age(self, age: float | None) -> None:
        if age is not None and (self.oldest_age is None or age > self.oldest_age):
            self.oldest_age = age


# --- the requeue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch: what its atomic script (or journaled steps) did, and
    what it was not offered. ``taken_again`` and ``left_early`` are only counted by the
    journaled steps (see :class:`bot.domain.requeue_journal.Removal`); their ids are
    among ``moved``."""

    moved: int = 0
    skipped_renewed: int = 0
    skipped_gone: int = 0
    malformed: int = 0
    still_running: int = 0
    taken_again: int = 0
    left_early: int = 0


@dataclass(frozen=True)
class RequeueProgress:
    done: int  # ids examined so far
    total: int  # size of the processing set when the requeue started (at least ``done``)
    moved: int
    skipped_renewed: int
    malformed: int
    elapsed_seconds: float

    @property
    def rate_per_second(self) -> float:
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass(frozen=True)
class RequeueResult:
    """What a requeue did. Every id examined is counted in exactly one bucket.

    - ``moved``: taken out of the processing set and pushed onto ``target_queue``.
    - ``skipped_renewed``: looked stuck, but its heartbeat was fresh again when its batch's
      script ran: the worker came back. Left in the set.
    - ``skipped_gone``: looked stuck, but was no longer in the processing set when its
      batch's script ran: moved by a concurrent requeue (another replica), finished by its
      worker meanwhile, or listed twice by SSCAN. Never pushed twice.
    - ``malformed``: heartbeat is not a number (or its key is not a string); deliberately
      **not** requeued, a person should look. Left in the set, heartbeat untouched;
      ``malformed_sample`` names some of them.
    - ``still_running``: had a fresh heartbeat: a live job, never a candidate.

    A journaled requeue (``mode``; keys in different Redis Cluster slots) also counts,
    among ``moved``: ``taken_again`` (a worker heartbeated after the push: left in the
    set too, for that worker) and ``left_early`` (had left the set before the removal:
    may run twice); and ``recovered``, what finishing an interrupted run's batches did.
    """

    moved: int
    skipped_renewed: int
    skipped_gone: int
    malformed: int
    elapsed_seconds: float
    target_queue: str
    malformed_sample: tuple[str, ...] = ()  # display forms (``show_bytes``)
    examined: int = 0
    still_running: int = 0
    mode: RequeueMode = RequeueMode.ATOMIC
    taken_again: int = 0
    left_early: int = 0
    recovered: RecoveryOutcome = field(default_factory=RecoveryOutcome)


@dataclass
class RequeueTally:
    target_queue: str
    sample_size: int = 5
    mode: RequeueMode = RequeueMode.ATOMIC
    examined: int = 0
    moved: int = 0
    skipped_renewed: int = 0
    skipped_gone: int = 0
    malformed: int = 0
    still_running: int = 0
    taken_again: int = 0
    left_early: int = 0
    recovered: RecoveryOutcome = field(default_factory=RecoveryOutcome)
    malformed_sample: list[str] = field(default_factory=list)

    def add(self, examined: int, outcome: BatchOutcome) -> None:
        self.examined += examined
        self.moved += outcome.moved
        self.skipped_renewed += outcome.skipped_renewed
        self.skipped_gone += outcome.skipped_gone
        self.malformed += outcome.malformed
        self.still_running += outcome.still_running
        self.taken_again += outcome.taken_again
        self.left_early += outcome.left_early

    def note_malformed(self, job_id: bytes | str) -> None:
        if len(self.malformed_sample) < self.sample_size:
            self.malformed_sample.append(show_bytes(job_id))

    def progress(self, total: int, elapsed_seconds: float) -> RequeueProgress:
        return RequeueProgress(
            done=self.examined,
            total=max(total, self.examined),
            moved=self.moved,
            skipped_renewed=self.skipped_renewed,
            malformed=self.malformed,
            elapsed_seconds=elapsed_seconds,
        )

    def result(self, elapsed_seconds: float) -> RequeueResult:
        return RequeueResult(
            moved=self.moved,
            skipped_renewed=self.skipped_renewed,
            skipped_gone=self.skipped_gone,
            malformed=self.malformed,
            elapsed_seconds=elapsed_seconds,
            target_queue=self.target_queue,
            malformed_sample=tuple(self.malformed_sample),
            examined=self.examined,
            still_running=self.still_running,
            mode=self.mode,
            taken_again=self.taken_again,
            left_early=self.left_early,
            recovered=self.recovered,
        )


# --- progress reporting --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressThrottle:
    """Decides when a progress update may be published (e.g. a Slack ``chat.update``).

    At most one update per ``min_interval_seconds`` (1.2 s keeps ``chat.update``, Tier 3,
    under its rate limit), except the final one, which is always published so the message
    never ends on a stale number. Immutable: ``published`` returns the next throttle.
    """

    min_interval_seconds: float
    last_published_at: float | None = None

    def due(self, now: float, *, final: bool = False) -> bool:
        if final or self.last_published_at is None:
            return True
        return now - self.last_published_at >= self.min_interval_seconds

    def published(self, now: float) -> ProgressThrottle:
        return ProgressThrottle(self.min_interval_seconds, now)


def format_progress(progress: RequeueProgress) -> str:
    """``"12,000 / 50,000 (24%) · 8,100 ids/s"``."""
    total = max(progress.total, progress.done)
    # Rounded down so 100% is only shown when everything was examined.
    percent = 100 if total == 0 else progress.done * 100 // total
    return f"{progress.done:,} / {total:,} ({percent}%) · {progress.rate_per_second:,.0f} ids/s"


def format_requeue_result(result: RequeueResult) -> str:
    """The closing line of a requeue (mrkdwn): moved, skipped (renewed), malformed, elapsed."""
    parts = [
        f"moved {result.moved:,} onto {code(result.target_queue)}",
        f"{result.skipped_renewed:,} skipped (heartbeat renewed since the scan)",
    ]
    malformed = f"{result.malformed:,} malformed"
    if result.malformed:
        malformed += f", left alone ({codes(result.malformed_sample)})"
    parts.append(malformed)
    if result.skipped_gone:
        parts.append(f"{result.skipped_gone:,} already gone (finished or moved elsewhere)")
    if result.mode is RequeueMode.JOURNALED:
        parts += _journaled_parts(result)
    parts.append(f"in {result.elapsed_seconds:.1f}s")
    return "; ".join(parts)


def _journaled_parts(result: RequeueResult) -> list[str]:
    parts = ["journaled (the keys are in different Redis Cluster hash slots)"]
    if result.taken_again:
        parts.append(
            f"{result.taken_again:,} of them also left in the set (a worker heartbeated "
            "after the push: it holds them)"
        )
    if result.left_early:
        parts.append(
            f"{result.left_early:,} of them had left the set before the removal (finished "
            "by a worker meanwhile: they may run twice)"
        )
    recovery = format_recovery(result.recovered)
    if recovery:
        parts.append(recovery)
    return parts
