"""Who may run what: state-changing sub-commands need a playbook role (issue #8)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import PEOPLE, Sandbox


async def _open_incident(sandbox: Sandbox, redis_client, clock) -> None:
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))


@pytest.mark.parametrize(
    "text",
    [
        "ack",
        "resolve",
        "escalate",
        "escalate 3",
        "note looks fine",
        "rootcause dns",
        "scale phishnet-worker-email 6",
        "restart phishnet-worker-email",
        "drain",
        "requeue",
    ],
)
async def test_someone_without_a_role_cannot_change_anything(sandbox, redis_client, clock, text):
    await _open_incident(sandbox, redis_client, clock)
    answer = await sandbox.command("dave", text)
    verb = text.split()[0]
    assert answer.text.startswith(":no_entry: Only members of `sre_oncall`, `senior_devops`")
    assert f"may run `/backlog {verb}`" in answer.text and "nothing was done" in answer.text
    assert sandbox.slack.responses()[-1].response_type == "ephemeral"  # said privately
    incident = await sandbox.runtime.store.latest_incident(sandbox.playbook.name)
    assert incident is not None and incident.state.value == "open"  # not acked, not resolved
    assert await sandbox.runtime.store.pages(incident.id) == {}
    assert sandbox.find_message(ActionId.APPROVE.value) is None
    [refused] = [
        e for e in await sandbox.runtime.store.audit_entries() if e["outcome"] == "refused"
    ]
    assert (refused["actor"], refused["action"]) == (PEOPLE["dave"].user_id, f"command:{verb}")


async def test_the_ack_button_is_checked_like_the_command(sandbox, redis_client, clock):
    await _open_incident(sandbox, redis_client, clock)
    alert = sandbox.find_message(ActionId.ACK.value)
    answer = await sandbox.click("dave", alert, ActionId.ACK.value)
    assert "may run `/backlog ack`" in answer.text
    answer = await sandbox.click("alice", alert, ActionId.ACK.value)
    assert "acknowledged by" in answer.text


async def test_read_only_commands_are_open(sandbox, redis_client, clock):
    await _open_incident(sandbox, redis_client, clock)
    for text in ("status", "forecast", "report", "help"):
        answer = await sandbox.command("dave", text)
        assert "Only members of" not in answer.text, text


async def test_a_playbook_can_open_or_narrow_a_command(make_sandbox, playbook, redis_client, clock):
    custom = playbook.model_copy(
        update={"permissions": {"ack": ("anyone",), "status": ("senior_devops",)}}
    )
    box = await make_sandbox(playbook=custom)
    await _open_incident(box, redis_client, clock)
    assert "acknowledged by" in (await box.command("dave", "ack")).text
    narrowed = await box.command("alice", "status")
    assert narrowed.text.startswith(":no_entry: Only members of `senior_devops` may run")
    assert "Queue depths" in (await box.command("bob", "status")).text
