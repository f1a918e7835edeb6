"""Game day (issue 14) against the real Redis and PostgreSQL and the Slack, Kubernetes
and PagerDuty emulators, on the injected clock: the drill steps the bot's own monitor,
escalation and outbox, and each of its steps moves the clock by ``gameday.step``."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.adapters.queues.gameday import push_synthetic
from bot.demo.sandbox import INCIDENT_CHANNEL_ID
from bot.domain.models import EventKind, IncidentState, system_clock
from bot.domain.playbook import Playbook, load_playbook
from bot.domain.playbook_gameday import synthetic_ids
from bot.services.gameday import DrillParts, GameDay
from bot.services.messages import Messages
from tests.integration.proc import bot_env, run_bot

PHISHNET = Path(__file__).parent.parent.parent / "playbooks" / "queue-backlog.yml"
QUEUE = "staging_email_processing_queue"


def staging_text(gameday: dict[str, object] | None = None) -> str:
    """PhishNet's playbook as a staging copy: its own name, namespace and queue names
    (so none is a production one), with a ``gameday`` section."""
    text = PHISHNET.read_text(encoding="utf-8")
    for old in ("email_processing_queue", "analysis_queue", "notification_queue"):
        text = text.replace(old, f"staging_{old}")
    text = text.replace("name: phishnet-queue-backlog", "name: phishnet-staging")
    text = text.replace("namespace: phishnet\n", "namespace: phishnet-staging\n")
    section = gameday or {
        "staging": {"namespace": "phishnet-staging", "queues": [QUEUE]},
        "push": {"max_jobs": 3000, "per_step": 2000},
        "step": "1m",
    }
    return text + "\n" + yaml.safe_dump({"gameday": section})


@pytest.fixture
def staging(tmp_path: Path) -> Playbook:
    path = tmp_path / "staging.yml"
    path.write_text(staging_text(), encoding="utf-8")
    return load_playbook(path)


def drill(box, playbook, clock, *, between_steps=None, progress=None) -> GameDay:
    runtime = box.runtime

    async def deliver() -> None:
        await box.settle()

    async def pace(step: timedelta) -> None:
        clock.advance(step)
        if between_steps is not None:
            await between_steps()

    parts = DrillParts(
        store=runtime.store,
        redis=runtime.redis,
        incidents=runtime.incidents,
        messages=Messages(clock),
        sample=runtime.monitor.tick,
        escalate=runtime.escalation.tick,
        deliver=deliver,
        pace=pace,
    )
    production = [load_playbook(PHISHNET), playbook]
    return GameDay(
        parts,
        playbook,
        clock,
        actor=box.slack.workspace.bot_user_id,
        production=production,
        progress=(progress.append if progress is not None else lambda _: None),
    )


def announcements(box) -> list[str]:
    """The announcement channel's messages as people read them (the blocks' sections;
    a message's ``text`` is only its notification line)."""
    return [
        "\n".join(b["text"]["text"] for b in m.blocks or [] if b.get("type") == "section") or m.text
        for m in box.slack.messages(INCIDENT_CHANNEL_ID)
        if not m.is_system
    ]


