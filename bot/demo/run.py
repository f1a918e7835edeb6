"""``backlog-bot demo``: one whole incident, from backlog to report, with no credentials.

Embedded Redis and PostgreSQL (always: the demo never touches servers named
in ``REDIS_URL``/``DATABASE_URL``), the Slack and Kubernetes API emulators (the
Slack token has exactly the manifest's scopes), and a simulated PhishNet whose
email arrivals outpace its two workers at the runbook's 50 jobs per
worker-minute, and one of whose workers dies holding a batch of jobs. Simulated
time runs ``speed`` times faster than real time. The on-call people's commands and
clicks are signed HTTP requests to the bot, as Slack sends them.

The story: the incident's channel is created and the on-call person invited; L1
is paged (on a fast timer: the demo's playbook pages L1 after 2 minutes, not 30)
and acknowledges with the page's button; ``diagnose``; the alert's Scale button
(the capacity model's count) is refused to someone without the role, then
approved; ``requeue`` finds the dead worker's jobs by their stopped heartbeats and
moves them once approved; the alert is edited as the queue drains; recovery is
announced; Resolve; the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.adapters.slack.ids import ActionId
from bot.app import DEFAULT_PLAYBOOK, playbook_file
from bot.backends import Backends, start_embedded
from bot.demo.clock import SimulatedClock
from bot.demo.phishnet import Processing, QueueLoad, SimulatedPhishNet, WorkerCrash
from bot.demo.sandbox import PEOPLE, Sandbox
from bot.demo.transcript import Transcript
from bot.domain.playbook import Playbook, load_playbook
from bot.embedded import EmbeddedPostgres, EmbeddedRedis, default_data_dir, stop_leftovers
from bot.emulators.slack_api import StoredMessage

SAMPLE_EVERY = timedelta(seconds=15)
ESCALATION_EVERY = timedelta(seconds=30)
REAL_STEP_SECONDS = 0.05
EMAILS_PER_MINUTE = 250
CRASH = WorkerCrash(after=timedelta(minutes=3), queue="email_processing_queue", jobs=40)


def demo_playbook(playbook: Playbook) -> Playbook:
    """The PhishNet playbook with L1 paged after 2 minutes instead of 30 (so the demo
    shows a page) and the alert edited at most every 2 minutes (so the transcript
    shows each edit without drowning in them)."""
    first, *rest = playbook.escalation.tiers
    tiers = (first.model_copy(update={"after": timedelta(minutes=2)}), *rest)
    escalation = playbook.escalation.model_copy(update={"tiers": tiers})
    slack = playbook.slack.model_copy(update={"alert_refresh": timedelta(minutes=2)})
    return playbook.model_copy(update={"escalation": escalation, "slack": slack})


class Simulation:
    """Advances the simulated world, samples the queues and checks the escalation
    timers as ``serve``'s scheduler would."""

    def __init__(self, sandbox: Sandbox, phishnet: SimulatedPhishNet, clock: SimulatedClock):
        self._sandbox = sandbox
        self._phishnet = phishnet
        self._clock = clock
        self._last = clock()
        self._last_sample = self._last - SAMPLE_EVERY
        self._last_escalation = self._last

    async def run_until(self, done: Callable[[], bool], limit: timedelta) -> bool:
        """Advances the world until ``done()`` or ``limit`` of simulated time passes."""
        deadline = self._clock() + limit
        runtime = self._sandbox.runtime
        while self._clock() < deadline:
            await asyncio.sleep(REAL_STEP_SECONDS)
            now = self._clock()
            await self._phishnet.advance((now - self._last).total_seconds())
            self._last = now
            if now - self._last_sample >= SAMPLE_EVERY:
                self._last_sample = now
                await runtime.monitor.tick()
            if now - self._last_escalation >= ESCALATION_EVERY:
                self._last_escalation = now
                await runtime.escalation.tick()
            if done():
                await self._sandbox.settle()
                return True
        return False

    def depth(self, queue: str) -> int:
        sample = self._sandbox.runtime.monitor.last_sample
        return sample.depths.get(queue, 0) if sample else 0


