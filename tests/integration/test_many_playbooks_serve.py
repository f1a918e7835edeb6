"""``backlog-bot serve`` with ``PLAYBOOK`` naming a directory, as a real process:
every valid playbook runs, the broken one is listed in ``/readyz`` and the log, and
with no valid playbook it exits 2 naming every problem (docs/many-playbooks.md)."""

from __future__ import annotations

import signal

import pytest

from tests.integration.bot_process import start_emulators, start_serve
from tests.integration.many_support import BILLING_CHANNEL_ID, broken_text, write_playbooks
from tests.integration.proc import bot_env, message_lines, run_bot


@pytest.fixture
async def emulators(playbook):
    slack, kube = await start_emulators(playbook)
    slack.add_channel(BILLING_CHANNEL_ID, "billing-incidents")
    yield slack, kube
    await kube.stop()
    await slack.stop()


async def test_serve_runs_every_valid_playbook_of_the_directory(
    emulators, tmp_path, data_dir, redis_url, redis_client, migrated_database
):
    slack, _ = emulators
    directory = write_playbooks(tmp_path / "playbooks")
    bot = await start_serve(
        tmp_path,
        data_dir,
        slack,
        REDIS_URL=redis_url,
        DATABASE_URL=migrated_database,
        PLAYBOOK=str(directory),
    )
    try:
        status, body = await bot.readyz()
        assert status == 200, body
        assert body["playbooks"][str(directory / "c-broken.yml")] == [
            "queues[0].deployment: 'payroll-worker' is not listed under deployments"
        ]
        assert body["playbooks"]["billing-queue-backlog"] == "running"
        await redis_client.rpush("invoice_queue", *range(7))
        answer = await bot.command("alice", "status")
        assert "*Playbook `phishnet-queue-backlog`*" in answer
        assert "*Playbook `billing-queue-backlog`*" in answer and "invoice_queue" in answer
        bot.signal(signal.SIGTERM)
        assert await bot.wait(within=20) == 0, bot.stderr  # a liveness bound, not a timing
    finally:
        await bot.kill()
    assert "playbook cannot run" in bot.stderr and "payroll-worker" in bot.stderr
    assert "backlog bot stopped" in bot.stderr


async def test_serve_exits_2_when_no_playbook_of_the_directory_can_run(
    tmp_path, data_dir, redis_url, migrated_database
):
    directory = tmp_path / "playbooks"
    directory.mkdir()
    (directory / "payroll.yml").write_text(broken_text())
    env = bot_env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-unused",
        SLACK_SIGNING_SECRET="unused",
        REDIS_URL=redis_url,
        DATABASE_URL=migrated_database,
        PLAYBOOK=str(directory),
        BACKLOG_BOT_DATA_DIR=str(data_dir),
    )
    code, _, err = await run_bot("serve", env=env, limit=90)
    assert code == 2, err
    [line] = message_lines(err)
    assert line == (
        f"backlog-bot: PLAYBOOK: no playbook in {directory} can be used: "
        f"{directory / 'payroll.yml'}: queues[0].deployment: 'payroll-worker' is not listed "
        "under deployments"
    )
