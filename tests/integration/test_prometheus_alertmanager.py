"""The real Prometheus and Alertmanager (Debian's packages) against the running bot:
Prometheus scrapes the bot's /metrics, evaluates the runbook's rules (shortened
``for:``), Alertmanager posts to the bot's /alertmanager, the alert reaches Slack.

Timings from the platform notes (docs: DESIGN.md): scrape and evaluation every 1 s,
``for: 2s`` and ``group_wait: 1s`` deliver the first webhook about 10 s after start.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.demo.sandbox import Sandbox
from bot.domain.models import system_clock

DEPLOY = Path(__file__).parents[2] / "deploy" / "prometheus"
PROMETHEUS, ALERTMANAGER = "prometheus", "prometheus-alertmanager"

pytestmark = pytest.mark.skipif(
    shutil.which(PROMETHEUS) is None or shutil.which(ALERTMANAGER) is None,
    reason="needs Prometheus and Alertmanager: "
    "apt-get install --no-install-recommends prometheus prometheus-alertmanager",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def short_rules(path: Path) -> Path:
    """The shipped rules with every ``for:`` cut to 2 s."""
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "2s"
    path.write_text(yaml.safe_dump(rules))
    return path


def prometheus_config(path: Path, *, bot: str, rules: Path, alertmanager: str) -> Path:
    """The shipped prometheus.yml, pointed at this bot and this Alertmanager, every 1 s."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"] = {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "scrape_timeout": "1s",
    }
    config["rule_files"] = [str(rules)]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "backlog-bot"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [bot]}]
    path.write_text(yaml.safe_dump(config))
    return path


def alertmanager_config(path: Path, *, webhook: str, token_file: Path) -> Path:
    """The shipped alertmanager.yml, posting to this bot at once."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s")
    [hook] = config["receivers"][0]["webhook_configs"]
    hook["url"] = webhook
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path.write_text(yaml.safe_dump(config))
    return path


async def start(command: list[str], ready_url: str, log: Path) -> asyncio.subprocess.Process:
    """Starts a server and waits until its ``/-/ready`` answers 200 (30 s at most)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if process.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(ready_url) as resp:
                    if resp.status == 200:
                        return process
            await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"{command[0]} did not start:\n{output[-3000:]}")


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.fixture
async def monitored(make_sandbox, tmp_path) -> AsyncIterator[tuple[Sandbox, str]]:
    """The bot (real clock: Prometheus's alert times are real), Alertmanager posting to
    it with a bearer token, and Prometheus scraping it; yields (sandbox, Prometheus URL)."""
    token = "am-token-for-the-test"
    sandbox = await make_sandbox(clock=system_clock, alertmanager_token=token)
    token_file = tmp_path / "am-token"
    token_file.write_text(token)
    am_port, prom_port = free_port(), free_port()
    am_config = alertmanager_config(
        tmp_path / "alertmanager.yml",
        webhook=f"{sandbox.base_url}/alertmanager",
        token_file=token_file,
    )
    prom_config = prometheus_config(
        tmp_path / "prometheus.yml",
        bot=sandbox.base_url.removeprefix("http://"),
        rules=short_rules(tmp_path / "rules.yml"),
        alertmanager=f"127.0.0.1:{am_port}",
    )
    started: list[asyncio.subprocess.Process] = []
    try:
        started.append(
            await start(
                [
                    ALERTMANAGER,
                    f"--config.file={am_config}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                f"http://127.0.0.1:{am_port}/-/ready",
                tmp_path / "alertmanager.log",
            )
        )
        started.append(
            await start(
                [
                    PROMETHEUS,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                f"http://127.0.0.1:{prom_port}/-/ready",
                tmp_path / "prometheus.log",
            )
        )
        yield sandbox, f"http://127.0.0.1:{prom_port}"
    finally:
        for process in reversed(started):
            await stop(process)


async def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{prometheus}/api/v1/query", params={"query": promql}) as resp,
    ):
        body = await resp.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_prometheus_alert_reaches_slack_through_alertmanager(monitored, redis_client):
    sandbox, prometheus = monitored
    await redis_client.lpush("email_processing_queue", *range(1500))

    def alerted() -> bool:
        return any("EmailQueueBacklog" in m.rendered for m in sandbox.channel_messages())

    await sandbox.slack.wait_for(alerted, within=60)
    [alert] = [m for m in sandbox.channel_messages() if "EmailQueueBacklog" in m.rendered]
    assert "Incident #1" in alert.rendered
    assert "`email_processing_queue` is at *1,500*, above the threshold of 1,000" in alert.rendered
    [detected] = (await sandbox.runtime.store.timeline(1))[:1]
    assert detected.text.startswith("EmailQueueBacklog firing (Prometheus)")

    # What Prometheus stored is the bot's own export, under the runbook's name.
    [series] = await query(prometheus, 'phishnet_email_queue_size{job="backlog-bot"}')
    assert series["value"][1] == "1500"
    [up] = await query(prometheus, 'backlog_bot_redis_up{job="backlog-bot"}')
    assert up["value"][1] == "1"