def demo_data_dir(data_dir: Path | None) -> Path:
    """Where the demo keeps its embedded servers' data: ``<data dir>/demo``. It stays
    after the demo, so ``backlog-bot report --demo ID`` can read the incident again."""
    return (data_dir or default_data_dir()) / "demo"


async def run_demo(
    *,
    report_path: Path | None = None,
    speed: float = 120.0,
    verbose: bool = True,
    data_dir: Path | None = None,
) -> int:
    started = time.monotonic()
    data_dir = demo_data_dir(data_dir)
    # A demo killed mid-run left its servers running on this directory: stop them
    # before the directory goes, or they would run on, unowned, with no files.
    await asyncio.to_thread(stop_leftovers, data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)  # every demo starts from nothing
    data_dir.mkdir(parents=True)
    redis_server = EmbeddedRedis(data_dir / "redis")
    pg_server = EmbeddedPostgres(data_dir / "postgres")
    async with contextlib.AsyncExitStack() as stack:
        # Stopped on every way out: a normal end, a failed start, an error, a signal.
        stack.push_async_callback(asyncio.to_thread, Backends([redis_server, pg_server]).stop)
        # Both started at once, and both carried to their end before any failure is
        # raised, so that stopping them finds every process that was started.
        started_urls = await asyncio.gather(
            start_embedded(redis_server), start_embedded(pg_server), return_exceptions=True
        )
        for outcome in started_urls:
            if isinstance(outcome, BaseException):
                raise outcome
        redis_url, database_url = (str(url) for url in started_urls)
        clock = SimulatedClock(speed=speed)
        names = {p.user_id: p.name for p in PEOPLE.values()}
        transcript = Transcript(clock, sys.stdout, verbose, names)
        playbook = demo_playbook(load_playbook(playbook_file(DEFAULT_PLAYBOOK)))
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
        stack.push_async_callback(sandbox.stop)
        code = await _story(sandbox, playbook, clock, transcript, report_path)
    if verbose:
        print(f"(the demo took {time.monotonic() - started:.0f} s)", flush=True)
    return code


class Story:
    """The people, their channel, and the world they act in."""

    def __init__(self, sandbox: Sandbox, world: Simulation, transcript: Transcript) -> None:
        self.sandbox = sandbox
        self.world = world
        self.transcript = transcript

    @property
    def channel_name(self) -> str:
        ids = self.sandbox.incident_channels()
        return self.sandbox.slack.channel_name(ids[-1]) or "?" if ids else "?"

    async def type(self, who: str, text: str) -> str:
        self.transcript.typed(who, self.channel_name, f"/backlog {text}")
        return (await self.sandbox.command(who, text)).text

    async def click(self, who: str, message: StoredMessage, action: ActionId, label: str) -> str:
        where = self.sandbox.slack.channel_name(message.channel) or message.channel
        self.transcript.clicked(who, where, label)
        return (await self.sandbox.click(who, message, action.value)).text

    def find(self, action: ActionId, contains: str = "") -> StoredMessage | None:
        for message in reversed(self.sandbox.channel_messages()):
            if contains in message.rendered and _has_button(message, action):
                return message
        return None

    def dm(self, who: str, contains: str) -> StoredMessage | None:
        user = PEOPLE[who].user_id
        found = [m for m in self.sandbox.slack.messages(user) if contains in m.text]
        return found[-1] if found else None


