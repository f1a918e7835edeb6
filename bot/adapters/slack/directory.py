"""Who is in a playbook role: Slack user ids, with user groups expanded."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.playbook import Playbook


class SlackDirectory:
    """Role membership from the playbook, with Slack user groups expanded.

    Group membership is cached briefly: approvals are rare, and a stale cache
    of a minute is safer than a Slack outage blocking every approval.
    """

    def __init__(self, client: AsyncWebClient, playbook: Playbook, ttl_seconds: float = 60) -> None:
        self._client = client
        self._playbook = playbook
        self._ttl = ttl_seconds
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, roles: Sequence[str]) -> frozenset[str]:
        users: set[str] = set()
        for name in roles:
            role = self._playbook.roles.get(name)
            if role is None:
                continue
            users.update(role.users)
            for group in role.usergroups:
                users.update(await self.group_members(group))
        return frozenset(users)

    async def group_members(self, group: str) -> frozenset[str]:
        """A user group's members (``usergroups.users.list``), cached for ``ttl_seconds``.
        Raises :class:`slack_sdk.errors.SlackApiError` as the client does."""
        cached = self._groups.get(group)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        response = await self._client.usergroups_users_list(usergroup=group)
        users: list[Any] = response.get("users", [])
        members = frozenset(str(u) for u in users)
        self._groups[group] = (now, members)
        return members
