"""Two ``backlog-bot serve`` processes on one Redis and one PostgreSQL: both answer
Slack, one runs the background work, and a SIGKILL of that one mid-incident —
while Slack holds the answer to a message it already stored — moves the work to
the other, losing nothing and saying nothing twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import yaml

from bot.adapters.slack.transport import METADATA_EVENT
from bot.emulators.slack_api import SlackEmulator
from bot.services.message_keys import page_key
from tests.integration.bot_process import BotProcess, start_emulators, start_serve

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
#: Liveness bounds for a loaded 2-CPU machine, not timings.
WITHIN = 30.0


@pytest.fixture
async def emulators(playbook):
    slack, kube = await start_emulators(playbook)
    yield slack, kube
    await kube.stop()
    await slack.stop()


def _fast_playbook(tmp_path: Path) -> Path:
    """PhishNet's playbook with an incident at the first sample above 1,000 and the
    first escalation tier paged 10 s later, so the test sees both in seconds."""
    data = yaml.safe_load(PLAYBOOK.read_text())
    data["rules"][0]["for"] = "0s"
    data["slack"]["incident_channels"]["mode"] = "fixed"  # everything in one channel
    data["escalation"]["tiers"][0]["after"] = "10s"
    path = tmp_path / "fast-playbook.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"  # liveness bound
        await asyncio.sleep(0.2)


async def _leading(bot: BotProcess) -> bool:
    _, body = await bot.readyz()
    return bool(body["leader"]["leading"])


async def _value(dsn: str, query: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


def _posted_by_outbox(slack: SlackEmulator) -> Counter[str]:
    """How many times each outbox row's message appears in Slack, every channel and
    thread and direct message included (the bot tags each message with its row's id)."""
    seen: Counter[str] = Counter()
    for channel in [*slack.workspace.channels, *slack.workspace.dms]:
        for message in slack.messages(channel):
            for shown in [message, *slack.thread(channel, message.ts)[1:]]:
                meta = shown.metadata or {}
                if meta.get("event_type") == METADATA_EVENT:
                    seen[str(meta["event_payload"]["message_id"])] += 1
    return seen


async def test_sigkill_of_the_leader_mid_incident_loses_nothing_and_repeats_nothing(
    emulators, tmp_path, data_dir, redis_url, redis_client, migrated_database
):
    slack, _ = emulators
    settings = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": migrated_database,
        "PLAYBOOK": str(_fast_playbook(tmp_path)),
        "BACKLOG_BOT_SAMPLE_INTERVAL": "0.5",
        "SLACK_TIMEOUT_SECONDS": "60",  # the held answer below outlives the leader
    }
    a = await start_serve(tmp_path, data_dir, slack, **settings)
    b: BotProcess | None = None
    try:
        await _eventually(lambda: _leading(a))
        b = await start_serve(tmp_path, data_dir, slack, **settings)
        status, body = await b.readyz()
        assert status == 200 and body["leader"]["leading"] is False  # ready, standing by
        # Both serve Slack.
        assert "email_processing_queue" in await b.command("alice", "status")
        assert "email_processing_queue" in await a.command("alice", "status")

        # The next message Slack stores gets its answer 45 s late: A's delivery is
        # in flight (outcome unknown) when it dies.
        slack.fail_after_storing("chat.postMessage", "timeout", delay=45)
        await redis_client.rpush("email_processing_queue", *range(1500))

        async def held() -> bool:
            return any(c.fault == "timeout" for c in slack.calls_to("chat.postMessage"))

        await _eventually(held)
        assert await _value(migrated_database, "SELECT count(*) FROM incidents") == 1
        assert await _value(migrated_database, "SELECT count(*) FROM pages") == 0
        await a.kill()  # SIGKILL: no lock released, no goodbye

        await _eventually(lambda: _leading(b))  # B takes over (within seconds)
        samples_then = await _value(migrated_database, "SELECT count(*) FROM queue_samples")

        async def paged_and_delivered() -> bool:
            pages = await _value(migrated_database, "SELECT count(*) FROM pages")
            # Posted (a ts); the living alert's later edits may wait for its refresh.
            unposted = await _value(
                migrated_database,
                "SELECT count(*) FROM slack_messages WHERE ts IS NULL AND kind = 'message'",
            )
            return pages >= 1 and unposted == 0

        # The page fell due after the kill: B sends it; everything A had to say before
        # it died is delivered by B.
        await _eventually(paged_and_delivered)
        samples_now = await _value(migrated_database, "SELECT count(*) FROM queue_samples")
        assert samples_now > samples_then  # sampling continues on B
    finally:
        await a.kill()
        if b is not None:
            await b.kill()

    assert await _value(migrated_database, "SELECT count(*) FROM incidents") == 1
    assert await _value(migrated_database, "SELECT count(*) FROM pages WHERE tier = 1") == 1
    failed = await _value(
        migrated_database, "SELECT count(*) FROM slack_messages WHERE state = 'failed'"
    )
    assert failed == 0
    conn = await asyncpg.connect(migrated_database)
    try:
        rows = await conn.fetch("SELECT id, key, ts FROM slack_messages WHERE ts IS NOT NULL")
    finally:
        await conn.close()
    # Files (the chart: ts is the file's id) are shared, not posted with metadata;
    # "skipped": nothing to say (no channel to invite tiers into in fixed mode).
    posted = {
        str(row["id"]): row["key"]
        for row in rows
        if not row["ts"].startswith("F") and row["ts"] != "skipped"
    }
    assert {"incident/1/alert", page_key(1, 1)} <= set(posted.values())
    # Each message the outbox delivered is in Slack exactly once — the one whose answer
    # was held when A died included — and nothing else is.
    assert _posted_by_outbox(slack) == Counter(dict.fromkeys(posted, 1))
    # Slack held the alert's answer while A died: B found it by its metadata instead of
    # posting it again.
    assert (
        len(
            [
                c
                for c in slack.calls_to("chat.postMessage")
                if c.args.get("channel") == "#phishnet-incidents"
            ]
        )
        == 1
    )
