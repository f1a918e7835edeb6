"""Issue #7: what the bot must say is stored with the state change and delivered once,
whatever Slack does: 5xx, 429, answers lost after Slack stored the message, restarts,
two replicas."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, Sandbox


def _alerts(sandbox: Sandbox) -> list:
    """The incidents' alerts (resolved ones too: they lose their buttons, not their header)."""
    return [
        m
        for m in sandbox.channel_messages()
        if any(b.get("type") == "header" and "Incident #" in str(b) for b in m.blocks or [])
    ]


async def _fire_rule(sandbox: Sandbox, redis_client, clock) -> None:
    """A backlog above EmailQueueBacklog's threshold for its 10 minutes."""
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await sandbox.runtime.monitor.tick()
        clock.advance(timedelta(minutes=1))


async def _retry_until_delivered(sandbox: Sandbox, clock, rounds: int = 8) -> None:
    """Lets the sender's backoff (1 s, 2 s, 4 s …, on the injected clock) run out."""
    for _ in range(rounds):
        await sandbox.settle()
        clock.advance(timedelta(seconds=30))
    await sandbox.settle()


def _stalled(status: str = "firing") -> bytes:
    alert = {
        "status": status,
        "labels": {"alertname": "WorkerProcessingStalled", "severity": "critical"},
        "annotations": {},
        "startsAt": "2026-11-28T08:45:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "5f1c2a",
    }
    return json.dumps({"version": "4", "status": status, "alerts": [alert]}).encode()


async def _alertmanager(sandbox: Sandbox, body: bytes) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{sandbox.base_url}/alertmanager",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_an_alert_slack_refuses_three_times_is_posted_once_it_answers(
    sandbox, redis_client, clock
):
    sandbox.slack.server_error_next("chat.postMessage", 503, times=3)
    await _fire_rule(sandbox, redis_client, clock)
    incident = await sandbox.runtime.store.latest_incident(sandbox.playbook.name)
    assert incident is not None  # the state change never waited for Slack
    await _retry_until_delivered(sandbox, clock)
    [alert] = _alerts(sandbox)
    assert f"Incident #{incident.id}" in alert.rendered
    statuses = [c.status for c in sandbox.slack.calls_to("chat.postMessage")]
    assert statuses[:3] == [503, 503, 503] and statuses.count(200) >= 1
    stored = await sandbox.runtime.store.get_incident(incident.id)
    assert stored is not None and stored.message_ts == alert.ts  # where it landed, recorded


async def test_a_stalled_alert_from_alertmanager_is_stored_then_posted_and_retries_are_noops(
    sandbox, redis_client, clock
):
    await redis_client.lpush("email_processing_queue", *range(250))
    sandbox.slack.server_error_next("chat.postMessage", 503, times=3)
    status, body = await _alertmanager(sandbox, _stalled())
    assert status == 200 and body["results"][0]["outcome"] == "opened incident #1"
    status, again = await _alertmanager(sandbox, _stalled())  # Alertmanager's retry
    assert status == 200 and again["results"][0]["outcome"] == "already received"
    await _retry_until_delivered(sandbox, clock)
    [alert] = _alerts(sandbox)
    assert "WorkerProcessingStalled" in alert.rendered


async def test_the_same_notification_to_two_replicas_and_after_resolve_changes_nothing(
    make_sandbox, redis_client, clock, tmp_path
):
    first = await make_sandbox()
    second = await make_sandbox(work_dir=tmp_path / "replica-2", replica_of=first)
    await redis_client.lpush("email_processing_queue", *range(250))
    _, one = await _alertmanager(first, _stalled())
    _, two = await _alertmanager(second, _stalled())
    assert one["results"][0]["outcome"] == "opened incident #1"
    assert two["results"][0]["outcome"] == "already received"
    await first.settle()
    await second.settle()
    await first.command("alice", "resolve")
    restarted = await make_sandbox(work_dir=tmp_path / "replica-3", replica_of=first)
    _, late = await _alertmanager(restarted, _stalled())  # repeat_interval after resolve
    assert late["results"][0]["outcome"] == "already received"
    assert (await restarted.runtime.store.latest_incident(first.playbook.name)).id == 1
    timeline = await first.runtime.store.timeline(1)
    assert [e.kind.value for e in timeline].count("detected") == 1
    assert len([e for e in timeline if "WorkerProcessingStalled firing" in e.text]) == 1
    await restarted.settle()
    assert len(_alerts(first)) == 1


