"""One bot, a directory of playbooks (docs/many-playbooks.md), through the real Bolt
app, the Slack and Kubernetes emulators, real Redis and PostgreSQL: PhishNet and
Billing (different queues, channels, roles) run independently; a broken third file
is reported and the two others keep running."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE
from bot.domain.playbook_set import load_playbooks

from .many_support import BILLING_CHANNEL_ID, ManySandbox, write_playbooks

DAVE = PEOPLE["dave"].user_id
ALICE = PEOPLE["alice"].user_id


@pytest.fixture
async def many(redis_url, redis_client, migrated_database, clock, tmp_path):
    found = load_playbooks(write_playbooks(tmp_path / "playbooks"))
    box = ManySandbox(
        found=found,
        redis_url=redis_url,
        database_url=migrated_database,
        work_dir=tmp_path,
        clock=clock,
    )
    await box.start()
    yield box
    await box.stop()


async def backlog(box, redis_client, clock, queue: str) -> None:
    """A backlog above 1,000 for the rule's 10 minutes: the 11th sample fires it."""
    await redis_client.lpush(queue, *range(1500))
    for _ in range(11):
        await box.tick()
        clock.advance(timedelta(minutes=1))


def bot_texts(box, channel: str) -> list[str]:
    return [m.text for m in box.slack.messages(channel) if m.is_bot and not m.is_ephemeral]


async def test_a_backlog_opens_an_incident_only_in_its_playbook_and_its_channel(
    many, redis_client, clock
):
    await backlog(many, redis_client, clock, "invoice_queue")

    incident = await many.runtime.store.get_incident(1)
    assert incident.playbook == "billing-queue-backlog"
    assert await many.runtime.store.open_incident_for("phishnet-queue-backlog") is None
    channel = many.slack.channel("inc-20261128-invoicequeuebacklog")
    assert incident.channel == channel.id
    assert DAVE in channel.members and ALICE not in channel.members  # billing's on-call
    # The pointer goes to billing's announcement channel, not PhishNet's.
    [pointer] = [t for t in bot_texts(many, BILLING_CHANNEL_ID) if "Incident #1" in t]
    assert "invoice_queue" in pointer
    assert not any("Incident #1" in t for t in bot_texts(many, INCIDENT_CHANNEL_ID))

    # In the incident's channel, status and commands are about billing only.
    status = await many.command("dave", "status", channel=channel.id)
    assert "invoice_queue" in status.text and "email_processing_queue" not in status.text
    ack = await many.command("dave", "ack", channel=channel.id)
    assert ack.text == f"Incident #1 acknowledged by <@{DAVE}>; paging stops."


async def test_status_outside_an_incident_channel_summarises_every_playbook(many):
    answer = await many.command("alice", "status", channel=INCIDENT_CHANNEL_ID)
    assert "*Playbook `phishnet-queue-backlog`*" in answer.text
    assert "*Playbook `billing-queue-backlog`*" in answer.text
    assert "email_processing_queue" in answer.text and "invoice_queue" in answer.text


async def test_playbook_option_names_the_playbook_and_an_unknown_name_lists_them(many):
    answer = await many.command(
        "alice", "status --playbook billing-queue-backlog", channel=INCIDENT_CHANNEL_ID
    )
    assert "invoice_queue" in answer.text and "email_processing_queue" not in answer.text

    unknown = await many.command("alice", "status --playbook payroll", channel=INCIDENT_CHANNEL_ID)
    assert "There is no playbook `payroll`" in unknown.text
    assert "`phishnet-queue-backlog`, `billing-queue-backlog`" in unknown.text

    vague = await many.command(
        "alice", "scale phishnet-worker-email 4", channel=INCIDENT_CHANNEL_ID
    )
    assert "This bot runs several playbooks" in vague.text
    assert "--playbook NAME" in vague.text


async def test_buttons_reach_the_playbook_of_their_incident(many, redis_client, clock):
    await backlog(many, redis_client, clock, "invoice_queue")
    alert = many.find_message(ActionId.ACK.value)
    assert alert is not None and "invoice_queue" in alert.text
    answer = await many.click("dave", alert, ActionId.ACK.value)
    assert "acknowledged" in answer.text
    incident = await many.runtime.store.get_incident(1)
    assert incident.acknowledged_by == DAVE


