"""``/backlog`` sub-commands: parse, route to a service, say what happened.

Every path returns a :class:`Reply`; domain refusals become ephemeral replies
that say what was wrong, and nothing is executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.queues.cluster import RedisClient
from bot.adapters.queues.depths import queue_depths
from bot.adapters.slack import incident_blocks as texts
from bot.adapters.slack.blocks import markdown_to_mrkdwn
from bot.adapters.slack.fit import INLINE_LIMIT, shorten
from bot.adapters.store import Store
from bot.adapters.store.history import hourly_depths
from bot.adapters.store.outbox import incident_destination
from bot.domain import commands as cmd
from bot.domain.diagnosis import format_diagnosis
from bot.domain.errors import BotError, DependencyError, Refused
from bot.domain.models import ActionRequest, Clock, DeploymentStatus, EventKind, Incident
from bot.domain.outlook import build_outlooks, render_outlooks
from bot.domain.permissions import allowed_roles, refusal
from bot.domain.playbook import Playbook
from bot.domain.report import classify_note, format_duration
from bot.services.actions import ActionService
from bot.services.backtest import BacktestService
from bot.services.diagnosis import DiagnosisService
from bot.services.escalation import EscalationService
from bot.services.incidents import IncidentService, NoOpenIncident
from bot.services.messages import Messages
from bot.services.monitor import HOURLY_SAMPLES_FOR
from bot.services.ports import Directory

log = logging.getLogger(__name__)

_REQUESTS = (cmd.Scale, cmd.Restart, cmd.Tune, cmd.Drain, cmd.Requeue)
# Commands about the open incident: typed elsewhere, they are mirrored into its channel.
_ABOUT_THE_INCIDENT = (
    cmd.Ack,
    cmd.Note,
    cmd.RootCause,
    cmd.Resolve,
    cmd.Escalate,
    cmd.Diagnose,
    *_REQUESTS,
)


@dataclass(frozen=True)
class Reply:
    text: str
    ephemeral: bool = True


@dataclass(frozen=True)
class Invocation:
    text: str
    user: str
    channel: str


class CommandRouter:
    def __init__(
        self,
        *,
        playbook: Playbook,
        redis: RedisClient,
        kube: KubeClient,
        incidents: IncidentService,
        actions: ActionService,
        escalation: EscalationService,
        diagnosis: DiagnosisService,
        store: Store,
        messages: Messages,
        directory: Directory,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._messages = messages
        self._diagnosis = diagnosis
        self._store = store
        self._escalation = escalation
        self._playbook = playbook
        self._redis = redis
        self._kube = kube
        self._incidents = incidents
        self._actions = actions
        self._clock = clock
        self._backtest = BacktestService(store, playbook, clock)

    async def handle(self, call: Invocation) -> Reply:
        """The answer to one ``/backlog`` command. Expected failures (BotError) are
        answered here; anything else propagates to the Slack error boundary."""
        try:
            command = cmd.parse(call.text)
        except cmd.CommandError as exc:
            return Reply(f":warning: {exc}\n\n{cmd.USAGE}")
        incident = await self._incident_elsewhere(command, call)
        try:
            await self._authorize(cmd.name_of(command), call)
            reply = await self._dispatch(command, call)
        except DependencyError as exc:
            # Requests change nothing before approval, and every other command's
            # state change is one transaction: a failed dependency left nothing half-done.
            said = str(exc).rstrip()
            stop = "" if said.endswith((".", "!", "?")) else "."
            return Reply(f"{exc.icon} {said}{stop} Nothing was changed.")
        except BotError as exc:
            return Reply(f"{exc.icon} {exc}")
        if incident is not None:
            reply = await self._mirror(incident, command, call, reply)
        return await self._fit(reply, call, cmd.name_of(command))

    async def _authorize(self, name: str, call: Invocation) -> None:
        """Raises Refused (and audits it) unless ``call.user`` may run ``name``."""
        roles = allowed_roles(name, tuple(self._playbook.roles), self._playbook.permissions)
        if roles is None or call.user in await self._directory.members(roles):
            return
        await self._store.audit(
            at=self._clock(),
            actor=call.user,
            action=f"command:{name}",
            target=f"channel/{call.channel}",
            outcome="refused",
            details={"reason": "not in an allowed role", "roles": list(roles)},
        )
        raise Refused(refusal(name, roles))

    async def _incident_elsewhere(self, command: cmd.Command, call: Invocation) -> Incident | None:
        """The open incident, when ``command`` is about it and was typed somewhere other
        than where the incident lives (it is then mirrored there)."""
        if not isinstance(command, _ABOUT_THE_INCIDENT):
            return None
        incident = await self._store.open_incident_for(self._playbook.name)
        if incident is None or incident.channel == call.channel:
            return None
        return incident

    async def _mirror(
        self, incident: Incident, command: cmd.Command, call: Invocation, reply: Reply
    ) -> Reply:
        """Answered where typed, and said in the incident's channel too. A request needs
        no copy: its approval message is posted there."""
        where = texts.where(incident)
        if isinstance(command, _REQUESTS):
            return Reply(f"{reply.text} It is in {where}, the incident's channel.", reply.ephemeral)
        async with self._store.transaction() as tx:
            await self._messages.say(
                tx,
                f"mirror/{uuid.uuid4()}",
                incident_destination(incident.id),
                texts.mirror_text(call.user, call.channel, call.text.strip(), reply.text),
                incident_id=incident.id,
            )
        return Reply(f"{reply.text}\n_(Also posted in {where}.)_", reply.ephemeral)

    async def _fit(self, reply: Reply, call: Invocation, what: str) -> Reply:
        """A reply too long for one Slack message: its start inline, the whole as a file
        (in the channel for a public answer, by direct message for a private one)."""
        name = f"backlog-{what}-{self._clock():%Y%m%d-%H%M%S}.txt"
        place = "sent to you by direct message" if reply.ephemeral else "posted in this channel"
        pointer = f"\n\n_The whole answer is {place} as the file `{name}`._"
        # Room for the pointer, so the answer is not cut again where it says where the
        # whole is.
        long = shorten(reply.text, file_name=name, limit=INLINE_LIMIT - len(pointer))
        if long.whole is None:
            return reply
        where = call.user if reply.ephemeral else call.channel
        async with self._store.transaction() as tx:
            await self._messages.say(
                tx,
                f"reply/{call.user}/{name}",
                where,
                long.summary,
                file_name=name,
                title=f"/backlog {what}",
                file_text=long.whole,
                force_file=True,
            )
        return Reply(long.summary + pointer, ephemeral=True)

    async def _dispatch(self, command: cmd.Command, call: Invocation) -> Reply:
        if isinstance(command, cmd.Scale | cmd.Restart | cmd.Tune | cmd.Drain | cmd.Requeue):
            request = await self._request(command, call)
            return Reply(f"Approval requested: {request.summary}.")
        if isinstance(command, cmd.Help | cmd.Status | cmd.Forecast | cmd.Backtest):
            return await self._answer(command, call)
        match command:
            case cmd.Diagnose():
                return Reply(await self._diagnose(call.user), ephemeral=False)
            case cmd.Ack():
                incident = await self._incidents.acknowledge(call.user)
                return Reply(
                    f"Incident #{incident.id} acknowledged by <@{call.user}>; paging stops.",
                    ephemeral=False,
                )
            case cmd.Note(text=text):
                kind, note = classify_note(text)
                incident = await self._incidents.add_note(call.user, note, kind)
                return Reply(f"Noted on incident #{incident.id}.")
            case cmd.RootCause(text=text):
                incident = await self._incidents.add_note(call.user, text, EventKind.ROOT_CAUSE)
                return Reply(f"Root cause recorded on incident #{incident.id}.")
            case cmd.Resolve():
                resolution = await self._incidents.resolve(call.user)
                return Reply(f"Incident #{resolution.incident.id} resolved; report posted.")
            case cmd.Escalate(tier=tier):
                return Reply(await self._escalation.escalate(call.user, tier))
            case cmd.ShowReport():
                report = await self._incidents.report(user=call.user)
                return Reply(markdown_to_mrkdwn(report))
        raise AssertionError(f"unhandled command {command!r}")  # every Command is matched above

    async def _answer(
        self, command: cmd.Help | cmd.Status | cmd.Forecast | cmd.Backtest, call: Invocation
    ) -> Reply:
        """The read-only answers that change nothing and record nothing."""
        match command:
            case cmd.Help():
                return Reply(cmd.USAGE)
            case cmd.Status():
                return Reply(await self._status())
            case cmd.Forecast():
                return Reply(await self._forecast())
        return Reply(await self._backtest.post(command, call.user, call.channel))

    async def _request(
        self,
        command: cmd.Scale | cmd.Restart | cmd.Tune | cmd.Drain | cmd.Requeue,
        call: Invocation,
    ) -> ActionRequest:
        actions, user, channel = self._actions, call.user, call.channel
        match command:
            case cmd.Scale():
                return await actions.request_scale(user, command, channel)
            case cmd.Restart():
                return await actions.request_restart(user, command, channel)
            case cmd.Tune():
                return await actions.request_tune(user, command, channel)
            case cmd.Drain():
                return await actions.request_drain(user, channel)
        return await actions.request_requeue(user, command, channel)

    async def _diagnose(self, user: str) -> str:
        diagnosis = await self._diagnosis.run()
        text = format_diagnosis(diagnosis)
        top = diagnosis.causes[0].title if diagnosis.causes else None
        # Diagnosing without an incident is fine; there is just no timeline to add to.
        with contextlib.suppress(NoOpenIncident):
            await self._incidents.record_diagnosis(user, top)
        return text

    async def _forecast(self) -> str:
        """Each queue now and over the next 24 h, with worker and HPA numbers, all from
        the playbook's capacity model (bot/domain/capacity.py, outlook.py)."""
        now = self._clock()
        playbook = self._playbook
        recent = await self._store.samples_between(
            playbook.name, now - playbook.capacity.trend_window, now
        )
        history = await hourly_depths(self._store, playbook.name, now - HOURLY_SAMPLES_FOR, now)
        ready, notes = await self._ready_workers()
        outlooks = build_outlooks(playbook, recent, history, ready, now)
        return render_outlooks(outlooks, playbook, notes=notes)

    async def _ready_workers(self) -> tuple[dict[str, int | None], list[str]]:
        """Ready replicas of each deployment a queue names (None: unknown), and a line
        for each one that could not be read."""
        names = sorted({q.deployment for q in self._playbook.queues if q.deployment})
        statuses = await asyncio.gather(
            *(self._kube.deployment_status(self._playbook.namespace, name) for name in names),
            return_exceptions=True,
        )
        ready: dict[str, int | None] = {}
        notes = []
        for name, status in zip(names, statuses, strict=True):
            if isinstance(status, DeploymentStatus):
                ready[name] = status.ready
                continue
            ready[name] = None
            notes.append(f"`{name}`: ready workers unknown ({_unreadable(name, status)})")
        return ready, notes

    async def _status(self) -> str:
        depths = await queue_depths(self._redis, self._playbook.queue_names)
        statuses = await asyncio.gather(
            *(
                self._kube.deployment_status(self._playbook.namespace, name)
                for name in self._playbook.deployments
            ),
            return_exceptions=True,
        )
        lines = ["*Queue depths*"]
        thresholds = {r.queue: r.threshold for r in self._playbook.rules if r.threshold}
        for queue, depth in depths.items():
            limit = thresholds.get(queue)
            flag = " :rotating_light:" if limit and depth > limit else ""
            bound = f" (alert above {limit:,})" if limit else ""
            lines.append(f"• `{queue}`: {depth:,}{bound}{flag}")
        lines.append("*Workers*")
        for name, status in zip(self._playbook.deployments, statuses, strict=True):
            lines.append(_deployment_line(name, status))
        lines.append(await self._incident_line())
        return "\n".join(lines)

    async def _incident_line(self) -> str:
        try:
            incident = await self._incidents.current()
        except NoOpenIncident:
            return "*Incident*: none open"
        age = format_duration(self._clock() - incident.detected_at)
        return (
            f"*Incident* #{incident.id} ({incident.state.value}, {age} old): {incident.title}; "
            f"peak {incident.peak_depth:,} in `{incident.peak_queue}`"
        )


def _deployment_line(name: str, status: DeploymentStatus | BaseException) -> str:
    if isinstance(status, KubeError):
        return f"• `{name}`: unknown ({status})"
    if isinstance(status, BaseException):
        log.warning("deployment status failed", extra={"deployment": name, "error": repr(status)})
        return f"• `{name}`: unknown ({type(status).__name__})"
    return f"• `{name}`: {status.ready}/{status.desired} ready"


def _unreadable(name: str, error: BaseException) -> str:
    """Why a deployment's status could not be read, in words for Slack (a Kubernetes
    error's own sentence; anything else is logged and named by type only)."""
    if isinstance(error, KubeError):
        return str(error)
    log.warning("deployment status failed", extra={"deployment": name, "error": repr(error)})
    return type(error).__name__
