"""A game day whose process is killed mid-drill (``kill -9``: no ``finally`` runs) is
cleaned up by the next ``backlog-bot gameday``: exactly its synthetic jobs go, every
other job stays."""

from __future__ import annotations

import asyncio
import signal

from bot.domain.playbook import load_playbook
from tests.integration.proc import ROOT, bot_command, bot_env, run_bot
from tests.integration.test_gameday import PHISHNET, QUEUE, staging_text


async def test_a_killed_drill_is_cleaned_up_by_the_next(
    make_sandbox, tmp_path, redis_url, migrated_database, redis_client
):
    text = staging_text(
        {
            "staging": {"namespace": "phishnet-staging", "queues": [QUEUE]},
            "push": {"max_jobs": 3000, "per_step": 2000},
            "step": "0.2s",
        }
    ).replace("for: 10m", "for: 1h")  # it never fires before the kill
    path = tmp_path / "staging.yml"
    path.write_text(text, encoding="utf-8")
    box = await make_sandbox(playbook=load_playbook(path))
    real = ["email-1", "gameday-x-000000", '{"note": "gameday-"}']
    await redis_client.lpush(QUEUE, *real)
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
    proc = await asyncio.create_subprocess_exec(
        *bot_command("gameday", "--playbook", str(path)),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(120):
            while b"Pushed" not in (line := await proc.stdout.readline()):
                assert line, "the drill ended before pushing"
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    await redis_client.lpush(QUEUE, "email-2")  # arrived after the crash
    assert await redis_client.llen(QUEUE) > 1000  # the dead drill's jobs are still there

    code, out, err = await run_bot("gameday", "--playbook", str(path), "--dry-run", env=env)

    assert code == 0, (out, err)
    assert "Cleaned up interrupted game day" in out
    assert sorted(await redis_client.lrange(QUEUE, 0, -1)) == sorted([*real, "email-2"])