async def test_a_broken_playbook_is_reported_and_the_others_run(many, redis_client, clock):
    # Said once in the first running playbook's announcement channel, every problem named
    # (through the outbox, whose sender runs in the background: delivered by now).
    await many.settle()
    [notice] = [t for t in bot_texts(many, INCIDENT_CHANNEL_ID) if "not running" in t]
    assert "c-broken.yml`: queues[0].deployment: 'payroll-worker' is not listed" in notice
    async with aiohttp.ClientSession() as http, http.get(many.base_url + "/readyz") as response:
        body = await response.json()
    assert body["playbooks"]["phishnet-queue-backlog"] == "running"
    assert body["playbooks"]["billing-queue-backlog"] == "running"
    [problems] = [v for k, v in body["playbooks"].items() if k.endswith("c-broken.yml")]
    assert problems == ["queues[0].deployment: 'payroll-worker' is not listed under deployments"]

    # PhishNet still watches its queue while billing and the broken file are about.
    await backlog(many, redis_client, clock, "email_processing_queue")
    incident = await many.runtime.store.open_incident_for("phishnet-queue-backlog")
    assert incident is not None and incident.rule == "EmailQueueBacklog"


def _alert(name: str, fingerprint: str, **labels: str) -> dict:
    return {
        "status": "firing",
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {},
        "startsAt": "2026-11-28T08:45:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


async def test_alertmanager_alerts_reach_the_playbook_they_are_for(many):
    # Both playbooks have a WorkerProcessingStalled rule: the `playbook` label decides.
    payload = {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "backlog-bot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [_alert("WorkerProcessingStalled", "b1", playbook="billing-queue-backlog")],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(many.base_url + "/alertmanager", json=payload) as response,
    ):
        assert response.status == 200
        body = await response.json()
    assert body["results"][0]["outcome"] == "opened incident #1"
    incident = await many.runtime.store.get_incident(1)
    assert incident.playbook == "billing-queue-backlog"
    assert await many.runtime.store.open_incident_for("phishnet-queue-backlog") is None


async def test_an_approval_without_an_incident_runs_in_the_playbook_it_was_made_in(many):
    answer = await many.command(
        "dave",
        "scale billing-worker-email 4 --playbook billing-queue-backlog",
        channel=INCIDENT_CHANNEL_ID,
    )
    assert answer.text.startswith("Approval requested: Scale `billing-worker-email` from 2 to 4")
    approval = many.find_message(ActionId.APPROVE.value)
    # Alice approves PhishNet's scales, not billing's (its on-call SRE is Dave).
    refused = await many.click("alice", approval, ActionId.APPROVE.value)
    assert refused.text == (
        "Only members of sre_oncall, senior_devops, engineering_lead may approve `scale`."
    )
    approved = await many.click("bob", approval, ActionId.APPROVE.value)
    assert approved.text == "Approved; the action succeeded."
    units = many.organisation.units
    status = await units["billing-queue-backlog"].kube.deployment_status(
        "billing", "billing-worker-email"
    )
    assert status.desired == 4


async def test_a_playbook_whose_redis_variable_is_unset_is_reported_and_the_other_runs(
    redis_url, redis_client, migrated_database, clock, tmp_path
):
    directory = write_playbooks(tmp_path / "playbooks", broken=False)
    billing = directory / "b-billing.yml"
    billing.write_text(billing.read_text() + "\nredis:\n  url_env: BILLING_REDIS_URL\n")
    box = ManySandbox(
        found=load_playbooks(directory),
        redis_url=redis_url,
        database_url=migrated_database,
        work_dir=tmp_path,
        clock=clock,
    )
    await box.start()
    try:
        assert list(box.organisation.units) == ["phishnet-queue-backlog"]
        assert box.organisation.readiness()["billing-queue-backlog"] == [
            "BILLING_REDIS_URL: not set (playbook 'billing-queue-backlog' takes its Redis URL "
            "from it: redis.url_env)"
        ]
        answer = await box.command("alice", "status", channel=INCIDENT_CHANNEL_ID)
        assert "email_processing_queue" in answer.text and "Playbook" not in answer.text
    finally:
        await box.stop()
