"""What the escalation triggers measure: where the playbook says to read it, and what
was read.

The runbook escalates when "critical business emails are delayed beyond SLA (>30
minutes)" and when "external API services are completely unavailable". Neither is a
queue depth, so the playbook says how to measure them:

- ``job_age`` on a queue: where the enqueue time of its oldest waiting job is kept —
  the job at the list's oldest end holds it in a JSON field (``list_head``), a sorted
  set scores job ids by enqueue time (``sorted_set``), or a PromQL query returns the
  age in seconds (``prometheus``);
- ``vendors`` on an ``external_api_unavailable`` trigger: which log lines of which
  deployment are calls to a vendor, and which of those are failures.

The readings (:class:`JobAgeReading`, :class:`VendorObservation`, :class:`FiringAlert`)
are plain values the monitor stores with its samples and the escalation schedule
(:mod:`bot.domain.escalation`) reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.domain.durations import Duration
from bot.domain.text import code, show_bytes

if TYPE_CHECKING:
    from bot.domain.playbook import EscalationTrigger

# Unix times in milliseconds pass this many seconds; in seconds they will not before 5138.
_MILLISECONDS_FROM = 1e11


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from exc
    return value


Regex = Annotated[str, AfterValidator(_regex)]


class TimestampFormat(StrEnum):
    """How an enqueue time is written."""

    UNIX_SECONDS = "unix_seconds"  # 1795856400 or 1795856400.25
    UNIX_MILLISECONDS = "unix_milliseconds"  # 1795856400250 (JavaScript's Date.now())
    ISO8601 = "iso8601"  # "2026-11-28T09:00:00Z"; without an offset it is taken as UTC


class ListEnd(StrEnum):
    """Which end of a Redis list holds its oldest job."""

    RIGHT = "right"  # producers LPUSH, workers (B)RPOP: the oldest is LINDEX -1
    LEFT = "left"  # producers RPUSH, workers (B)LPOP: the oldest is LINDEX 0

    @property
    def lindex(self) -> int:
        return -1 if self is ListEnd.RIGHT else 0


class ListHeadAge(_Model):
    """Each job in the list is a JSON object holding its enqueue time in ``field`` (a
    dotted path for nested objects, e.g. ``meta.enqueued_at``); the oldest job is read
    with one ``LINDEX`` at ``oldest_end``."""

    source: Literal["list_head"]
    field: str = Field(pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    oldest_end: ListEnd = ListEnd.RIGHT
    format: TimestampFormat = TimestampFormat.UNIX_SECONDS


class SortedSetAge(_Model):
    """A sorted set whose scores are the enqueue times of the waiting jobs (the producer
    ``ZADD``s, the worker ``ZREM``s); the oldest is ``ZRANGE key 0 0 WITHSCORES``."""

    source: Literal["sorted_set"]
    key: str = Field(min_length=1, max_length=512)
    format: Literal[TimestampFormat.UNIX_SECONDS, TimestampFormat.UNIX_MILLISECONDS] = (
        TimestampFormat.UNIX_SECONDS
    )


class PrometheusAge(_Model):
    """A PromQL instant query (Prometheus HTTP API ``/api/v1/query``) whose value is the
    age of the oldest waiting job in seconds, e.g.
    ``time() - min(phishnet_email_oldest_enqueued_timestamp_seconds)``. ``url`` is the
    server's base URL (``http://prometheus:9090``)."""

    source: Literal["prometheus"]
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    query: str = Field(min_length=1)
    timeout: Duration = timedelta(seconds=5)


JobAgeSource = Annotated[ListHeadAge | SortedSetAge | PrometheusAge, Field(discriminator="source")]


class Vendor(_Model):
    """An external API the workers call: lines of ``deployment``'s logs matching
    ``calls`` are calls to it, and those also matching ``failures`` failed."""

    name: str = Field(min_length=1)
    deployment: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    calls: Regex
    failures: Regex


# ---- what was read -------------------------------------------------------------


@dataclass(frozen=True)
class JobAgeReading:
    """The age of ``queue``'s oldest waiting job at ``at``: ``age`` None with no error
    means the queue was empty; ``error`` is a sentence saying why it could not be read."""

    queue: str
    at: datetime
    age: timedelta | None
    error: str | None = None


@dataclass(frozen=True)
class VendorObservation:
    """One look at a vendor's calls in the workers' logs (see :func:`count_calls`)."""

    vendor: str
    at: datetime
    calls: int
    failures: int
    error: str | None = None

    @property
    def all_failing(self) -> bool:
        return self.error is None and self.calls > 0 and self.failures == self.calls