async def test_a_drill_passes_and_leaves_every_real_job_in_place(
    make_sandbox, staging, redis_client, clock
):
    box = await make_sandbox(playbook=staging)
    # Real jobs already waiting, some carrying the prefix's text without being ours.
    before = [
        "email-1",
        '{"id": "email-2", "subject": "gameday-20261128T090000-beef-000001"}',
        "gameday-20261128T090000-beef-000001x",
        "not-gameday-000002",
    ]
    await redis_client.lpush(QUEUE, *before)
    await redis_client.lpush("email_processing_queue", "production-1")
    arriving = iter(f"email-arrived-{i}" for i in range(1000))
    concurrent: list[str] = []

    async def a_real_job_arrives() -> None:
        job = next(arriving)
        concurrent.append(job)
        await redis_client.lpush(QUEUE, job)

    lines: list[str] = []
    game = drill(box, staging, clock, between_steps=a_real_job_arrives, progress=lines)
    result = await game.run()

    assert result is not None and result.passed, result and result.lines
    # Enough to hold the queue the playbook's margin (100) above the threshold (1,000).
    pushed = 1000 + 100 + 1 - len(before)
    assert (result.pushed, result.removed, result.taken) == (pushed, pushed, 0)
    left = await redis_client.lrange(QUEUE, 0, -1)
    assert Counter(left) == Counter(before + concurrent)
    assert await redis_client.lrange("email_processing_queue", 0, -1) == ["production-1"]
    summary = announcements(box)[-1]
    assert f"Game day {result.run_id} PASSED" in summary
    assert "Time to detect: 10m (target 11m)." in summary
    assert "Time to post the alert in its channel: 10m (target 12m)." in summary
    assert "Time to page: 40m (target 42m)." in summary
    assert f"{pushed} pushed, {pushed} removed, 0 already taken by workers" in summary
    assert "starting: synthetic jobs go onto the staging queue" in announcements(box)[0]
    assert any("First page delivered after 40m" in line for line in lines)
    incident = await box.runtime.store.get_incident(result.incident_id)
    assert incident.state is IncidentState.RESOLVED
    assert incident.acknowledged_by == box.slack.workspace.bot_user_id
    timeline = await box.runtime.store.timeline(incident.id)
    kinds = [e.kind for e in timeline]
    assert EventKind.ACKNOWLEDGED in kinds and EventKind.RESOLVED in kinds
    assert any("acknowledged by the drill" in e.text for e in timeline)
    assert any("was a drill on a staging queue" in e.text for e in timeline)
    run = await box.runtime.store.gameday_run(result.run_id)
    assert (run.outcome, run.pushed, run.removed) == ("passed", pushed, pushed)


async def test_a_missed_target_fails_the_drill_naming_it(
    make_sandbox, tmp_path, redis_client, clock
):
    path = tmp_path / "staging.yml"
    path.write_text(
        staging_text(
            {
                "staging": {"namespace": "phishnet-staging", "queues": [QUEUE]},
                "push": {"max_jobs": 3000, "per_step": 2000},
                "targets": {"page": "35m"},
                "step": "1m",
            }
        ),
        encoding="utf-8",
    )
    staging = load_playbook(path)
    box = await make_sandbox(playbook=staging)
    await redis_client.lpush(QUEUE, "email-1")
    result = await drill(box, staging, clock).run()

    assert result is not None and not result.passed
    summary = announcements(box)[-1]
    assert f"Game day {result.run_id} FAILED" in summary
    assert "Missed: time to page: never happened (target 35m)." in summary
    assert "Time to detect: 10m (target 11m)." in summary
    assert await redis_client.lrange(QUEUE, 0, -1) == ["email-1"]
    run = await box.runtime.store.gameday_run(result.run_id)
    assert run.outcome == "failed"


async def test_an_interrupted_drill_is_cleaned_up_by_the_next(
    make_sandbox, staging, redis_client, clock
):
    """A drill whose process died after pushing leaves what the drill writes before
    each push (its run, the ids reserved) and the pushed jobs; the next drill removes
    exactly those, before anything else."""
    box = await make_sandbox(playbook=staging)
    store = box.runtime.store
    await store.start_gameday("dead", "phishnet-staging", QUEUE, "gameday-", clock())
    await store.reserve_gameday_ids("dead", 450)
    await push_synthetic(box.runtime.redis, QUEUE, synthetic_ids("gameday-", "dead", 0, 400))
    await store.record_gameday_push("dead", 400)
    assert await redis_client.rpop(QUEUE) == "gameday-dead-000000"  # a worker took it
    await redis_client.lpush(QUEUE, "email-1", "gameday-dead-000001-not-ours", "email-2")

    lines: list[str] = []
    assert await drill(box, staging, clock, progress=lines).run(dry_run=True) is None

    assert sorted(await redis_client.lrange(QUEUE, 0, -1)) == [
        "email-1",
        "email-2",
        "gameday-dead-000001-not-ours",
    ]
    assert "Cleaned up interrupted game day dead: 399 synthetic jobs removed" in lines[0]
    run = await store.gameday_run("dead")
    assert (run.outcome, run.removed, run.taken) == ("interrupted", 399, 1)
    assert any("Dry run: nothing pushed." in line for line in lines)


