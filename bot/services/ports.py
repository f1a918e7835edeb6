"""What the services need from the outside world, as protocols.

The Slack adapter implements :class:`Notifier` and :class:`Directory`; tests
and the demo use the same implementations against the Slack emulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain.models import ActionRequest, Incident
from bot.domain.playbook import ActionPolicy
from bot.domain.views import AlertView, Posted

__all__ = ["AlertView", "Directory", "Notifier", "Posted"]


class Notifier(Protocol):
    async def post_alert(self, view: AlertView) -> Posted: ...

    async def post_approval_request(
        self, request: ActionRequest, policy: ActionPolicy, channel: str
    ) -> Posted: ...

    async def update_approval_request(
        self, request: ActionRequest, policy: ActionPolicy, note: str = ""
    ) -> None: ...

    async def post_in_thread(self, channel: str, thread_ts: str | None, text: str) -> Posted: ...

    async def post(self, channel: str, text: str) -> Posted: ...

    async def update(self, posted: Posted, text: str) -> None: ...

    async def post_report(self, channel: str, incident: Incident, markdown: str) -> Posted: ...


class Directory(Protocol):
    async def members(self, roles: Sequence[str]) -> frozenset[str]:
        """Slack user ids of everyone in the named playbook roles."""
        ...