async def test_a_grouped_notification_resolves_only_the_alerts_it_says_resolved(
    sandbox, redis_client
):
    def alert(fingerprint: str, status: str) -> dict:
        return {
            "status": status,
            "labels": {"alertname": "WorkerProcessingStalled", "pod": fingerprint},
            "startsAt": "2026-11-28T08:45:00Z",
            "fingerprint": fingerprint,
        }

    await redis_client.lpush("email_processing_queue", *range(250))
    both = {"version": "4", "alerts": [alert("a1", "firing"), alert("b2", "firing")]}
    await _alertmanager(sandbox, json.dumps(both).encode())
    one_resolved = {
        "version": "4",
        "truncatedAlerts": 3,
        "alerts": [alert("a1", "resolved"), alert("b2", "firing")],
    }
    status, body = await _alertmanager(sandbox, json.dumps(one_resolved).encode())
    assert status == 200 and body["truncated"] == 3
    assert [r["outcome"] for r in body["results"]] == [
        "resolved noted on incident #1",
        "already received",
    ]
    assert await sandbox.runtime.store.firing_alerts(1) == ["b2"]
    await sandbox.settle()
    said = " ".join(m.text for m in sandbox.channel_messages())
    assert "1 Prometheus alert(s) still firing" in said
    assert "Alertmanager left 3 alert(s) out of its last notification" in said


async def test_a_starts_at_in_the_future_counts_as_now(sandbox, redis_client, clock):
    body = json.loads(_stalled())
    body["alerts"][0]["startsAt"] = "2027-01-01T00:00:00Z"
    await redis_client.lpush("email_processing_queue", "x")
    status, answer = await _alertmanager(sandbox, json.dumps(body).encode())
    assert status == 200 and answer["results"][0]["outcome"] == "opened incident #1"
    await sandbox.settle()
    [alert] = _alerts(sandbox)
    assert "processed nothing for *0s*" in alert.rendered


@pytest.mark.parametrize("kind", ["server_error", "fatal_error", "disconnect", "timeout"])
async def test_a_post_whose_answer_is_lost_after_slack_stored_it_is_never_repeated(
    make_sandbox, redis_client, clock, kind
):
    box = await make_sandbox(slack_timeout_seconds=1)
    box.slack.fail_after_storing("chat.postMessage", kind, delay=3)
    await _fire_rule(box, redis_client, clock)
    await _retry_until_delivered(box, clock)
    assert len(_alerts(box)) == 1  # found by its metadata, not posted again
    [row] = [m for m in await box.runtime.store.outbox_messages() if m.key == "incident/1/alert"]
    assert row.state == "delivered" and row.ts == _alerts(box)[0].ts


async def test_a_restart_between_storing_and_sending_delivers_once(
    make_sandbox, redis_client, clock, tmp_path
):
    first = await make_sandbox()
    await first.runtime.sender.stop()  # this process will die before it sends anything
    await _fire_rule(first, redis_client, clock)
    [row] = [m for m in await first.runtime.store.outbox_messages() if m.key.endswith("/alert")]
    assert row.state == "pending" and _alerts(first) == []
    restarted = await make_sandbox(work_dir=tmp_path / "after-restart", replica_of=first)
    await restarted.settle()
    assert len(_alerts(first)) == 1
    await restarted.settle()
    assert len(_alerts(first)) == 1


