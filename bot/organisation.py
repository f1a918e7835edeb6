"""One bot for several playbooks: ``PLAYBOOK`` naming a directory
(docs/many-playbooks.md).

Each valid playbook gets its own services, built by the one-playbook wiring
(:func:`bot.app.build_runtime`): its queues (on its own Redis when its
``redis.url_env`` names one), rules, channels, roles, escalation and timers, all
run by the replica that holds the bot's one leader lock
(:class:`bot.organisation_server.OrganisationServer`). They share
the PostgreSQL database (every incident and sample carries its playbook's name),
one Bolt app whose handlers route each request to its playbook
(:class:`bot.playbook_router.PlaybookRouter`), and one outbox sender whose channel
hooks act as the incident's playbook says. A playbook that fails validation, or
whose Redis or settings cannot be used at start, is reported (the log, ``/readyz``
and once in the first running playbook's announcement channel) and the others run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.adapters.slack.app import build_slack_app
from bot.adapters.slack.directory import SlackDirectory
from bot.adapters.slack.setup import SlackSetup
from bot.adapters.slack.transport import SlackTransport, make_sender_client
from bot.adapters.store.sender import SenderConnection
from bot.app import Runtime, build_runtime, wire_delivery_hooks
from bot.backends import Backends, start_backends
from bot.domain.alerts import ExternalAlert
from bot.domain.models import Clock, system_clock
from bot.domain.playbook import PlaybookError, PlaybookProblem
from bot.domain.playbook_set import PlaybookSet
from bot.playbook_router import PlaybookRouter
from bot.services.delivery import SlackSender
from bot.services.delivery_setup import SetupDelivery
from bot.settings import Settings
from bot.startup import ConfigurationError, configured_kube, slack_secrets

log = logging.getLogger(__name__)


@dataclass
class Organisation:
    """Every running playbook's runtime, the router in front of them, the shared
    sender, and the playbooks that could not be started (with their problems)."""

    units: dict[str, Runtime]
    router: PlaybookRouter
    sender: SlackSender
    broken: tuple[PlaybookError, ...]
    backends: Backends

    @property
    def first(self) -> Runtime:
        return next(iter(self.units.values()))

    def readiness(self) -> dict[str, Any]:
        """``/readyz``'s ``playbooks``: each running one ``"running"``, each broken file
        with every problem (``field: reason``)."""
        body: dict[str, Any] = {name: "running" for name in self.units}
        for error in self.broken:
            body[error.path] = [f"{p.field}: {p.reason}" for p in error.problems]
        return body

    def runtime_for_alert(self, alert: ExternalAlert) -> Runtime:
        """The playbook an Alertmanager alert is for: the one its ``playbook`` label
        names, else the first with a rule of the alert's name, else the first (which
        answers that it is not one of its rules)."""
        named = self.units.get(alert.labels.get("playbook", ""))
        if named is not None:
            return named
        for runtime in self.units.values():
            if any(rule.name == alert.name for rule in runtime.playbook.rules):
                return runtime
        return self.first

    async def start_background(self) -> None:
        """The shared senders (Slack's, and the pages', which is not tied to a
        playbook), each playbook's interrupted actions, stored channel events."""
        await self.sender.start()
        await self.first.paging.sender.start()
        for runtime in self.units.values():
            await runtime.actions.recover_interrupted()
        await self.first.channel_events.sweep()

    async def close(self) -> None:
        """Closes every playbook's runtime, then stops the embedded servers."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(asyncio.to_thread, self.backends.stop)
            for runtime in self.units.values():
                stack.push_async_callback(runtime.close)
            stack.push_async_callback(self.sender.stop)


async def build_organisation(
    settings: Settings,
    found: PlaybookSet,
    *,
    clock: Clock = system_clock,
    environ: Mapping[str, str] | None = None,
    backends: Backends | None = None,
) -> Organisation:
    """Builds a runtime per playbook of ``found`` on the shared ``backends`` (started
    from the settings when None; owned by the organisation from then on). A playbook
    whose runtime cannot be built (a ConfigurationError: its Redis, its variables) is
    added to ``broken``; raises ConfigurationError with every problem when none runs."""
    token, signing_secret = slack_secrets(settings)
    backends = backends or await start_backends(settings)
    units: dict[str, Runtime] = {}
    try:
        broken = list(found.broken)
        await _build_units(settings, found, clock, environ, backends, units, broken)
        first = next(iter(units.values()))
        router = PlaybookRouter(units, first.store)
        sender = _shared_sender(settings, token, first, router, backends.database_url, clock)
        front = build_slack_app(
            client=first.slack,
            signing_secret=signing_secret,
            handlers=router.handlers(),
            channel=router.channel_handlers(),
        )
        for name, runtime in units.items():
            runtime.slack_app = front
            runtime.sender = sender
            runtime.paging.timer.job_id = f"escalation/{name}"
        organisation = Organisation(units, router, sender, tuple(broken), backends)
        await _announce_broken(organisation, clock)
    except BaseException:  # nothing is left running or open
        for runtime in units.values():
            await runtime.close()
        await asyncio.to_thread(backends.stop)
        raise
    return organisation


async def _build_units(
    settings: Settings,
    found: PlaybookSet,
    clock: Clock,
    environ: Mapping[str, str] | None,
    backends: Backends,
    units: dict[str, Runtime],
    broken: list[PlaybookError],
) -> None:
    """Adds a runtime per playbook to ``units`` (on ``backends``' URLs; the embedded
    servers stay the organisation's), each that cannot start to ``broken``; raises
    ConfigurationError with every problem when none starts."""
    for playbook in found.playbooks:
        shared = Backends([], redis_url=backends.redis_url, database_url=backends.database_url)
        try:
            units[playbook.name] = await build_runtime(
                settings,
                clock=clock,
                playbook=playbook,
                kube=configured_kube(settings),
                environ=environ,
                backends=shared,
            )
        except ConfigurationError as exc:  # build_runtime closed what it opened
            broken.append(PlaybookError(playbook.name, [_problem(str(exc))]))
    for error in broken:
        log.error("playbook cannot run: %s", error, extra={"playbook": error.path})
    if not units:
        lines = "; ".join(PlaybookSet((), tuple(broken)).problem_lines())
        raise ConfigurationError(f"PLAYBOOK: no playbook in {settings.playbook} can run: {lines}")


def _problem(line: str) -> PlaybookProblem:
    setting, _, reason = line.partition(": ")
    return PlaybookProblem(field=setting, reason=reason or line)


def _shared_sender(
    settings: Settings,
    token: str,
    first: Runtime,
    router: PlaybookRouter,
    database_url: str,
    clock: Clock,
) -> SlackSender:
    """One outbox sender for every playbook; what it does after a channel is created
    or a message delivered is done by the incident's own playbook."""
    api_url = settings.slack_api_url
    members = SlackDirectory(first.slack, first.playbook).group_members
    sender = SlackSender(
        first.store,
        SlackTransport(make_sender_client(token, api_url, settings.slack_timeout_seconds)),
        SenderConnection(database_url),
        clock=clock,
        announcement_channel=first.playbook.slack.announcement_channel,
        setup=SetupDelivery(
            first.store, SlackSetup(make_sender_client(token, api_url), members), router, clock
        ),
    )
    wire_delivery_hooks(sender, first.store, router.request_refused)
    sender.on_delivered.append(router.report_delivered)
    return sender


async def _announce_broken(organisation: Organisation, clock: Clock) -> None:
    """Says once (the key names these exact problems) in the first running
    playbook's announcement channel which playbooks are not running and why."""
    if not organisation.broken:
        return
    lines = [
        f"• `{e.path}`: {p.field}: {p.reason}" for e in organisation.broken for p in e.problems
    ]
    text = (
        ":warning: These playbooks are not running (the others are):\n"
        + "\n".join(lines)
        + "\nFix them and restart the bot; `backlog-bot check-playbook DIR` lists the same."
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    first = organisation.first
    await first.store.enqueue_message(
        f"playbooks/broken/{digest}",
        first.playbook.slack.announcement_channel,
        {"text": text},
        at=clock(),
    )
