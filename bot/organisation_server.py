"""``serve`` with ``PLAYBOOK`` naming a directory: :class:`bot.lifecycle.Server`
around the first running playbook (HTTP, Socket Mode, the shared outbox sender,
the stop sequence), plus every other playbook's scheduled jobs and escalation
timer (docs/many-playbooks.md)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

from aiohttp import web

from bot.adapters.slack.client import make_client
from bot.app import Runtime
from bot.backends import check_urls, start_backends
from bot.lifecycle import HTTP_DRAIN_SECONDS, Server, Stopping
from bot.organisation import Organisation, build_organisation
from bot.readiness import embedded_warnings
from bot.settings import Settings
from bot.startup import configured_playbooks, slack_secrets, verify_slack
from bot.web import web_application

log = logging.getLogger(__name__)


async def start_organisation(settings: Settings) -> Server:
    """Checks, connects and serves every playbook of the ``PLAYBOOK`` directory; a
    ConfigurationError (exit 2) when none can run, as for a single playbook."""
    token, _ = slack_secrets(settings)
    check_urls(settings)
    found = configured_playbooks(settings)
    await verify_slack(make_client(token, settings.slack_api_url), settings.slack_api_url)
    backends = await start_backends(settings)
    organisation = await build_organisation(settings, found, backends=backends)
    gc.collect()  # as bot.lifecycle.start does: start-up's heap out of the collector
    gc.freeze()
    for warning in embedded_warnings(organisation.first):
        log.warning(warning)
    server = OrganisationServer(organisation)
    try:
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    log.info(
        "backlog bot serving",
        extra={
            "port": settings.port,
            "playbooks": list(organisation.units),
            "broken": [e.path for e in organisation.broken],
        },
    )
    return server


class OrganisationServer(Server):
    """The one-playbook server around the first runtime, with the others' jobs."""

    def __init__(self, organisation: Organisation) -> None:
        super().__init__(organisation.first)
        self.organisation = organisation
        app = web_application(
            organisation.first,
            playbooks=organisation.readiness,
            alert_route=organisation.runtime_for_alert,
        )
        self._runner = web.AppRunner(app, shutdown_timeout=HTTP_DRAIN_SECONDS)

    def _others(self) -> list[tuple[str, Runtime]]:
        first = self.organisation.first
        return [(n, r) for n, r in self.organisation.units.items() if r is not first]

    async def _lead(self) -> None:
        """The first playbook's background work, then every other playbook's: one
        leader lock for the whole bot (bot/services/leadership.py), so a stand-by
        replica samples no playbook at all."""
        await super()._lead()  # the first playbook's jobs and the shared sender
        seconds = self.runtime.settings.sample_interval_seconds
        for name, runtime in self._others():
            self._schedule(f"monitor/{name}", runtime.monitor.tick, seconds=seconds)
            self._schedule(
                f"interrupted/{name}", runtime.actions.recover_interrupted, seconds=10, now=True
            )
            self._schedule(f"expiry/{name}", runtime.actions.expire_pending, seconds=30)
            await runtime.incidents.restore()
            await runtime.paging.timer.attach(self._scheduler)

    async def _follow(self) -> None:
        """Every other playbook's background work stops, then the first's."""
        for name, runtime in self._others():
            for job in (f"monitor/{name}", f"interrupted/{name}", f"expiry/{name}"):
                if self._scheduler.get_job(job) is not None:
                    self._scheduler.remove_job(job)
            await runtime.paging.timer.detach()
        await super()._follow()

    async def stop(self, stopping: Stopping | None) -> None:
        """The one-playbook stop sequence, then every other playbook's runtime (their
        actions still running are reported interrupted by the next start's recovery)
        and the embedded servers."""
        first = self.organisation.first
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(asyncio.to_thread, self.organisation.backends.stop)
            for runtime in self.organisation.units.values():
                if runtime is not first:
                    stack.push_async_callback(runtime.close)
            await super().stop(stopping)
