"""A directory of playbooks for the many-playbooks tests, and the sandbox that runs
them as ``serve`` does with ``PLAYBOOK`` naming a directory: one runtime per
playbook behind the router (bot/organisation.py), on the same emulators, Redis and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from bot.demo.sandbox import Sandbox
from bot.domain.playbook_set import PlaybookSet, load_playbooks
from bot.emulators.slack_requests import SlackClientSimulator
from bot.organisation import Organisation, build_organisation
from bot.settings import Settings
from bot.web import web_application

PHISHNET = Path(__file__).parent.parent.parent / "playbooks" / "queue-backlog.yml"
BILLING_CHANNEL_ID = "C0BILLING"

# Billing: its own name, namespace, queues, deployments, announcement channel, and
# Dave (not Alice) as its on-call SRE.
_BILLING = {
    "phishnet": "billing",
    "email_processing_queue": "invoice_queue",
    "analysis_queue": "ledger_queue",
    "notification_queue": "receipt_queue",
    "EmailQueueBacklog": "InvoiceQueueBacklog",
    "U0SREONCALL": "U0DEV",
}


def billing_text() -> str:
    text = PHISHNET.read_text(encoding="utf-8")
    for old, new in _BILLING.items():
        text = text.replace(old, new)
    return text


def broken_text() -> str:
    """Payroll: billing's playbook with one mistake, a queue's deployment not listed."""
    text = billing_text().replace("name: billing-queue-backlog", "name: payroll-queue-backlog")
    return text.replace("deployment: billing-worker-email", "deployment: payroll-worker", 1)


def write_playbooks(directory: Path, *, broken: bool = True) -> Path:
    """``a-phishnet.yml``, ``b-billing.yml`` and (with ``broken``) ``c-broken.yml``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "a-phishnet.yml").write_text(PHISHNET.read_text(encoding="utf-8"))
    (directory / "b-billing.yml").write_text(billing_text())
    if broken:
        (directory / "c-broken.yml").write_text(broken_text())
    return directory


class ManySandbox(Sandbox):
    """:class:`Sandbox` with every playbook of ``found`` (the first one's channel is
    the sandbox's announcement channel; billing's is ``BILLING_CHANNEL_ID``)."""

    def __init__(self, *, found: PlaybookSet, **options: Any) -> None:
        super().__init__(playbook=found.playbooks[0], **options)
        self.found = found
        self.organisation: Organisation

    async def _start_emulators(self) -> None:
        await super()._start_emulators()
        for playbook in self.found.playbooks[1:]:
            name = playbook.slack.announcement_channel.lstrip("#")
            self.slack.add_channel(BILLING_CHANNEL_ID, name)
            for deployment, spec in playbook.deployments.items():
                labels = dict(part.split("=", 1) for part in spec.pod_selector.split(","))
                self.kube.add_deployment(
                    playbook.namespace,
                    deployment,
                    replicas=2,
                    labels=labels,
                    pod_labels={**labels, "app": deployment},
                )

    async def _start_bot(self) -> None:
        kubeconfig = self.kube.write_kubeconfig(self.work_dir / "kubeconfig")
        settings = Settings(
            slack_bot_token=self.bot_token,
            slack_signing_secret=self.signing_secret,
            slack_api_url=self.slack.api_url,
            redis_url=self._redis_url,
            database_url=self._database_url,
            kubeconfig=kubeconfig,
            data_dir=self.work_dir,
            pagerduty_events_url=self.pagerduty.events_url,
            playbook=self.work_dir,
        )
        self.organisation = await build_organisation(
            settings, self.found, clock=self._clock, environ=self._environ
        )
        self.runtime = self.organisation.first
        await self.organisation.start_background()
        app = web_application(
            self.runtime,
            playbooks=self.organisation.readiness,
            alert_route=self.organisation.runtime_for_alert,
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}/slack/events"
        self._people = SlackClientSimulator(self.endpoint, self.signing_secret)

    async def _stop_bot(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.organisation.close()

    async def tick(self) -> None:
        """One sample of every playbook, and what it made the bot say, delivered."""
        for runtime in self.organisation.units.values():
            await runtime.monitor.tick()
        await self.settle()


def load(directory: Path) -> PlaybookSet:
    return load_playbooks(directory)
