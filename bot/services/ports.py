"""What the services need from the outside world, as protocols.

The Slack adapter implements :class:`Directory` (bot/adapters/slack/directory.py).
What the bot says goes through the outbox (bot/services/messages.py), never
straight to Slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain.views import AlertView, Posted

__all__ = ["AlertView", "Directory", "Posted"]


class Directory(Protocol):
    async def members(self, roles: Sequence[str]) -> frozenset[str]:
        """Slack user ids of everyone in the named playbook roles."""
        ...
