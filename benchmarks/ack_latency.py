"""How fast Backlog Bot acknowledges Slack, against a bare Bolt app that only acks.

    python benchmarks/ack_latency.py [--rounds 10] [--concurrency 50]

Slack gives an app 3 s to acknowledge a slash command or a click; the goal is a p99
under 100 ms and within 1.5x of a bare Bolt app on aiohttp that does nothing but ack.

Three processes, real HTTP between them:
- ``backlog-bot serve`` (the production entry point: Bolt on aiohttp, signature
  checks, its middleware, metrics), on an embedded Redis and PostgreSQL started here,
  talking to the Slack and Kubernetes API emulators;
- a bare Bolt ``AsyncApp`` served by its own ``web_app()`` that acks ``/backlog`` and
  ``backlog_approve`` and does nothing else (``--bare-server``, started by this script);
- this script: the emulators (each on its own thread and event loop) and the client,
  which signs every request as Slack does and times it from sending to the answer.

Each round sends ``--concurrency`` signed ``/backlog status`` commands at once, then as
many clicks on one Approve button at once (for the bot, a fresh scale request per
round: the first click by an approver runs it, the others are told it already ran).
Rounds alternate between the bot and the bare app, in one run. After each bot round
the script waits until every command and click has had its answer through the
``response_url``, so the next round starts from a quiet bot and nothing went missing.

The last line is exactly ``ack p50_ms=A p99_ms=B ratio_p99_to_bare=C`` (the bot's).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ack_requests import APPROVER, Target, click_body, command_body, timed_post  # noqa: E402
from benchmarks.ack_servers import EmulatorThread, bare_server, free_port, wait_healthy  # noqa: E402
from bot.demo.sandbox import INCIDENT_CHANNEL_ID, PEOPLE, manifest_scopes  # noqa: E402
from bot.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from bot.emulators.kube import KubeEmulator  # noqa: E402
from bot.emulators.slack_api import SlackEmulator, SlackUserInfo  # noqa: E402

REQUESTER = PEOPLE["alice"]


class Bench:
    def __init__(
        self, slack: SlackEmulator, emulator: EmulatorThread, concurrency: int, command: str
    ) -> None:
        self.command = command
        self.slack = slack
        self.emulator = emulator
        self.concurrency = concurrency
        self._round = 0
        self._used: set[str] = set()

    def url(self, tag: str) -> str:
        return self.emulator.run(self._url(tag))

    async def _url(self, tag: str) -> str:
        return self.slack.response_url(tag, channel=INCIDENT_CHANNEL_ID, user=APPROVER.user_id)

    def answered(self, prefix: str) -> int:
        return len([r for r in list(self.slack.responses()) if r.tag.startswith(prefix)])

    async def approval(self, http: aiohttp.ClientSession, bot: Target) -> tuple[str, str]:
        """A fresh scale request in the channel (not timed); its id and message ts."""
        self._round += 1
        tag = f"ask-{self._round}"
        replicas = 3 + self._round % 10
        body = command_body(f"scale phishnet-worker-email {replicas}", REQUESTER, self.url(tag))
        await timed_post(http, bot, body)
        for _ in range(300):
            for message in reversed(list(self.slack.messages(INCIDENT_CHANNEL_ID))):
                for block in message.blocks or []:
                    for element in block.get("elements", []):
                        if element.get(
                            "action_id"
                        ) == "backlog_approve" and message.ts not in getattr(self, "_used", set()):
                            self._used = getattr(self, "_used", set()) | {message.ts}
                            return str(element["value"]), message.ts
            await asyncio.sleep(0.05)
        raise SystemExit("the bot posted no approval request")

    async def round(
        self, http: aiohttp.ClientSession, target: Target, approval: tuple[str, str]
    ) -> list[float]:
        n = self.concurrency
        tag = f"{target.name}-{self._round}-{secrets.token_hex(3)}"
        statuses = [
            command_body(self.command, REQUESTER, self.url(f"{tag}-s{i}")) for i in range(n)
        ]
        clicks = [click_body(*approval, self.url(f"{tag}-c{i}")) for i in range(n)]
        # The emulators share this process: its own garbage collections (which their
        # records make long) must not land in a timed batch, whichever app it times.
        gc.collect()
        gc.disable()
        try:
            times = await asyncio.gather(*(timed_post(http, target, b) for b in statuses))
            times += await asyncio.gather(*(timed_post(http, target, b) for b in clicks))
        finally:
            gc.enable()
        if target.name == "bot":
            deadline = time.monotonic() + 60
            while self.answered(tag) < 2 * n:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {self.answered(tag)} of {2 * n} requests were answered")
                await asyncio.sleep(0.05)
        return list(times)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(args: argparse.Namespace) -> None:
    """Starts the servers and processes, measures, stops everything."""
    work = Path(tempfile.mkdtemp(prefix="bb-ack-bench-"))
    work.chmod(0o755)  # the embedded PostgreSQL drops to its own user
    token = "xoxb-" + secrets.token_hex(8)
    secret, bare_secret = secrets.token_hex(16), secrets.token_hex(16)
    emulator = EmulatorThread()
    slack = SlackEmulator(
        bot_token=token,
        users={p.user_id: SlackUserInfo(name=p.name, title=p.title) for p in PEOPLE.values()},
        channels={INCIDENT_CHANNEL_ID: "phishnet-incidents"},
        scopes=manifest_scopes(),
    )
    emulator.run(slack.start())
    kube = KubeEmulator()
    kube.start_in_thread()
    for name in ("phishnet-worker-email", "phishnet-worker-analysis"):
        labels = {"component": "worker"}
        kube.add_deployment(
            "phishnet", name, replicas=2, labels=labels, pod_labels={**labels, "app": name}
        )
    redis_server, pg_server = EmbeddedRedis(work / "redis"), EmbeddedPostgres(work / "postgres")
    redis_url, database_url = redis_server.start(), pg_server.start()
    bot_port, bare_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "KUBECONFIG": str(kube.write_kubeconfig(work / "kubeconfig", namespace="phishnet")),
        "PORT": str(bot_port),
        "BACKLOG_BOT_DATA_DIR": str(work),
    }
    bot_log, bare_log = work / "bot.log", work / "bare.log"
    with bot_log.open("wb") as out:
        bot_proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    with bare_log.open("wb") as out:
        bare_proc = subprocess.Popen(
            [sys.executable, __file__, "--bare-server", str(bare_port)],
            env={**env, "SLACK_SIGNING_SECRET": bare_secret},
            stdout=out,
            stderr=out,
        )
    bot = Target("bot", f"http://127.0.0.1:{bot_port}/slack/events", secret)
    bare = Target("bare", f"http://127.0.0.1:{bare_port}/slack/events", bare_secret)
    try:
        asyncio.run(
            run(args, slack, emulator, (bot, bot_proc, bot_log), (bare, bare_proc, bare_log))
        )
    finally:
        for proc in (bot_proc, bare_proc):
            proc.terminate()
            proc.wait(timeout=20)
        if args.keep_log:
            shutil.copy(bot_log, args.keep_log)
        kube.stop_thread()
        emulator.run(slack.stop())
        emulator.stop()
        redis_server.stop()
        pg_server.stop()
        shutil.rmtree(work, ignore_errors=True)


Server = tuple[Target, "subprocess.Popen[bytes]", Path]


async def run(
    args: argparse.Namespace,
    slack: SlackEmulator,
    emulator: EmulatorThread,
    bot: Server,
    bare: Server,
) -> None:
    await wait_healthy(bot[0].url.replace("/slack/events", "/healthz"), bot[1], bot[2])
    await wait_healthy(bare[0].url, bare[1], bare[2])
    await measure(args, slack, emulator, bot[0], bare[0])
    if args.server_side:
        metrics = bot[0].url.replace("/slack/events", "/metrics")
        async with aiohttp.ClientSession() as http, http.get(metrics) as resp:
            for line in (await resp.text()).splitlines():
                if line.startswith("backlog_bot_slack_ack_seconds"):
                    print(line)


async def measure(
    args: argparse.Namespace,
    slack: SlackEmulator,
    emulator: EmulatorThread,
    bot: Target,
    bare: Target,
) -> None:
    bench = Bench(slack, emulator, args.concurrency, args.command)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    results: dict[str, list[float]] = {"bot": [], "bare": []}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        warm = await bench.approval(http, bot)  # Bolt's lazy auth.test, pools, imports
        await bench.round(http, bot, warm)
        await bench.round(http, bare, warm)
        for n in range(1, args.rounds + 1):
            approval = await bench.approval(http, bot)
            for target in (bot, bare):
                times = await bench.round(http, target, approval)
                results[target.name] += times
                half = len(times) // 2
                print(
                    f"round {n:2} {target.name:4}: p50 {statistics.median(times):6.1f} ms  "
                    f"p99 {percentile(times, 99):6.1f} ms  max {max(times):6.1f} ms  "
                    f"(commands p99 {percentile(times[:half], 99):.1f}, "
                    f"clicks p99 {percentile(times[half:], 99):.1f})",
                    flush=True,
                )
    bot_times, bare_times = results["bot"], results["bare"]
    p50, p99 = statistics.median(bot_times), percentile(bot_times, 99)
    bare_p99 = percentile(bare_times, 99)
    print(
        f"bare Bolt app: p50 {statistics.median(bare_times):.1f} ms, p99 {bare_p99:.1f} ms, "
        f"max {max(bare_times):.1f} ms over {len(bare_times)} requests"
    )
    print(
        f"Backlog Bot:   p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(bot_times):.1f} ms "
        f"over {len(bot_times)} requests (every one answered through its response_url)"
    )
    print(f"ack p50_ms={p50:.1f} p99_ms={p99:.1f} ratio_p99_to_bare={p99 / bare_p99:.2f}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--command", default="status", help="what the commands ask (status)")
    parser.add_argument(
        "--server-side", action="store_true", help="print the bot's own ack histogram"
    )
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the bot's log here")
    parser.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    options = parse()
    if options.bare_server is not None:
        bare_server(options.bare_server)
    else:
        main(options)
