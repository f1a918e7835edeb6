"""What a pager answered, as a value the caller can act on.

Every send ends in exactly one of three outcomes, never an exception:

- :class:`Accepted` — done; nothing more to send for this event.
- :class:`Rejected` — the pager refused the event and will refuse it again
  (PagerDuty's 400 "invalid event", a wrong URL, a refused token): tell the
  channel with :attr:`Rejected.sentence`; do not retry.
- :class:`RetryLater` — rate limited (429), a server error (5xx), no answer in
  time or no connection: retry after :attr:`RetryLater.retry_after` (the
  server's ``Retry-After`` when it sent one).

The retry rule is PagerDuty's ("Events API v2 Overview", Response Codes & Retry
Logic: 202 no, 400 no, 429 yes, 5xx yes, network error yes). A trigger repeated
with the same dedup key lands on the same open alert, and acknowledge / resolve
are idempotent, so retrying after an ambiguous failure (the request may have
arrived) pages nobody twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import aiohttp

from bot import logs

log = logging.getLogger(__name__)

#: PagerDuty's Events API rate-limit page suggests retrying "with each request being
#: 30 seconds apart" after a 429.
RATE_LIMIT_DELAY = timedelta(seconds=30)
#: After a 5xx or a network failure without Retry-After. The caller's outbox is
#: expected to back off further on repeated failures.
SERVER_ERROR_DELAY = timedelta(seconds=10)
#: A Retry-After beyond this is capped: a page must not wait hours on one odd header.
MAX_RETRY_AFTER = timedelta(hours=1)
#: How much of an unexpected (non-JSON) error body is quoted in a sentence.
_QUOTE_CHARS = 200

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventAction(StrEnum):
    """The three things one can say to a pager about an alert."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Accepted:
    target: str  #: the destination as a sentence names it, e.g. "PagerDuty (PD_ROUTING_KEY_L1)"
    action: EventAction
    dedup_key: str  #: as the pager returned it (PagerDuty echoes it in its 202 body)
    status: int

    @property
    def sentence(self) -> str:
        return f"{self.target} accepted the {self.action.value} for `{self.dedup_key}`."


@dataclass(frozen=True)
class Rejected:
    target: str
    action: EventAction
    dedup_key: str
    status: int
    message: str  #: the pager's own message, e.g. PagerDuty's "Event object is invalid"
    errors: tuple[str, ...] = ()  #: the pager's itemised errors, e.g. "'payload.summary' …"

    @property
    def sentence(self) -> str:
        """For the incident channel: who refused what, in the pager's words, and that
        sending it again will not help."""
        said = self.message or f"HTTP {self.status}"
        if self.errors:
            said += ": " + "; ".join(self.errors)
        return logs.redact(
            f"{self.target} refused the {self.action.value} for `{self.dedup_key}` "
            f"(HTTP {self.status}): {said.rstrip('.')}. Sending it again will not help: "
            "fix the playbook or the pager's configuration, then page again."
        )


@dataclass(frozen=True)
class RetryLater:
    target: str
    action: EventAction
    dedup_key: str
    reason: str  #: e.g. "rate limited (HTTP 429)", "no answer within 10 s"
    retry_after: timedelta  #: the server's Retry-After when sent, else our default
    status: int | None = None  #: None when no HTTP answer came back

    @property
    def sentence(self) -> str:
        seconds = round(self.retry_after.total_seconds())
        return logs.redact(
            f"{self.target} did not take the {self.action.value} for `{self.dedup_key}` "
            f"yet ({self.reason}); trying again in {seconds} s."
        )


Outcome = Accepted | Rejected | RetryLater


