"""``backlog-bot demo``: one whole incident, from backlog to report, with no credentials.

Embedded Redis and PostgreSQL (always: the demo never touches servers named
in ``REDIS_URL``/``DATABASE_URL``), the Slack and Kubernetes API emulators,
and a simulated PhishNet whose producer outpaces its two workers. Simulated
time runs ``speed`` times faster than real time. The on-call people's
commands and clicks are signed HTTP requests to the bot, as Slack sends them.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from bot.adapters.slack.ids import ActionId
from bot.app import DEFAULT_PLAYBOOK, playbook_file
from bot.demo.clock import SimulatedClock
from bot.demo.phishnet import QueueLoad, SimulatedPhishNet
from bot.demo.sandbox import PEOPLE, Sandbox
from bot.domain.playbook import Playbook, load_playbook
from bot.embedded import EmbeddedPostgres, EmbeddedRedis, default_data_dir
from bot.emulators.slack_api import EmulatorEvent

SAMPLE_EVERY = timedelta(seconds=15)
REAL_STEP_SECONDS = 0.05


class Transcript:
    """Prints the channel as people in it would see it, stamped with simulated time."""

    def __init__(self, clock: SimulatedClock, out: TextIO, enabled: bool) -> None:
        self._clock = clock
        self._out = out
        self._enabled = enabled
        self._names = {p.user_id: p.name for p in PEOPLE.values()}

    def say(self, text: str) -> None:
        if self._enabled:
            print(f"\n[{self._clock():%H:%M:%S}] {text}", file=self._out, flush=True)

    def on_event(self, event: EmulatorEvent) -> None:
        if not self._enabled or event.kind not in ("post", "update", "ephemeral", "response"):
            return
        who = "backlog-bot" if event.is_bot or event.kind == "response" else event.user
        private = f" (only {self._names.get(event.visible_to or '', event.visible_to)})"
        scope = {
            "update": " (updated)",
            "ephemeral": private,
            "response": private if event.visible_to else " (reply)",
        }.get(event.kind, "")
        thread = " ↳ in thread" if event.thread_ts and event.thread_ts != event.ts else ""
        body = "\n".join("    " + line for line in event.rendered.splitlines())
        print(f"  {who}{scope}{thread}:\n{body}", file=self._out, flush=True)


class Simulation:
    def __init__(self, sandbox: Sandbox, phishnet: SimulatedPhishNet, clock: SimulatedClock):
        self._sandbox = sandbox
        self._phishnet = phishnet
        self._clock = clock
        self._last = clock()
        self._last_sample = self._last - SAMPLE_EVERY

    async def run_until(self, done: Callable[[], bool], limit: timedelta) -> bool:
        """Advances the world until ``done()`` or ``limit`` of simulated time passes."""
        deadline = self._clock() + limit
        while self._clock() < deadline:
            await asyncio.sleep(REAL_STEP_SECONDS)
            now = self._clock()
            await self._phishnet.advance((now - self._last).total_seconds())
            self._last = now
            if now - self._last_sample >= SAMPLE_EVERY:
                self._last_sample = now
                await self._sandbox.runtime.monitor.tick()
            if done():
                return True
        return False

    def depth(self, queue: str) -> int:
        sample = self._sandbox.runtime.monitor.last_sample
        return sample.depths.get(queue, 0) if sample else 0


async def run_demo(
    *,
    report_path: Path | None = None,
    speed: float = 120.0,
    verbose: bool = True,
    data_dir: Path | None = None,
) -> int:
    data_dir = (data_dir or default_data_dir()) / "demo"
    shutil.rmtree(data_dir, ignore_errors=True)  # every demo starts from nothing
    data_dir.mkdir(parents=True)
    redis_server = EmbeddedRedis(data_dir / "redis")
    pg_server = EmbeddedPostgres(data_dir / "postgres")
    redis_url = await asyncio.to_thread(redis_server.start)
    database_url = await asyncio.to_thread(pg_server.start)
    clock = SimulatedClock(speed=speed)
    transcript = Transcript(clock, sys.stdout, verbose)
    playbook = load_playbook(playbook_file(DEFAULT_PLAYBOOK))
    sandbox = Sandbox(
        playbook=playbook,
        redis_url=redis_url,
        database_url=database_url,
        work_dir=data_dir,
        clock=clock,
        on_event=transcript.on_event,
        worker_replicas={name: 2 for name in playbook.deployments},
    )
    await sandbox.start()
    try:
        return await _story(sandbox, playbook, clock, transcript, report_path)
    finally:
        await sandbox.stop()
        redis_server.stop()
        pg_server.stop()


async def _story(
    sandbox: Sandbox,
    playbook: Playbook,
    clock: SimulatedClock,
    transcript: Transcript,
    report_path: Path | None,
) -> int:
    email = playbook.queues[0]
    rule = next(r for r in playbook.rules if r.queue == email.name and r.threshold)
    assert email.deployment is not None
    suggested = playbook.deployments[email.deployment].suggested_replicas or 6

    async def ready_replicas(deployment: str) -> int:
        status = await sandbox.runtime.kube.deployment_status(playbook.namespace, deployment)
        return status.ready

    loads = [
        QueueLoad(email.name, email.deployment, arrivals_per_second=12, jobs_per_worker_second=4),
        QueueLoad("analysis_queue", "phishnet-worker-analysis", 3, 4),
    ]
    world = Simulation(
        sandbox, SimulatedPhishNet(sandbox.runtime.redis, ready_replicas, loads), clock
    )
    transcript.say(
        f"PhishNet is receiving 12 emails/s; {email.deployment} runs 2 workers at 4/s each. "
        f"The bot samples every {SAMPLE_EVERY.seconds}s; `{rule.name}` fires after "
        f"{int(rule.for_.total_seconds() // 60)} min above {rule.threshold:,}."
    )

    def incident_opened() -> bool:
        return sandbox.find_message(ActionId.ACK.value) is not None

    if not await world.run_until(incident_opened, timedelta(hours=1)):
        print("demo: the backlog never raised an incident", file=sys.stderr)
        return 1

    transcript.say("alice (SRE on call) types: /backlog status")
    await sandbox.command("alice", "status")
    transcript.say("alice types: /backlog forecast")
    await sandbox.command("alice", "forecast")
    transcript.say("alice types: /backlog diagnose")
    await sandbox.command("alice", "diagnose")
    transcript.say(f"alice types: /backlog scale {email.deployment} {suggested}")
    await sandbox.command("alice", f"scale {email.deployment} {suggested}")
    approval = sandbox.find_message(ActionId.APPROVE.value)
    if approval is None:
        print("demo: no approval request was posted", file=sys.stderr)
        return 1
    transcript.say("dave (no approval rights) clicks Approve")
    await sandbox.click("dave", approval, ActionId.APPROVE.value)
    transcript.say("bob (Senior DevOps) clicks Approve")
    await sandbox.click("bob", approval, ActionId.APPROVE.value)

    drained = await world.run_until(
        lambda: world.depth(email.name) < rule.threshold // 10, timedelta(hours=1)
    )
    if not drained:
        print("demo: the queue did not drain after scaling", file=sys.stderr)
        return 1
    transcript.say(f"`{email.name}` is back to {world.depth(email.name):,}.")
    await sandbox.command(
        "alice",
        "rootcause Inbound email volume tripled (12/s) while only 2 email workers ran (8/s).",
    )
    await sandbox.command(
        "alice", "note lesson: queue growth was visible 10 minutes before the alert fired"
    )
    await sandbox.command(
        "alice", "note prevention: raise the email workers' HPA minReplicas to 4 at peak hours"
    )
    transcript.say("alice types: /backlog resolve")
    await sandbox.command("alice", "resolve")

    incident = await sandbox.runtime.store.latest_incident(playbook.name)
    assert incident is not None
    report = await sandbox.runtime.incidents.report(incident.id)
    path = report_path or Path.cwd() / f"backlog-demo-report-{incident.id}.md"
    path.write_text(report, encoding="utf-8")
    print(f"\nIncident report written to {path.resolve()}", flush=True)
    return 0
