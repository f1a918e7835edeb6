"""Alertmanager webhook (v4) into the incident channel."""

from __future__ import annotations

import json

import aiohttp

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox


def _payload(status: str = "firing", name: str = "WorkerProcessingStalled") -> dict:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "status": status,
        "receiver": "backlog-bot",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "critical"},
                "annotations": {"summary": "Workers have stopped processing emails"},
                "startsAt": "2026-11-28T08:45:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "5f1c2a",
            }
        ],
    }


async def _post(sandbox: Sandbox, body: bytes, headers: dict[str, str] | None = None):
    url = sandbox.endpoint.replace("/slack/events", "/alertmanager")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
        ) as resp,
    ):
        answer = resp.status, await resp.json()
    await sandbox.settle()
    return answer


async def test_stalled_workers_alert_opens_one_incident(sandbox, redis_client):
    await redis_client.lpush("email_processing_queue", *range(250))
    status, body = await _post(sandbox, json.dumps(_payload()).encode())
    assert status == 200
    assert body["results"] == [
        {"alert": "WorkerProcessingStalled", "status": "firing", "outcome": "opened incident #1"}
    ]
    alert = sandbox.find_message(ActionId.ACK.value)
    assert "*WorkerProcessingStalled* (critical, from Prometheus)" in alert.rendered
    assert "processed nothing for *15m*" in alert.rendered  # since startsAt 08:45, now 09:00
    assert "`email_processing_queue` holds *250* jobs" in alert.rendered

    _, again = await _post(sandbox, json.dumps(_payload()).encode())  # repeat_interval re-send
    assert again["results"][0]["outcome"] == "already received"
    _, resolved = await _post(sandbox, json.dumps(_payload("resolved")).encode())
    assert resolved["results"][0]["outcome"] == "resolved noted on incident #1"
    headers = [m for m in sandbox.channel_messages() if m.blocks and "Incident #" in m.rendered]
    assert len(headers) == 1
    timeline = await sandbox.runtime.store.timeline(1)
    assert [e.text for e in timeline][-1] == "WorkerProcessingStalled resolved in Prometheus"


async def test_unknown_alerts_and_bad_payloads(sandbox):
    _, body = await _post(sandbox, json.dumps(_payload(name="DiskFull")).encode())
    assert body["results"][0]["outcome"] == "ignored (not a rule of this playbook)"
    status, body = await _post(sandbox, b'{"version": "4", "alerts": [{"status": "maybe"}]}')
    assert status == 400 and body["error"].startswith("alerts.0.status")
    status, body = await _post(sandbox, json.dumps({**_payload(), "version": "3"}).encode())
    assert status == 400 and "unsupported webhook version" in body["error"]
    assert sandbox.find_message(ActionId.ACK.value) is None


async def test_token_is_required_when_configured(make_sandbox):
    box = await make_sandbox(alertmanager_token="am-secret")
    status, _ = await _post(box, json.dumps(_payload()).encode())
    assert status == 401
    status, _ = await _post(box, json.dumps(_payload()).encode(), {"Authorization": "Bearer nope"})
    assert status == 401
    status, body = await _post(
        box, json.dumps(_payload()).encode(), {"Authorization": "Bearer am-secret"}
    )
    assert status == 200 and body["results"][0]["outcome"] == "opened incident #1"