def fail(reason: str) -> int:
    print(f"demo: {reason}", file=sys.stderr)
    return 1


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
    rate = playbook.capacity.jobs_per_worker_minute
    stuck = playbook.stuck_jobs

    async def ready_replicas(deployment: str) -> int:
        status = await sandbox.runtime.kube.deployment_status(playbook.namespace, deployment)
        return status.ready

    loads = [
        QueueLoad(email.name, email.deployment, EMAILS_PER_MINUTE, rate),
        QueueLoad("analysis_queue", "phishnet-worker-analysis", 60, rate),
        QueueLoad("notification_queue", None, 20, rate),
    ]
    phishnet = SimulatedPhishNet(
        sandbox.runtime.redis,
        ready_replicas,
        loads,
        processing=Processing(stuck.processing_set, stuck.heartbeat_key),
        crash=CRASH,
    )
    world = Simulation(sandbox, phishnet, clock)
    story = Story(sandbox, world, transcript)
    transcript.world(
        f"PhishNet receives {EMAILS_PER_MINUTE} emails a minute; its 2 email workers clear "
        f"{rate} each (the runbook's rate). The bot samples the queues every "
        f"{SAMPLE_EVERY.seconds} s; {rule.name} fires after "
        f"{int(rule.for_.total_seconds() // 60)} minutes above {rule.threshold:,}."
    )
    await world.run_until(lambda: phishnet.crashed_at is not None, timedelta(minutes=10))
    transcript.world(
        f"An email worker is OOM-killed holding a batch of {len(phishnet.stuck)} jobs: they "
        f"stay in `{stuck.processing_set}` and their heartbeats stop."
    )
    if not await world.run_until(lambda: story.find(ActionId.ACK) is not None, timedelta(hours=1)):
        return fail("the backlog never raised an incident")

    # L1 is paged on the demo's fast timer; Bob acknowledges from the page in his DM.
    if not await world.run_until(
        lambda: story.dm("bob", "You are paged") is not None, timedelta(minutes=10)
    ):
        return fail("L1 was never paged")
    page = story.dm("bob", "You are paged")
    assert page is not None
    await story.click("bob", page, ActionId.ACK, "Acknowledge")

    await story.type("alice", "diagnose")
    alert = story.find(ActionId.ALERT_SCALE)
    if alert is None:
        return fail("the alert offers no Scale button")
    await story.click(
        "alice", alert, ActionId.ALERT_SCALE, _button_label(alert, ActionId.ALERT_SCALE)
    )
    approval = story.find(ActionId.APPROVE, "Scale")
    if approval is None:
        return fail("no approval request was posted for the scale")
    await story.click("dave", approval, ActionId.APPROVE, "Approve")
    await story.click("bob", approval, ActionId.APPROVE, "Approve")

    await world.run_until(lambda: False, timedelta(minutes=1))
    await story.type("alice", "requeue")
    requeue = story.find(ActionId.APPROVE, "stuck")
    if requeue is None:
        return fail("no requeue request was posted")
    await story.click("bob", requeue, ActionId.APPROVE, "Approve")

    def recovered() -> bool:
        return story.find(ActionId.RESOLVE) is not None

    if not await world.run_until(recovered, timedelta(hours=1)):
        return fail("the queue did not recover after scaling")
    await story.type(
        "alice",
        f"rootcause Inbound email volume ({EMAILS_PER_MINUTE}/min) outgrew 2 email workers "
        f"({2 * rate}/min); a worker OOM-killed mid-batch stranded {CRASH.jobs} jobs.",
    )
    await story.type("alice", "note lesson: the queue grew for 10 minutes before the alert fired")
    await story.type(
        "alice", "note prevention: raise the email workers' HPA minReplicas to 4 at peak hours"
    )
    offer = story.find(ActionId.RESOLVE)
    assert offer is not None
    await story.click("alice", offer, ActionId.RESOLVE, "Resolve")
    await sandbox.settle()
    transcript.world(f"The alert was edited {transcript.edits} times as the incident went on.")

    incident = await sandbox.runtime.store.latest_incident(playbook.name)
    if incident is None or incident.is_open:
        return fail("the incident was not resolved")
    report = await sandbox.runtime.incidents.report(incident.id)
    path = report_path or Path.cwd() / f"backlog-demo-report-{incident.id}.md"
    path.write_text(report, encoding="utf-8")
    print(f"\nIncident report written to {path.resolve()}", flush=True)
    print(f"Print it again any time with: backlog-bot report --demo {incident.id}", flush=True)
    return 0


def _has_button(message: StoredMessage, action: ActionId) -> bool:
    return bool(_button_label(message, action))


def _button_label(message: StoredMessage, action: ActionId) -> str:
    for block in message.blocks or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action.value:
                return str((element.get("text") or {}).get("text", ""))
    return ""
