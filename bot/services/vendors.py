"""Watching the workers' logs for external APIs that fail every call.

While an incident is open, every ``check_every`` of the playbook's
``external_api_unavailable`` triggers, :class:`VendorWatch` reads the log tail of
the running pods of each vendor's deployment (the runbook's "kubectl logs …
deployment/phishnet-worker-analysis | grep -E '(rate.limit|quota|429|503)'"),
counts the calls to each vendor and the failed ones, and stores one observation
per vendor; the trigger fires when every observation over its ``for`` saw calls and
all of them failing (bot/domain/escalation.py). A deployment whose logs cannot be
read gives observations with the reason, which break the run: a blind look is
never taken for an outage. It runs beside the monitor, never holding up a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.store import Store
from bot.domain.measures import Vendor, VendorObservation, count_calls
from bot.domain.models import Clock
from bot.domain.playbook import Playbook

log = logging.getLogger(__name__)

_MAX_PODS = 10


class VendorWatch:
    def __init__(self, kube: KubeClient, store: Store, playbook: Playbook, clock: Clock) -> None:
        self._kube = kube
        self._store = store
        self._playbook = playbook
        self._clock = clock
        self._task: asyncio.Task[list[VendorObservation]] | None = None
        self.on_observed: list[Callable[[], Awaitable[object]]] = []
        self._vendors = tuple(vendor for t in playbook.escalation.triggers for vendor in t.vendors)
        self._every = min(
            (t.check_every for t in playbook.escalation.triggers if t.vendors), default=None
        )

    async def after_sample(self, _sample: object = None) -> None:
        """The monitor's hook: starts a look in the background when one is due."""
        if not self._vendors or (self._task is not None and not self._task.done()):
            return
        if await self._store.open_incident_for(self._playbook.name) is None:
            return
        now = self._clock()
        last = await self._store.last_vendor_observation(self._playbook.name)
        if last is not None and self._every is not None and now - last < self._every:
            return
        self._task = asyncio.create_task(self._look_and_tell(now), name="vendor-watch")

    async def wait(self) -> list[VendorObservation]:
        """The running look's observations (tests, shutdown); [] when none runs."""
        if self._task is None:
            return []
        return await self._task

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _look_and_tell(self, now: datetime) -> list[VendorObservation]:
        try:
            observations = await self.look(now)
            await self._store.save_vendor_observations(self._playbook.name, observations)
            for hook in self.on_observed:
                await hook()
        except Exception:  # a background task: log it, the next sample tries again
            log.exception("vendor watch failed")
            return []
        return observations

    async def look(self, now: datetime) -> list[VendorObservation]:
        """One observation per vendor, from its deployment's running pods' log tails."""
        by_deployment: dict[str, list[Vendor]] = {}
        for vendor in self._vendors:
            by_deployment.setdefault(vendor.deployment, []).append(vendor)
        found: list[VendorObservation] = []
        for deployment, vendors in by_deployment.items():
            try:
                logs = await self._logs(deployment)
            except KubeError as exc:
                found += [VendorObservation(v.name, now, 0, 0, str(exc)) for v in vendors]
                continue
            if not logs:
                why = f"`{deployment}` has no running pod whose log could be read."
                found += [VendorObservation(v.name, now, 0, 0, why) for v in vendors]
                continue
            for vendor in vendors:
                calls, failures = count_calls(logs, vendor)
                found.append(VendorObservation(vendor.name, now, calls, failures))
        return found

    async def _logs(self, deployment: str) -> list[str]:
        namespace = self._playbook.namespace
        selector = await self._kube.deployment_selector(namespace, deployment)
        pods = await self._kube.pods(namespace, selector)
        running = [pod.name for pod in pods[:_MAX_PODS] if pod.phase != "Pending"]
        tail = self._playbook.diagnostics.log_tail_lines
        return list(
            await asyncio.gather(*(self._kube.pod_log(namespace, pod, tail) for pod in running))
        )
