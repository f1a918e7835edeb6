"""``GET /metrics`` of the running bot, parsed as Prometheus parses it."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from tests.integration.tcp_gate import TcpGate

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(sandbox: Sandbox, accept: str | None = None) -> tuple[Samples, str]:
    headers = {"Accept": accept} if accept else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sandbox.base_url}/metrics", headers=headers) as resp,
    ):
        assert resp.status == 200
        text = await resp.text()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def test_depths_appear_under_the_playbooks_metric_names(sandbox, redis_client):
    await redis_client.lpush("email_processing_queue", *range(1500))
    await redis_client.lpush("analysis_queue", *range(20))
    await redis_client.sadd("processing_jobs", *[f"job-{i}" for i in range(7)])
    samples, text = await scrape(sandbox)
    assert value(samples, "phishnet_email_queue_size") == 1500
    assert value(samples, "phishnet_analysis_queue_size") == 20
    assert value(samples, "phishnet_notification_queue_size") == 0
    assert value(samples, "backlog_bot_queue_depth", queue="email_processing_queue") == 1500
    assert value(samples, "backlog_bot_processing_set_size", set="processing_jobs") == 7
    assert value(samples, "backlog_bot_redis_up") == 1
    assert value(samples, "backlog_bot_postgres_up") == 1
    assert value(samples, "backlog_bot_rule_firing", rule="EmailQueueBacklog") == 0
    assert value(samples, "backlog_bot_incidents", state="open") == 0
    assert value(samples, "backlog_bot_incidents_opened_total") == 0
    assert value(samples, "backlog_bot_actions_total", kind="scale", outcome="succeeded") == 0
    assert "# TYPE phishnet_email_queue_size gauge" in text
    assert "# TYPE backlog_bot_actions_total counter" in text


async def test_openmetrics_when_the_scraper_asks_for_it(sandbox):
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{sandbox.base_url}/metrics",
            headers={"Accept": "application/openmetrics-text;version=1.0.0"},
        ) as resp,
    ):
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await resp.text()).endswith("# EOF\n")


async def test_counts_follow_the_incident_and_every_replica_reports_them(
    make_sandbox, redis_client, clock, tmp_path
):
    box = await make_sandbox()
    other = await make_sandbox(work_dir=tmp_path / "replica-2", replica_of=box)
    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(11):  # above 1,000 for the rule's 10 minutes
        await box.tick()
        clock.advance(timedelta(minutes=1))
    await other.settle()
    assert box.find_message(ActionId.ACK.value) is not None

    asked = await box.command("alice", "scale phishnet-worker-email 6")
    assert "Approval requested" in asked.text
    approval = box.find_message(ActionId.APPROVE.value)
    approved = await box.click("bob", approval, ActionId.APPROVE.value)
    assert approved.text == "Approved; the action succeeded."
    paged = await box.command("alice", "escalate 1")
    assert "Senior DevOps Engineer" in paged.text, paged.text

    here, _ = await scrape(box)
    there, _ = await scrape(other)
    for samples in (here, there):
        assert value(samples, "backlog_bot_incidents", state="open") == 1
        assert value(samples, "backlog_bot_incidents_opened_total") == 1
        assert value(samples, "backlog_bot_actions_total", kind="scale", outcome="succeeded") == 1
        assert value(samples, "backlog_bot_actions_total", kind="drain", outcome="failed") == 0
        assert value(samples, "backlog_bot_approvals_total", kind="scale") == 1
        assert value(samples, "backlog_bot_pages_total", tier="1") == 1
        assert value(samples, "backlog_bot_pages_total", tier="3") == 0
        assert value(samples, "phishnet_email_queue_size") == 1500
    # What only the process knows: its own rule state and its own Slack answers.
    assert value(here, "backlog_bot_rule_firing", rule="EmailQueueBacklog") == 1
    assert value(here, "backlog_bot_slack_ack_seconds_count", kind="command") == 2
    assert value(here, "backlog_bot_slack_ack_seconds_count", kind="interaction") == 1
    assert value(here, "backlog_bot_slack_ack_seconds_bucket", kind="command", le="+Inf") == 2
    assert value(there, "backlog_bot_slack_ack_seconds_count", kind="command") == 0


@pytest.fixture
async def gated(make_sandbox, redis_url):
    gate = await TcpGate(redis_url).start()
    box = await make_sandbox(redis_url=gate.url())
    yield box, gate
    await gate.stop()


async def test_redis_down_is_said_and_no_depth_is_made_up(gated, redis_client):
    sandbox, gate = gated
    await redis_client.lpush("email_processing_queue", *range(30))
    gate.cut()
    samples, _ = await scrape(sandbox)
    assert value(samples, "backlog_bot_redis_up") == 0
    assert "phishnet_email_queue_size" not in names(samples)
    assert "backlog_bot_queue_depth" not in names(samples)
    assert value(samples, "backlog_bot_postgres_up") == 1  # the rest still answers
    gate.restore()
    samples, _ = await scrape(sandbox)
    assert value(samples, "backlog_bot_redis_up") == 1
    assert value(samples, "phishnet_email_queue_size") == 30
