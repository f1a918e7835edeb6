"""The monitor against real Redis: one round trip, outages reported once."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.queues.depths import connect, queue_depths
from bot.demo.sandbox import INCIDENT_CHANNEL_ID
from bot.domain.models import QueueSample
from bot.services.messages import Messages
from bot.services.monitor import Monitor
from tests.integration.tcp_gate import TcpGate


async def test_depths_of_every_queue(redis_client, playbook):
    await redis_client.lpush("email_processing_queue", *range(7))
    await redis_client.lpush("analysis_queue", *range(3))
    depths = await queue_depths(redis_client, playbook.queue_names)
    assert depths == {"email_processing_queue": 7, "analysis_queue": 3, "notification_queue": 0}


async def test_redis_outage_is_reported_once_and_recovery_once(sandbox, clock, playbook, redis_url):
    gate = await TcpGate(redis_url).start()
    client = connect(gate.url(), timeout_seconds=0.5)
    runtime = sandbox.runtime
    monitor = Monitor(client, runtime.store, runtime.incidents, Messages(clock), playbook, clock)
    try:
        assert await monitor.tick() is not None
        gate.cut()
        for _ in range(3):
            assert await monitor.tick() is None
            clock.advance(timedelta(seconds=15))
        await sandbox.settle()
        posts = [m.text for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID)]
        assert len([p for p in posts if "cannot read the queue depths" in p]) == 1
        assert "redis://" not in " ".join(posts)
        gate.restore()
        assert await monitor.tick() is not None
        assert await monitor.tick() is not None
        await sandbox.settle()
        posts = [m.text for m in sandbox.slack.messages(INCIDENT_CHANNEL_ID)]
        assert len([p for p in posts if "monitoring has resumed" in p]) == 1
    finally:
        await client.aclose()
        await gate.stop()


async def test_forecast_command_from_stored_samples(sandbox, redis_client, clock):
    for _ in range(5):
        await redis_client.lpush("email_processing_queue", *range(100))
        await sandbox.runtime.monitor.tick()
        clock.advance(timedelta(minutes=1))
    answer = await sandbox.command("alice", "forecast")
    assert "*Forecast: now*" in answer.text
    # +100/min with the sandbox's 2 workers: 200 arriving; (200 + 500 / 10) / 50 = 5.
    assert (
        "• `email_processing_queue` → *5* `phishnet-worker-email` workers: 500 waiting, "
        "growing 100/min with 2 workers ready → about 200 arrivals/min; at 50 jobs per "
        "worker-minute, clearing the backlog within 10m needs 5 workers (bounds 2 to 20); "
        "above 1,000 in ~5m"
    ) in answer.text
    assert "`notification_queue`: 0, flat" in answer.text


async def test_a_restart_keeps_the_for_timer(sandbox, redis_client, clock, playbook):
    from bot.services.incidents import IncidentService

    await redis_client.lpush("email_processing_queue", *range(1500))
    for _ in range(9):  # 9 minutes above the threshold, then the bot restarts
        await sandbox.runtime.monitor.tick()
        clock.advance(timedelta(minutes=1))
    restarted = IncidentService(sandbox.runtime.store, Messages(clock), playbook, clock)
    await restarted.restore()
    clock.advance(timedelta(minutes=1))
    opened = await restarted.observe(QueueSample(clock(), {"email_processing_queue": 1500}))
    assert opened is not None  # fired at 10 minutes, not 10 minutes after the restart
    await sandbox.settle()
    assert "for *10m*" in sandbox.find_message("backlog_ack").rendered