def retry_delay(value: str | None, default: timedelta, now: datetime) -> timedelta:
    """The delay a ``Retry-After`` header asks for (delta-seconds or an HTTP-date,
    RFC 9110 §10.2.3), else ``default``; never negative, at most :data:`MAX_RETRY_AFTER`."""
    if not value or not value.strip():
        return default
    text = value.strip()
    if text.isdigit():
        delay = timedelta(seconds=int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - now
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


def _error_body(body: bytes, status: int) -> tuple[str, tuple[str, ...]]:
    """The pager's ``message`` and ``errors`` from a JSON error body (PagerDuty's shape;
    ``error`` is accepted too), or a short quote of a body that is not JSON."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = " ".join(body.decode("utf-8", "replace").split())
        return (text[:_QUOTE_CHARS] + ("…" if len(text) > _QUOTE_CHARS else "")), ()
    if not isinstance(data, dict):
        return f"HTTP {status}", ()
    message = data.get("message") or data.get("error") or ""
    raw_errors = data.get("errors")
    if not raw_errors:
        errors: tuple[str, ...] = ()
    elif isinstance(raw_errors, dict):
        errors = tuple(f"{key}: {value}" for key, value in raw_errors.items())
    elif isinstance(raw_errors, list):
        errors = tuple(str(item) for item in raw_errors)
    else:
        errors = (str(raw_errors),)
    return str(message), errors


def classify(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    target: str,
    action: EventAction,
    dedup_key: str,
    now: datetime,
) -> Outcome:
    """One HTTP answer as an :data:`Outcome`: 2xx accepted (the dedup key from the body
    when it carries one), 408/429/5xx retry later, any other status rejected."""
    if 200 <= status < 300:
        returned = dedup_key
        try:
            data = json.loads(body) if body else {}
        except (ValueError, UnicodeDecodeError):
            data = {}
        if isinstance(data, dict) and isinstance(data.get("dedup_key"), str):
            returned = data["dedup_key"]
        return Accepted(target=target, action=action, dedup_key=returned, status=status)
    if status == 429 or status == 408 or status >= 500:
        default = RATE_LIMIT_DELAY if status == 429 else SERVER_ERROR_DELAY
        reason = "rate limited (HTTP 429)" if status == 429 else f"HTTP {status}"
        return RetryLater(
            target=target,
            action=action,
            dedup_key=dedup_key,
            reason=reason,
            retry_after=retry_delay(headers.get("Retry-After"), default, now),
            status=status,
        )
    message, errors = _error_body(body, status)
    return Rejected(
        target=target,
        action=action,
        dedup_key=dedup_key,
        status=status,
        message=message,
        errors=errors,
    )


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    timeout_seconds: float,
    target: str,
    action: EventAction,
    dedup_key: str,
    clock: Clock = utc_now,
) -> Outcome:
    """POSTs a JSON ``body`` to ``url`` and classifies the answer. ``timeout_seconds``
    bounds the whole exchange. Never raises for HTTP or network failures, and never puts
    the URL (it may carry a token) or the body (it carries the routing key) in the
    outcome or the log."""
    try:
        async with session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            answer = await response.read()
            outcome = classify(
                response.status,
                answer,
                response.headers,
                target=target,
                action=action,
                dedup_key=dedup_key,
                now=clock(),
            )
    except TimeoutError:
        outcome = _unanswered(target, action, dedup_key, f"no answer within {timeout_seconds:g} s")
    except aiohttp.ClientConnectorError:
        outcome = _unanswered(target, action, dedup_key, "could not connect")
    except aiohttp.ServerDisconnectedError:
        outcome = _unanswered(target, action, dedup_key, "the connection closed before an answer")
    except aiohttp.ClientError as exc:
        outcome = _unanswered(target, action, dedup_key, f"HTTP failure ({type(exc).__name__})")
    log.info(
        "pager answered",
        extra={
            "target": target,
            "action": action.value,
            "dedup_key": dedup_key,
            "outcome": type(outcome).__name__,
            "status": getattr(outcome, "status", None),
        },
    )
    return outcome


def _unanswered(target: str, action: EventAction, dedup_key: str, reason: str) -> RetryLater:
    return RetryLater(
        target=target,
        action=action,
        dedup_key=dedup_key,
        reason=reason,
        retry_after=SERVER_ERROR_DELAY,
    )
