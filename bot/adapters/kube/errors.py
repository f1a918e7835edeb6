"""Kubernetes API errors worded for people, and the API server's requests to wait.

A ``429 Too Many Requests`` is API priority and fairness (or the older
max-in-flight filter) shedding load: the request was not executed, and the
``Retry-After`` header says when to try again. It is retried after that wait,
like client-go does, but bounded (:class:`Throttle`) so a bot that is throttled
for minutes says so instead of hanging.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from bot.domain.errors import DependencyError

RETRIABLE = frozenset({500, 502, 503, 504})


class KubeError(DependencyError, RuntimeError):
    """An API error, worded for the person who asked (never a raw response dump)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


def error_from(exc: ApiException) -> KubeError:
    """The client's exception → a :class:`KubeError` naming what went wrong.

    The API server answers errors with a ``Status`` object whose ``reason`` and
    ``message`` are read here; a body that is not one (a proxy's page, the
    plain-text 429 of older API servers) keeps the HTTP reason phrase.
    """
    reason = exc.reason or ""
    message = reason
    try:
        body = json.loads(exc.body or "{}")
        reason = body.get("reason", reason)
        message = body.get("message", message)
    except (ValueError, TypeError, AttributeError):
        pass
    status = int(exc.status or 0)
    if status == 403:
        message = f"The bot lacks a Kubernetes permission: {message}"
    elif status == 404:
        message = f"Not found in Kubernetes: {message}"
    elif status == 409:
        message = f"Kubernetes refused a conflicting change: {message}"
    elif status == 422:
        message = f"Kubernetes rejected the change as invalid: {message}"
    elif status in RETRIABLE:
        message = f"The Kubernetes API failed ({status} {reason}) after retries: {message}"
    return KubeError(status, reason, message)


def retry_after_seconds(exc: ApiException) -> float | None:
    """The ``Retry-After`` header in seconds; None when absent or not a whole number.

    The API server sends whole seconds, and client-go (``rest/with_retry.go``)
    accepts only that form; an HTTP date is treated as absent, as there. (The
    client's own helper for this, ``kubernetes.utils.retry``, exists only from
    client 37; the project supports older clients.)
    """
    headers: Any = exc.headers or {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            text = str(value).strip()
            return float(text) if re.fullmatch(r"\d+", text) else None
    return None


@dataclass
class Throttle:
    """How long and how often one call may be held back by 429 answers.

    ``max_retries`` defaults to client-go's ceiling (10 retries after
    Retry-After answers, ``rest.Request``); ``budget_seconds`` bounds the total
    wait so a slash command or an approved action reports throttling within a
    minute rather than appearing to hang.
    """

    max_retries: int = 10
    budget_seconds: float = 60.0
    retries: int = 0
    waited: float = 0.0

    def wait_for(self, exc: ApiException, fallback_seconds: float) -> float:
        """Seconds to wait before retrying ``exc`` (a 429).

        Raises :class:`KubeError` when the API asks for a wait beyond what is
        left of the budget or has answered 429 more than ``max_retries`` times.
        """
        seconds = retry_after_seconds(exc)
        if seconds is None:
            seconds = fallback_seconds
        self.retries += 1
        if self.retries > self.max_retries:
            raise KubeError(
                429,
                "TooManyRequests",
                f"The Kubernetes API is throttling the bot: it answered 429 Too Many Requests "
                f"{self.retries} times in a row (API priority and fairness sheds load this "
                "way). Try again in a few minutes.",
            )
        if self.waited + seconds > self.budget_seconds:
            already = f" after {self.waited:g} s of waiting" if self.waited else ""
            raise KubeError(
                429,
                "TooManyRequests",
                f"The Kubernetes API is throttling the bot (429 Too Many Requests) and asked it "
                f"to wait {seconds:g} s{already}, more than the {self.budget_seconds:g} s the "
                "bot waits for one call. Try again in a few minutes.",
            )
        self.waited += seconds
        return seconds