async def test_the_command_runs_a_drill_on_the_wall_clock(
    make_sandbox, tmp_path, redis_url, migrated_database, redis_client
):
    """``backlog-bot gameday`` itself, end to end on real time: a staging playbook whose
    rule fires after 1 s and whose first tier pages after 2 s, stepped every 0.2 s, with
    targets of minutes (nothing here depends on how fast the machine is)."""
    text = staging_text(
        {
            "staging": {"namespace": "phishnet-staging", "queues": [QUEUE]},
            "push": {"max_jobs": 2000, "per_step": 2000},
            "targets": {"detect": "2m", "post": "3m", "page": "4m"},
            "step": "0.2s",
        }
    )
    text = text.replace("for: 10m", "for: 1s").replace("after: 30m", "after: 2s")
    path = tmp_path / "staging.yml"
    path.write_text(text, encoding="utf-8")
    box = await make_sandbox(playbook=load_playbook(path), clock=system_clock)
    await redis_client.lpush(QUEUE, "email-1")
    env = bot_env(
        tmp_path,
        SLACK_BOT_TOKEN=box.bot_token,
        SLACK_SIGNING_SECRET=box.signing_secret,
        SLACK_API_URL=box.slack.api_url,
        REDIS_URL=redis_url,
        DATABASE_URL=migrated_database,
        KUBECONFIG=str(box.work_dir / "kubeconfig"),
        PAGERDUTY_EVENTS_URL=box.pagerduty.events_url,
        PLAYBOOK=str(PHISHNET),
    )

    dry = await run_bot("gameday", "--playbook", str(path), "--dry-run", env=env)
    assert dry[0] == 0, dry
    assert "Dry run: nothing pushed." in dry[1]
    assert await redis_client.lrange(QUEUE, 0, -1) == ["email-1"]

    code, out, err = await run_bot("gameday", "--playbook", str(path), env=env)

    assert code == 0, (out, err)
    assert "PASSED" in out and "First page delivered after" in out
    assert await redis_client.lrange(QUEUE, 0, -1) == ["email-1"]
    assert "PASSED" in announcements(box)[-1]


async def test_a_drill_stopped_by_an_error_removes_its_jobs_on_the_way_out(
    make_sandbox, staging, redis_client, clock
):
    box = await make_sandbox(playbook=staging)
    await redis_client.lpush(QUEUE, "email-1")
    steps = iter(range(100))

    async def stop_at_the_third_step() -> None:
        if next(steps) == 2:
            raise RuntimeError("the operator's laptop went to sleep")

    said: list[str] = []
    game = drill(box, staging, clock, between_steps=stop_at_the_third_step, progress=said)
    with pytest.raises(RuntimeError):
        await game.run()

    assert await redis_client.lrange(QUEUE, 0, -1) == ["email-1"]
    assert re.search(
        r"Game day \S+ failed \(the operator's laptop went to sleep\): removed [1-9]\d* "
        r"synthetic jobs \(0 already taken by workers\)\.",
        said[-1],
    ), said[-1]
    lines: list[str] = []
    await drill(box, staging, clock, progress=lines).run(dry_run=True)
    # Recorded as interrupted on the way out: the next drill has nothing to clean up.
    assert not any("Cleaned up" in line for line in lines), lines


async def test_a_drill_stopped_by_a_signal_says_so_and_records_it(
    make_sandbox, staging, redis_client, clock
):
    """Ctrl-C cancels the drill (bot/lifecycle.py run_interruptibly): its jobs go, and
    the run is finished as interrupted rather than left for the next drill."""
    box = await make_sandbox(playbook=staging)
    steps = iter(range(100))

    async def ctrl_c_at_the_third_step() -> None:
        if next(steps) == 2:
            raise asyncio.CancelledError

    said: list[str] = []
    game = drill(box, staging, clock, between_steps=ctrl_c_at_the_third_step, progress=said)
    with pytest.raises(asyncio.CancelledError):
        await game.run()

    assert await redis_client.llen(QUEUE) == 0
    assert "was stopped (a signal): removed" in said[-1]
    lines: list[str] = []
    await drill(box, staging, clock, progress=lines).run(dry_run=True)
    assert not any("Cleaned up" in line for line in lines), lines