@dataclass(frozen=True)
class FiringAlert:
    """An Alertmanager alert that fired and has not resolved since."""

    name: str
    since: datetime
    received_at: datetime


def enqueue_time(value: object, fmt: TimestampFormat) -> datetime:
    """An enqueue time as written in a job or a score. Raises ``ValueError`` with a
    phrase saying what was found instead (quoted, shortened)."""
    if fmt is TimestampFormat.ISO8601:
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 8601 time, found {_quote(value)}")
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"expected an ISO 8601 time, found {_quote(value)}") from exc
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    number: float
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a unix time, found {_quote(value)}")
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"expected a unix time, found {_quote(value)}") from exc
    if fmt is TimestampFormat.UNIX_MILLISECONDS:
        number /= 1000
    elif number > _MILLISECONDS_FROM:
        raise ValueError(
            f"expected a unix time in seconds, found {_quote(value)}, which looks like "
            "milliseconds (set `format: unix_milliseconds`)"
        )
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"expected a unix time, found {_quote(value)}") from exc


def job_field(job: str, path: str) -> object:
    """The value at the dotted ``path`` of a job written as a JSON object. Raises
    ``ValueError`` saying what was there instead."""
    try:
        data: object = json.loads(job)
    except ValueError as exc:
        raise ValueError(f"it is not JSON ({_quote(job)})") from exc
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            raise ValueError(f"it has no field `{path}` ({_quote(job)})")
        data = data[part]
    return data


def count_calls(logs: Iterable[str], vendor: Vendor) -> tuple[int, int]:
    """(calls, failures) to ``vendor`` in log texts: lines matching ``vendor.calls``,
    and of those the ones matching ``vendor.failures`` (both case-insensitive)."""
    calls_re = re.compile(vendor.calls, re.IGNORECASE)
    failures_re = re.compile(vendor.failures, re.IGNORECASE)
    calls = failures = 0
    for text in logs:
        for line in text.splitlines():
            if calls_re.search(line):
                calls += 1
                failures += bool(failures_re.search(line))
    return calls, failures


def _quote(value: object, limit: int = 60) -> str:
    """A value read from Redis or a job, shortened and shown safely in mrkdwn."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = show_bytes(" ".join(text.split()))
    return code(text if len(text) <= limit else text[: limit - 1] + "…")


# ---- playbook checks -----------------------------------------------------------


def check_triggers(
    triggers: Sequence[EscalationTrigger],
    queues: Mapping[str, tuple[bool, str | None]],
    deployments: Iterable[str],
) -> list[tuple[str, str]]:
    """(field, reason) for each measured trigger the playbook cannot measure.

    ``queues`` maps each queue name to (has a ``job_age``, its deployment). Kinds are
    compared by name: the playbook module imports this one.
    """
    known = set(deployments)
    problems: list[tuple[str, str]] = []
    for i, trigger in enumerate(triggers):
        where = f"escalation.triggers[{i}]"
        if trigger.queue is not None and trigger.queue not in queues:
            problems.append((f"{where}.queue", f"unknown queue '{trigger.queue}'"))
            continue
        kind = trigger.kind.value
        if kind in ("sla_delay", "time_to_breach") and not trigger.max_delay:
            problems.append((f"{where}.max_delay", f"a {kind} trigger needs the SLA"))
        if kind == "time_to_breach":
            problems += _check_breach(trigger, where, queues)
        for j, vendor in enumerate(trigger.vendors):
            if vendor.deployment not in known:
                problems.append(
                    (
                        f"{where}.vendors[{j}].deployment",
                        f"'{vendor.deployment}' is not listed under deployments",
                    )
                )
        if trigger.vendors and not trigger.for_:
            problems.append(
                (f"{where}.for", "say how long every call must fail before it pages (e.g. 5m)")
            )
        if trigger.vendors and kind != "external_api_unavailable":
            problems.append((f"{where}.vendors", "only external_api_unavailable watches vendors"))
    return problems


def _check_breach(
    trigger: EscalationTrigger, where: str, queues: Mapping[str, tuple[bool, str | None]]
) -> list[tuple[str, str]]:
    problems = []
    if trigger.breach_within is None:
        problems.append(
            (f"{where}.breach_within", "say how soon a projected breach pages (e.g. 15m)")
        )
    if trigger.queue is None:
        problems.append((f"{where}.queue", "a time_to_breach trigger watches one queue"))
    elif trigger.breach_depth is None and queues[trigger.queue][1] is None:
        problems.append(
            (
                f"{where}.breach_depth",
                f"queue '{trigger.queue}' names no deployment to take the workers' capacity "
                "from: give the depth at which the SLA is breached",
            )
        )
    return problems
