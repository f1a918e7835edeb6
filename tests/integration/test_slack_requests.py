"""What Slack sends, and what the bot does with it: signatures, bad input, retries."""

from __future__ import annotations

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE, Sandbox
from bot.emulators.slack_requests import SlackClientSimulator


def _people(sandbox: Sandbox, secret: str | None = None) -> SlackClientSimulator:
    return SlackClientSimulator(sandbox.endpoint, secret or sandbox.signing_secret)


async def _scale(sandbox: Sandbox, **delivery) -> int:
    alice = PEOPLE["alice"]
    result = await _people(sandbox).slash_command(
        "scale phishnet-worker-email 6",
        user_id=alice.user_id,
        user_name=alice.name,
        channel_id=INCIDENT_CHANNEL_ID,
        response_url=sandbox.slack.response_url("x", channel=INCIDENT_CHANNEL_ID),
        **delivery,
    )
    return result.status


async def test_unsigned_or_stale_requests_are_refused_and_do_nothing(sandbox):
    assert await _scale(sandbox, bad_signature=True) == 401
    assert await _scale(sandbox, stale_timestamp=True) == 401
    assert sandbox.slack.calls_to("chat.postMessage") == []
    assert sandbox.slack.responses() == []
    assert await sandbox.runtime.store.audit_entries() == []


async def test_slack_redelivery_is_acknowledged_without_acting_twice(sandbox):
    assert await _scale(sandbox, retry_num=1, retry_reason="http_timeout") == 200
    assert sandbox.slack.calls_to("chat.postMessage") == []
    assert await sandbox.runtime.store.audit_entries() == []


async def test_malformed_command_gets_usage_and_nothing_runs(sandbox):
    answer = await sandbox.command("alice", "scale phishnet-worker-email lots")
    assert "Replicas must be a whole number, got `lots`" in answer.text
    assert "*Usage:*" in answer.text
    assert sandbox.slack.responses()[-1].response_type == "ephemeral"
    assert sandbox.find_message(ActionId.APPROVE.value) is None


async def test_denied_request_never_runs(sandbox):
    await sandbox.command("alice", "scale phishnet-worker-email 8")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert (await sandbox.click("dave", approval, ActionId.DENY.value)).text.startswith(
        "Only an approver"
    )
    assert (await sandbox.click("carol", approval, ActionId.DENY.value)).text == "Denied."
    late = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert "already denied" in late.text
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2
    assert "Denied by <@U0ENGLEAD>" in sandbox.slack.message(approval.channel, approval.ts).rendered


async def test_forged_button_value_is_harmless(sandbox):
    await sandbox.command("alice", "scale phishnet-worker-email 8")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    bob = PEOPLE["bob"]
    result = await _people(sandbox).block_action(
        ActionId.APPROVE.value,
        "not-a-uuid; DROP TABLE incidents",
        user_id=bob.user_id,
        user_name=bob.name,
        channel_id=INCIDENT_CHANNEL_ID,
        message_ts=approval.ts,
        response_url=sandbox.slack.response_url("forged"),
    )
    assert result.status == 200
    await sandbox.slack.wait_for(lambda: bool(sandbox.slack.responses("forged")))
    assert "malformed" in sandbox.slack.responses("forged")[-1].text
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2


async def test_slack_rate_limit_is_waited_out(sandbox, clock):
    from datetime import timedelta

    sandbox.slack.rate_limit_next("chat.postMessage", retry_after=1)
    answer = await sandbox.command("alice", "scale phishnet-worker-email 8")
    assert "Approval requested" in answer.text
    assert sandbox.find_message(ActionId.APPROVE.value) is None  # waiting out Retry-After
    clock.advance(timedelta(seconds=1))
    await sandbox.settle()
    posts = sandbox.slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert sandbox.find_message(ActionId.APPROVE.value) is not None


async def test_alert_scale_button_asks_for_the_capacity_models_count(sandbox, redis_client, clock):
    from datetime import timedelta

    await redis_client.lpush("email_processing_queue", *range(1200))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))
    alert = sandbox.find_message(ActionId.ALERT_SCALE.value)
    # 1,200 waiting, flat, 2 workers ready: (2 x 50 + 1,200 / 10) / 50 = 4.4 -> 5 workers.
    assert "[Scale phishnet-worker-email to 5]" in alert.rendered
    assert "needs 5 workers" in alert.rendered  # the model's own sentence, in the footer
    answer = await sandbox.click("carol", alert, ActionId.ALERT_SCALE.value)
    assert answer.text.startswith("Approval requested: Scale `phishnet-worker-email` from 2 to 5")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    assert "Requested by <@U0ENGLEAD>" in approval.rendered


async def test_expired_request_cannot_be_approved_and_says_so(sandbox, clock):
    from datetime import timedelta

    await sandbox.command("alice", "scale phishnet-worker-email 8")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    clock.advance(timedelta(minutes=31))  # the playbook's default expiry is 30 minutes
    late = await sandbox.click("bob", approval, ActionId.APPROVE.value)
    assert "expired" in late.text
    shown = sandbox.slack.message(approval.channel, approval.ts).rendered
    assert "Expired before it was approved; nothing was done" in shown
    assert "[Approve]" not in shown
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2


async def test_slack_refusing_the_approval_post_is_said_and_nothing_runs(sandbox):
    sandbox.slack.fail_next("chat.postMessage", "not_in_channel")
    answer = await sandbox.command("alice", "scale phishnet-worker-email 8")
    assert answer.text.startswith("Approval requested")
    # The sender's refusal reaches the requester privately (response_url is not
    # used: the ephemeral goes by chat.postEphemeral) ...
    told = sandbox.slack.ephemerals(INCIDENT_CHANNEL_ID, PEOPLE["alice"].user_id)
    assert any("is not a member of" in m.text and "/invite" in m.text for m in told)
    # ... the request can never be approved, so it failed rather than stay pending ...
    [request] = await sandbox.runtime.store.recent_action_requests()
    assert request.state.value == "failed"
    assert "Slack refused its message" in (request.error or "")
    assert sandbox.find_message(ActionId.APPROVE.value) is None
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2


async def test_an_action_interrupted_mid_run_is_failed_and_reported_never_rerun(sandbox, clock):
    from uuid import UUID

    from bot.domain.approvals import ApprovalDecision, Verdict
    from bot.domain.models import ActionState

    await sandbox.command("alice", "scale phishnet-worker-email 8")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    request_id = UUID(approval.blocks[-1]["elements"][0]["value"])
    store = sandbox.runtime.store
    # The approving process moved it to executing, then died before scaling.
    await store.approve(
        request_id, "U0SENIORDEVOPS", clock(), lambda _r: ApprovalDecision(Verdict.COMPLETE)
    )
    # Nobody holds its lease: known at once, without waiting for any timeout.
    assert await sandbox.runtime.actions.recover_interrupted() == 1
    await sandbox.settle()
    request = await store.get_action_request(request_id)
    assert request.state is ActionState.FAILED and request.error.startswith("interrupted")
    thread = [m.text for m in sandbox.slack.thread(approval.channel, approval.ts)]
    assert any("was interrupted" in t and "will not be re-run" in t for t in thread)
    shown = sandbox.slack.message(approval.channel, approval.ts)
    assert "[Approve]" not in shown.rendered and "was interrupted" in shown.rendered
    status = await sandbox.runtime.kube.deployment_status("phishnet", "phishnet-worker-email")
    assert status.desired == 2
    assert await sandbox.runtime.actions.recover_interrupted() == 0
