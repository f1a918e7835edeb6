"""The demo's story can show the scale's verdict with throughput before and after:
the demo's simulated PhishNet (250 emails a minute, two email workers at the runbook's
50 a minute each) on the injected clock, a scale to 6 workers, and what the report
reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.phishnet import QueueLoad, SimulatedPhishNet
from bot.domain.effect_text import report_line
from bot.domain.effects import Verdict
from tests.integration.scripted import in_thread

SAMPLE_EVERY = timedelta(seconds=15)  # the demo's (bot/demo/run.py)
EMAIL, DEPLOYMENT = "email_processing_queue", "phishnet-worker-email"


async def test_the_demo_scale_gets_a_verdict_with_throughput_before_and_after(
    sandbox, redis_client, clock
):
    async def ready(deployment: str) -> int:
        return (await sandbox.runtime.kube.deployment_status("phishnet", deployment)).ready

    world = SimulatedPhishNet(
        sandbox.runtime.redis,
        ready,
        [
            QueueLoad(EMAIL, DEPLOYMENT, arrivals_per_minute=250, jobs_per_worker_minute=50),
            QueueLoad("analysis_queue", "phishnet-worker-analysis", 60, 50),
        ],
    )

    async def minutes(count: float) -> None:
        for _ in range(int(count * 60 / SAMPLE_EVERY.total_seconds())):
            await world.advance(SAMPLE_EVERY.total_seconds())
            clock.advance(SAMPLE_EVERY)
            await sandbox.tick()

    while sandbox.find_message(ActionId.ACK.value) is None:  # the incident opens
        await minutes(1)
    await sandbox.command("alice", f"scale {DEPLOYMENT} 6")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    await sandbox.click("bob", approval, ActionId.APPROVE.value)
    await minutes(11)

    effect = in_thread(sandbox, approval, "Effect check").rendered
    assert ":white_check_mark: *Helping*" in effect and "Final verdict." in effect
    # 250 in; 2 workers took 100/min, 6 take 300/min: the queue turns from +150 to -50.
    assert "• Consumer throughput: ~100/min → ~300/min (+200/min)" in effect
    assert "growing 150/min → draining 50/min" in effect

    # What the demo's report shows, from the effect service (bot/services/effects.py).
    incident = await sandbox.runtime.store.latest_incident(sandbox.playbook.name)
    [scale] = await sandbox.runtime.effects.action_effects(incident.id)
    assert (scale.verdict, scale.final) == (Verdict.HELPING, True)
    numbers = scale.numbers
    assert numbers.before.per_minute == pytest.approx(150, abs=1)
    assert numbers.change == pytest.approx(200, abs=2)
    line = report_line(scale.summary, scale.verdict, numbers, scale.reason)
    assert line.startswith(
        f"Scale `{DEPLOYMENT}` from 2 to 6 replicas (namespace `phishnet`): throughput "
        "~100/min → ~300/min (+200/min); time to drain never (not draining) → "
    )
    assert line.endswith(": *helping*")

    # The report shows it under the scale (ReportService's verdict source).
    report = await sandbox.runtime.reports.current(incident.id)
    assert (
        ": helping: consumer throughput ~100/min → ~300/min (+200/min); time to drain never "
        "(not draining) → "
    ) in report.markdown

    # And the living alert carries it, under the last action.
    clock.advance(timedelta(minutes=1))  # past the alert's refresh interval
    await minutes(0.25)
    alert = sandbox.find_message(ActionId.ALERT_DIAGNOSE.value) or sandbox.find_message(
        ActionId.ALERT_STATUS.value
    )
    assert alert is not None
    assert "*Effect:* Scale `phishnet-worker-email` from 2 to 6 replicas" in alert.rendered
    assert "helping: consumer throughput ~100/min → ~300/min" in alert.rendered
