"""Incidents detected in a period, for replaying history against them (backtest)."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.store.incidents import _incident
from bot.adapters.store.store import Store
from bot.domain.models import Incident


async def incidents_between(
    store: Store, playbook: str, since: datetime, until: datetime
) -> list[Incident]:
    """The playbook's incidents detected in [``since``, ``until``], oldest first.

    A function beside :class:`Store`, like :func:`bot.adapters.store.history.hourly_depths`,
    so the query groups stay untouched; it reads the Store's pool as a method would.
    """
    rows = await store.pool.fetch(
        "SELECT * FROM incidents WHERE playbook = $1 AND detected_at BETWEEN $2 AND $3 "
        "ORDER BY detected_at, id",
        playbook,
        since,
        until,
    )
    return [_incident(row) for row in rows]
