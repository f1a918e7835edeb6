"""The demo's story can show the scale's verdict with throughput before and after:
the demo's simulated PhishNet (12 emails/s, two email workers at 4/s each) on the
injected clock, its scale to the suggested 6 workers, and what the report reads."""

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
            QueueLoad(EMAIL, DEPLOYMENT, arrivals_per_second=12, jobs_per_worker_second=4),
            QueueLoad("analysis_queue", "phishnet-worker-analysis", 3, 4),
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
    assert "• Consumer throughput: ~100/min → ~" in effect

    # What the demo's report shows, from the effect service (bot/services/effects.py).
    incident = await sandbox.runtime.store.latest_incident(sandbox.playbook.name)
    [scale] = await sandbox.runtime.effects.action_effects(incident.id)
    assert (scale.verdict, scale.final) == (Verdict.HELPING, True)
    numbers = scale.numbers
    assert numbers.before.per_minute == pytest.approx(240)  # 12/s in, 2 x 4/s out
    assert numbers.change > 700  # 6 workers take 16/s more, until the queue is empty
    line = report_line(scale.summary, scale.verdict, numbers, scale.reason)
    assert line.startswith(
        f"Scale `{DEPLOYMENT}` from 2 to 6 replicas (namespace `phishnet`): throughput ~100/min → ~"
    )
    assert line.endswith("time to drain never (not draining) → empty: *helping*")
