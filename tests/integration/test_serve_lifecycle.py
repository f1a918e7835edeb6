"""``backlog-bot serve`` as operators run it: without Kubernetes, on embedded servers
only when asked, and stopped by SIGTERM/SIGINT — as PID 1 too, during an action."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time

import asyncpg
import pytest

from bot.adapters.kube.unconfigured import NOT_CONFIGURED
from bot.adapters.slack.ids import ActionId
from tests.integration.bot_process import start_emulators, start_serve
from tests.integration.proc import processes_mentioning


@pytest.fixture
async def emulators(playbook):
    slack, kube = await start_emulators(playbook)
    yield slack, kube
    await kube.stop()
    await slack.stop()


async def test_without_kubernetes_it_serves_and_says_so(
    emulators, tmp_path, data_dir, redis_url, redis_client, migrated_database
):
    slack, _ = emulators
    bot = await start_serve(
        tmp_path, data_dir, slack, REDIS_URL=redis_url, DATABASE_URL=migrated_database
    )
    try:
        status, body = await bot.readyz()
        assert status == 200, body
        assert body["checks"]["kubernetes"] == {
            "state": "not configured",
            "required": False,
            "error": NOT_CONFIGURED,
        }
        assert body["embedded"] == [] and body["warnings"] == []
        answer = await bot.command("alice", "scale phishnet-worker-email 4")
        assert NOT_CONFIGURED in answer
        await redis_client.rpush("email_processing_queue", *range(5))
        assert "email_processing_queue" in await bot.command("alice", "status")
        assert NOT_CONFIGURED not in await bot.command("alice", "requeue")
        bot.signal(signal.SIGTERM)
        assert await bot.wait(within=20) == 0, bot.stderr  # a liveness bound, not a timing
    finally:
        await bot.kill()
    assert "SIGTERM received: stopping" in bot.stderr
    assert "backlog bot stopped" in bot.stderr


@pytest.mark.parametrize("how", ["--embedded", "BACKLOG_BOT_EMBEDDED=1"])
async def test_embedded_servers_only_when_asked_and_flagged(emulators, tmp_path, data_dir, how):
    slack, _ = emulators
    args, settings = (
        (("--embedded",), {}) if how == "--embedded" else ((), {"BACKLOG_BOT_EMBEDDED": "1"})
    )
    bot = await start_serve(tmp_path, data_dir, slack, *args, **settings)
    try:
        status, body = await bot.readyz()
        assert status == 200, body
        assert body["embedded"] == ["redis", "postgres"]
        assert [w.split(":")[0] for w in body["warnings"]] == [
            "Running on an embedded Redis (--embedded / BACKLOG_BOT_EMBEDDED)",
            "Running on an embedded PostgreSQL (--embedded / BACKLOG_BOT_EMBEDDED)",
        ]
        assert "the bot watches its own empty Redis" in bot.stderr  # said at start too
        running = {p.info["name"] for p in processes_mentioning(str(data_dir))}
        assert running >= {"redis-server", "postgres"}
        bot.signal(signal.SIGINT)
        assert await bot.wait(within=30) == 0, bot.stderr
    finally:
        await bot.kill()
    assert processes_mentioning(str(data_dir)) == []


async def _advisory_locks(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                # The sampler's lock has one bigint key (objsubid 1); action leases use
                # two int keys (objsubid 2).
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 1 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    finally:
        await conn.close()


async def _eventually(check, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
@pytest.mark.parametrize(
    ("held_for", "grace", "outcome"),
    [(2.0, 15, "finished"), (12.0, 2, "cut off")],
    ids=["action-finishes-in-grace", "action-cut-off"],
)
async def test_sigterm_to_pid1_during_an_action(
    emulators,
    tmp_path,
    data_dir,
    redis_url,
    redis_client,
    migrated_database,
    held_for,
    grace,
    outcome,
):
    """PID 1 of a new PID namespace, as in a container without an init: the kernel
    drops signals PID 1 has no handler for, so this fails if SIGTERM is not handled."""
    import os

    if os.geteuid() != 0:
        pytest.skip("unshare --pid needs root (CAP_SYS_ADMIN) here")
    slack, kube = emulators
    bot = await start_serve(
        tmp_path,
        data_dir,
        slack,
        pid1=True,
        REDIS_URL=redis_url,
        DATABASE_URL=migrated_database,
        KUBECONFIG=str(kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="phishnet")),
        BACKLOG_BOT_SHUTDOWN_GRACE=str(grace),
        BACKLOG_BOT_SAMPLE_INTERVAL="0.5",
    )
    try:
        # The sampler took the leader lock.
        await _eventually(lambda: _locked(migrated_database, 1))
        assert "Approval requested" in await bot.command("alice", "scale phishnet-worker-email 4")
        # Posted by the outbox sender, a moment after the answer.
        await slack.wait_for(lambda: bot.message_with(ActionId.APPROVE) is not None, within=15)
        approval = bot.message_with(ActionId.APPROVE)
        assert approval is not None
        kube.delay_next("patch", "deployments/scale", seconds=held_for)
        await bot.click("bob", approval, ActionId.APPROVE)

        async def scaling() -> bool:
            return any(r.method == "PATCH" and r.subresource == "scale" for r in kube.requests)

        await _eventually(scaling)  # the action is executing, held by the API server
        bot.signal(signal.SIGTERM)
        # Another replica can take the sampler over now, not after the grace period.
        await _eventually(lambda: _locked(migrated_database, 0), within=grace)
        assert bot.process.returncode is None or outcome == "finished"
        # Exits by itself (a liveness bound, generous for a loaded machine): the grace
        # it waits is BACKLOG_BOT_SHUTDOWN_GRACE, checked against Kubernetes' 30 s in
        # tests/unit/test_kubernetes_wiring.py, not timed here.
        assert await bot.wait(within=grace + 25) == 0, bot.stderr
    finally:
        await bot.kill()
    # What the bot says is written to its outbox with the state change; delivered
    # before exit when Slack keeps up, else by the next sender: read it there.
    conn = await asyncpg.connect(migrated_database)
    try:
        request_id, state, error = await conn.fetchrow(
            "SELECT id, state, error FROM action_requests"
        )
        reasons = await conn.fetch(
            "SELECT details->>'reason' AS reason FROM audit_log WHERE outcome = 'interrupted'"
        )
        said = {
            row["key"]: (json.loads(row["payload"]), row["state"])
            for row in await conn.fetch(
                "SELECT key, payload, state FROM slack_messages WHERE key = $1 OR thread_key = $1",
                f"request/{request_id}",
            )
        }
    finally:
        await conn.close()
    assert {delivery for _, delivery in said.values()} <= {"pending", "delivered"}
    request_message, _ = said[f"request/{request_id}"]
    assert ActionId.APPROVE.value not in json.dumps(request_message)  # no live buttons left
    texts = [json.dumps(payload) for payload, _ in said.values()]
    if outcome == "finished":
        assert (state, error) == ("succeeded", None)
        assert any(":white_check_mark:" in t and "done" in t for t in texts), texts
    else:
        assert (state, error) == ("failed", "interrupted: the bot stopped while this ran")
        assert [r["reason"] for r in reasons] == [
            f"the bot was stopped (SIGTERM) and it did not finish within the {grace} s "
            "shutdown grace period"
        ]
        assert any("was interrupted (the bot stopped while it ran)" in t for t in texts), texts
    assert processes_mentioning(str(data_dir)) == []


async def _locked(database_url: str, expected: int) -> bool:
    return await _advisory_locks(database_url) == expected


async def test_a_signal_during_start_up_leaves_nothing_running(emulators, tmp_path, data_dir):
    """SIGTERM while the embedded servers are still starting: they are stopped too."""
    from tests.integration.bot_process import SIGNING_SECRET, TOKEN
    from tests.integration.proc import ROOT, bot_command, bot_env

    slack, _ = emulators
    env = bot_env(
        tmp_path,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        BACKLOG_BOT_DATA_DIR=str(data_dir),
    )
    proc = await asyncio.create_subprocess_exec(
        *bot_command("serve", "--embedded"),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (data_dir / "redis" / "redis.pid").exists():  # Redis up, PostgreSQL next
            assert proc.returncode is None and time.monotonic() < deadline
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert "SIGTERM received: stopping" in err.decode()
    assert "Traceback" not in err.decode()
    assert processes_mentioning(str(data_dir)) == []


@pytest.mark.parametrize("which", ["outbox", "pages"])
async def test_a_sender_stops_when_woken_as_it_is_cancelled(sandbox, which):
    """Python 3.11's wait_for swallowed a cancel landing with a sender's wake-up, and
    a shutdown then waited for that sender forever."""
    runtime = sandbox.runtime
    sender = runtime.sender if which == "outbox" else runtime.paging.sender
    await sandbox.settle()
    await asyncio.sleep(0.05)  # idle, waiting to be woken
    # The wake-up and the cancel land in the same loop iteration, wake-up first.
    asyncio.get_running_loop().call_soon(sender.wake)
    stopping = asyncio.ensure_future(sender.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    if not done:
        stopping.cancel()  # also cancels the sender again, so the test can end
    assert stopping in done, "the sender ignored its cancellation"