async def test_two_replicas_never_send_the_same_message(
    make_sandbox, redis_client, clock, tmp_path
):
    first = await make_sandbox()
    second = await make_sandbox(work_dir=tmp_path / "replica-2", replica_of=first)
    await _fire_rule(first, redis_client, clock)
    for i in range(20):
        await first.command("alice", f"note observation {i}")
    await first.command("bob", "escalate 1")
    await first.command("bob", "escalate 2")
    clock.advance(timedelta(minutes=1))
    await first.settle()
    await second.settle()
    posted = [c for c in first.slack.calls_to("chat.postMessage") if c.status == 200]
    ids = [c.args["metadata"]["event_payload"]["message_id"] for c in posted]
    assert len(ids) == len(set(ids))  # each outbox row posted by exactly one replica
    pages = [m for m in first.channel_messages() if "Escalating incident" in m.text]
    assert len(pages) == 2


async def test_an_approval_slack_refuses_for_good_fails_the_request_and_is_said(sandbox):
    sandbox.slack.fail_next("chat.postMessage", "is_archived")
    answer = await sandbox.command("alice", "scale phishnet-worker-email 6")
    assert answer.text.startswith("Approval requested")
    [request] = await sandbox.runtime.store.recent_action_requests()
    assert request.state.value == "failed" and "is archived" in (request.error or "")
    said = [m.text for m in sandbox.slack.ephemerals(INCIDENT_CHANNEL_ID)]
    assert any("could not post" in t and "is archived" in t for t in said)
    [row] = [
        m for m in await sandbox.runtime.store.outbox_messages() if m.key.startswith("request/")
    ]
    assert (row.state, row.error) == ("failed", "is_archived")


async def test_a_request_message_says_at_once_that_it_was_approved_and_loses_its_buttons(
    sandbox,
):
    await sandbox.command("alice", "scale phishnet-worker-email 6")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    versions = sandbox.slack.message(approval.channel, approval.ts).versions
    rendered = [v.text for v in versions]
    assert rendered[0].startswith("Approval needed")
    assert any("Approved by <@U0SENIORDEVOPS>; running" in t for t in rendered[1:])
    assert "done" in rendered[-1]
    assert all(
        b.get("type") != "actions" for v in versions[1:] for b in (v.blocks or [])
    )  # no live Approve/Deny once approved


async def test_a_failure_after_the_ack_is_answered_with_an_error_id(sandbox, caplog):
    from bot.demo.sandbox import PEOPLE
    from bot.emulators.slack_requests import SlackClientSimulator

    await sandbox.runtime.store.close()  # PostgreSQL goes away under the bot
    alice = PEOPLE["alice"]
    result = await SlackClientSimulator(sandbox.endpoint, sandbox.signing_secret).slash_command(
        "note workers restarted",
        user_id=alice.user_id,
        user_name=alice.name,
        channel_id=INCIDENT_CHANNEL_ID,
        response_url=sandbox.slack.response_url("pg-down", channel=INCIDENT_CHANNEL_ID),
    )
    assert result.status == 200  # acknowledged at once: Slack shows no error of its own
    await sandbox.slack.wait_for(lambda: bool(sandbox.slack.responses("pg-down")))
    text = sandbox.slack.responses("pg-down")[-1].text
    assert text.startswith(":boom: Backlog Bot failed while handling `/backlog note`")
    error_id = text.split("error id `")[1].split("`")[0]
    assert any(getattr(r, "error_id", None) == error_id for r in caplog.records)


async def test_an_unknown_button_is_answered_not_left_to_time_out(sandbox):
    from bot.demo.sandbox import PEOPLE
    from bot.emulators.slack_requests import SlackClientSimulator

    bob = PEOPLE["bob"]
    result = await SlackClientSimulator(sandbox.endpoint, sandbox.signing_secret).block_action(
        "backlog_some_old_button",
        "x",
        user_id=bob.user_id,
        user_name=bob.name,
        channel_id=INCIDENT_CHANNEL_ID,
        message_ts="1.0",
        response_url=sandbox.slack.response_url("old", channel=INCIDENT_CHANNEL_ID),
    )
    assert result.status == 200
    await sandbox.slack.wait_for(lambda: bool(sandbox.slack.responses("old")))
    assert "older version of Backlog Bot" in sandbox.slack.responses("old")[-1].text
