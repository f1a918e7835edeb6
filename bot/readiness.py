"""``GET /readyz``: each dependency's state, in words, and whether the bot can work.

Body (JSON)::

    {"ready": false,
     "embedded": ["redis"],            # embedded servers in use (serve --embedded)
     "warnings": ["Running on an embedded Redis ..."],
     "checks": {
        "slack":      {"state": "ok", "required": true},
        "postgres":   {"state": "unreachable", "required": true, "error": "PostgreSQL ..."},
        "redis":      {"state": "ok", "required": true},
        "kubernetes": {"state": "not configured", "required": false,
                       "error": "Kubernetes is not configured (...)."}}}

``serve`` adds (bot/web.py), without ever failing readiness: ``paging`` (each pager
the playbook names) and ``leader``::

    "leader": {"leading": true, "since": "2026-11-29T15:02:11+00:00"}

— whether this replica runs the background work now (it holds the leader lock,
bot/services/leadership.py) and since when it leads or stands by; ``null`` where
no leader election runs (the demo, the tests' sandbox).

``state`` is ``ok``, ``unreachable`` or ``not configured``. The status is 503 when a
required dependency (Slack, PostgreSQL, Redis: without them nothing is noticed,
kept or said) is not ok; Kubernetes is reported but never fails readiness, since
alerts, status, requeue and reports work without it. Each check is bounded by
``CHECK_TIMEOUT_SECONDS`` so a hung dependency makes the probe slow, never stuck
(give the probe a ``timeoutSeconds`` above it; Kubernetes' default is 1 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
from redis.exceptions import RedisClusterException, RedisError
from slack_sdk.errors import SlackApiError

from bot import logs
from bot.adapters.kube.unconfigured import NOT_CONFIGURED, UnconfiguredKube

if TYPE_CHECKING:
    from bot.app import Runtime

CHECK_TIMEOUT_SECONDS = 3.0
State = Literal["ok", "unreachable", "not configured"]


@dataclass(frozen=True)
class Check:
    state: State
    required: bool
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"state": self.state, "required": self.required}
        if self.error:
            body["error"] = self.error
        return body


async def readiness(runtime: Runtime) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 or 503) and the body described in the module docstring."""
    slack, postgres, redis, kube = await asyncio.gather(
        _bounded("Slack", _slack(runtime)),
        _bounded("PostgreSQL", _postgres(runtime)),
        _bounded("Redis", _redis(runtime)),
        _kubernetes(runtime),
    )
    checks = {"slack": slack, "postgres": postgres, "redis": redis, "kubernetes": kube}
    ready = all(c.state == "ok" for c in checks.values() if c.required)
    body = {
        "ready": ready,
        "embedded": embedded_names(runtime),
        "warnings": embedded_warnings(runtime),
        "checks": {name: check.as_json() for name, check in checks.items()},
    }
    return (200 if ready else 503), body


def leader_status(runtime: Runtime) -> dict[str, Any] | None:
    """``{"leading": bool, "since": ISO 8601 or None}``; None without leader election."""
    leadership = runtime.leadership
    if leadership is None:
        return None
    since = leadership.since.isoformat() if leadership.since is not None else None
    return {"leading": leadership.leading, "since": since}


def embedded_names(runtime: Runtime) -> list[str]:
    return [server.kind for server in runtime.embedded]


def embedded_warnings(runtime: Runtime) -> list[str]:
    """What an operator must know about embedded servers (empty when none run)."""
    names = embedded_names(runtime)
    warnings = []
    if "redis" in names:
        warnings.append(
            "Running on an embedded Redis (--embedded / BACKLOG_BOT_EMBEDDED): the bot watches "
            "its own empty Redis, not your workers' queues. Set REDIS_URL for real use."
        )
    if "postgres" in names:
        warnings.append(
            "Running on an embedded PostgreSQL (--embedded / BACKLOG_BOT_EMBEDDED): incidents "
            "live in this machine's data directory only. Set DATABASE_URL for real use."
        )
    return warnings


async def _bounded(name: str, check: Awaitable[Check]) -> Check:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return Check(
            "unreachable", True, f"{name} did not answer within {CHECK_TIMEOUT_SECONDS:.0f} s."
        )


async def _slack(runtime: Runtime) -> Check:
    try:
        await runtime.slack.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        return Check("unreachable", True, f"Slack refused auth.test ({error}).")
    except OSError as exc:
        return Check("unreachable", True, f"Slack did not answer: {_reason(exc)}.")
    return Check("ok", True)


async def _postgres(runtime: Runtime) -> Check:
    try:
        await runtime.store.ping()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return Check("unreachable", True, f"PostgreSQL did not answer: {_reason(exc)}.")
    return Check("ok", True)


async def _redis(runtime: Runtime) -> Check:
    try:
        pong: Any = runtime.redis.ping()
        await pong
    except (RedisError, RedisClusterException, OSError) as exc:
        return Check("unreachable", True, f"Redis did not answer: {_reason(exc)}.")
    return Check("ok", True)


async def _kubernetes(runtime: Runtime) -> Check:
    if isinstance(runtime.kube, UnconfiguredKube):
        return Check("not configured", False, NOT_CONFIGURED)
    try:
        answered = await asyncio.wait_for(runtime.kube.ping(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        answered = False
    if answered:
        return Check("ok", False)
    return Check("unreachable", False, "The Kubernetes API did not answer GET /version.")


def _reason(exc: BaseException) -> str:
    # Client errors name host and port, never the password; redact anyway.
    return logs.redact(str(exc).rstrip(".") or type(exc).__name__)
