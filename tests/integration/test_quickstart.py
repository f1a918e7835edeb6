"""docs/quickstart.md's commands, as a reader runs them, against the Slack emulator in
place of slack.com and the tests' own Redis and PostgreSQL.

Each fenced block after a ``<!-- quickstart: run -->`` line is run as written,
in order, in a scratch directory holding the repository's ``manifest.yml`` and
``playbooks/``. The ``export`` lines name the settings; the test gives them its own
values (the emulator's tokens, its Redis and database), and ``localhost:3000``
becomes the port it chose. ``backlog-bot serve`` is started in the background and
the later blocks and Slack commands (over Socket Mode, as the quickstart sets the app
up) run against it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from bot.demo.sandbox import INCIDENT_CHANNEL_ID
from bot.domain.commands import USAGE
from bot.emulators.slack_api import SlackEmulator
from tests.integration.bot_process import SIGNING_SECRET, TOKEN
from tests.integration.proc import ROOT, bot_env, free_port, wait_http

DOC = ROOT / "docs" / "quickstart.md"
APP_TOKEN = "xapp-1-A0001-quickstart"
MARKER = "<!-- quickstart: run -->"
SERVE = "backlog-bot serve"


def runnable_blocks(text: str) -> list[str]:
    """The fenced blocks that follow a marker line, in order."""
    return re.findall(rf"^{re.escape(MARKER)}\n```sh\n(.*?)^```$", text, re.M | re.S)


def exported(block: str) -> tuple[list[str], str]:
    """The names a block exports, and the block without its ``export`` lines."""
    names = re.findall(r"^export ([A-Z_]+)=", block, re.M)
    return names, re.sub(r"^export [A-Z_]+=.*\n", "", block, flags=re.M)


def for_redis_cli(block: str, redis_url: str) -> str:
    """``redis-cli -u "$REDIS_URL"`` as written, except on the tests' own Redis (started
    on a unix socket when ``TEST_REDIS_URL`` is unset), whose ``unix://`` URL
    ``redis-cli -u`` does not take: there the same server by ``-s PATH -n DB``."""
    url = urlsplit(redis_url)
    if url.scheme != "unix":
        return block
    db = parse_qs(url.query).get("db", ["0"])[0]
    return block.replace('redis-cli -u "$REDIS_URL"', f"redis-cli -s {url.path} -n {db}")


async def run_block(block: str, env: dict[str, str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        block,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"quickstart block failed ({proc.returncode}):\n{block}\n{text}"
    return text


async def slash(slack: SlackEmulator, text: str, tag: str) -> str:
    """``/backlog <text>`` over Socket Mode; the bot's answer."""
    url = slack.response_url(tag, channel=INCIDENT_CHANNEL_ID, user="U0SREONCALL")
    await slack.socket_mode.send(
        "slash_commands",
        {
            "command": "/backlog",
            "text": text,
            "user_id": "U0SREONCALL",
            "user_name": "reader",
            "channel_id": INCIDENT_CHANNEL_ID,
            "team_id": "T0001",
            "response_url": url,
            "trigger_id": "1.2.3",
        },
    )
    await slack.wait_for(lambda: bool(slack.responses(tag)), within=30)
    return slack.responses(tag)[-1].text


def _with_bot_on_path() -> dict[str, str]:
    """Our environment with this interpreter's scripts (``backlog-bot``) first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
async def slack():
    emulator = SlackEmulator(
        bot_token=TOKEN,
        app_token=APP_TOKEN,
        channels={INCIDENT_CHANNEL_ID: "phishnet-incidents"},
    )
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="the quickstart uses redis-cli")
async def test_the_quickstart_runs_as_written(
    slack, tmp_path, data_dir, redis_url, redis_client, migrated_database
):
    blocks = runnable_blocks(DOC.read_text(encoding="utf-8"))
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "manifest.yml", work)
    (work / "playbooks").symlink_to(ROOT / "playbooks")
    port = free_port()
    values = {
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "REDIS_URL": redis_url,
        # The session database, emptied for this test (the quickstart's `migrate` then
        # finds the schema up to date): no incident another test left may show in `status`.
        "DATABASE_URL": migrated_database,
        "PLAYBOOK": "my-playbook.yml",
    }
    env = bot_env(
        tmp_path,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        BACKLOG_BOT_DATA_DIR=str(data_dir),
        PATH=_with_bot_on_path()["PATH"],
    )
    names_seen: list[str] = []
    outputs: list[str] = []
    serve: asyncio.subprocess.Process | None = None
    log_path = tmp_path / "serve.log"
    try:
        for block in blocks:
            names, commands = exported(block)
            names_seen += names
            env.update({name: values[name] for name in names})
            if commands.strip() == SERVE:
                with log_path.open("wb") as log:
                    serve = await asyncio.create_subprocess_exec(
                        "bash", "-c", f"exec {SERVE}", env=env, cwd=work, stdout=log, stderr=log
                    )
                status = await wait_http(f"http://127.0.0.1:{port}/readyz", within=90)
                assert status == 200, log_path.read_text(errors="replace")
                await slack.socket_mode.wait_connected(within=30)
                assert await slash(slack, "help", "help") == USAGE
                continue
            commands = commands.replace("localhost:3000", f"localhost:{port}")
            outputs.append(await run_block(for_redis_cli(commands, redis_url), env, work))
        assert sorted(names_seen) == sorted(values), "the quickstart's settings changed"
        assert serve is not None, "the quickstart no longer runs `backlog-bot serve`"

        manifest = yaml.safe_load((work / "manifest.socket-mode.yml").read_text())
        assert manifest["settings"]["socket_mode_enabled"] is True
        assert "url" not in manifest["features"]["slash_commands"][0]
        assert "my-playbook.yml: ok — playbook 'phishnet-queue-backlog'" in outputs[1]
        assert re.search(r"applied migrations|schema is up to date", outputs[2])
        assert '"ready": true' in outputs[3] or '"ready":true' in outputs[3]
        assert await redis_client.llen("email_processing_queue") == 1500
        status = await slash(slack, "status", "status")
        assert "`email_processing_queue`: 1,500 (alert above 1,000) :rotating_light:" in status
        assert "*Incident*: none open" in status

        serve.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(serve.wait(), 60) == 0, log_path.read_text()
    finally:
        if serve is not None and serve.returncode is None:
            serve.kill()
            await serve.wait()


def test_the_marked_blocks_are_found():
    """The marker finds the blocks (a reformatted page must not silently test nothing)."""
    blocks = runnable_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 6
    assert any(block.strip() == SERVE for block in blocks)


async def test_a_refused_step_fails_the_test(tmp_path):
    with pytest.raises(AssertionError, match="quickstart block failed"):
        await run_block("backlog-bot check-playbook missing.yml", _with_bot_on_path(), tmp_path)


def test_exports_are_taken_out_and_named():
    names, rest = exported("export A_B=1\nbacklog-bot migrate\n")
    assert names == ["A_B"]
    assert rest == "backlog-bot migrate\n"
