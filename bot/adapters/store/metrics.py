"""Counts of the bot's own rows, for ``/metrics``: every replica reads the same
database, so every replica reports the same numbers.

Incidents, action requests, approvals and pages are never deleted (only queue
samples are pruned), so a count of rows that can no longer change (an action
that finished, an approval, a page) only grows and is exposed as a counter. The
one exception: a page Slack did not deliver is deleted to be sent again
(``Store.forget_page``), so that count can dip for one escalation tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg

from bot.adapters.store.store import Store
from bot.domain.errors import DependencyError

# One round trip: (what, label a, label b, count) rows.
_COUNTS = """
SELECT 'incident' AS what, state AS a, '' AS b, count(*) AS n FROM incidents GROUP BY state
UNION ALL
SELECT 'action', kind, state, count(*) FROM action_requests GROUP BY kind, state
UNION ALL
SELECT 'approval', r.kind, '', count(*)
  FROM approvals AS a JOIN action_requests AS r ON r.id = a.request_id GROUP BY r.kind
UNION ALL
SELECT 'page', tier::text, '', count(*) FROM pages GROUP BY tier
UNION ALL
SELECT 'outbox', 'slack', '', count(*) FROM slack_messages WHERE state = 'pending'
UNION ALL
SELECT 'outbox', 'pages', '', count(*) FROM page_deliveries WHERE state = 'pending'
"""


class CountsUnavailable(DependencyError):
    """PostgreSQL did not answer the metrics query in time."""


@dataclass(frozen=True)
class BotCounts:
    """Row counts: ``incidents`` by state; ``actions`` by (kind, state);
    ``approvals`` by action kind; ``pages`` by escalation tier; ``outbox``: rows
    not yet delivered, ``slack`` (messages) and ``pages`` (page deliveries)."""

    incidents: Mapping[str, int]
    actions: Mapping[tuple[str, str], int]
    approvals: Mapping[str, int]
    pages: Mapping[int, int]
    outbox: Mapping[str, int] = field(default_factory=dict)


async def bot_counts(store: Store, *, timeout_seconds: float = 2.0) -> BotCounts:
    """Counts every incident, action request, approval and page in the database.

    Raises :class:`CountsUnavailable` when PostgreSQL fails or takes longer than
    ``timeout_seconds`` (a scrape must answer quickly even when the database does not).
    """
    pool: asyncpg.Pool = store._pool  # same package: the store's own pool
    try:
        rows = await asyncio.wait_for(pool.fetch(_COUNTS), timeout_seconds)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise CountsUnavailable(
            f"PostgreSQL did not answer the metrics query ({type(exc).__name__})."
        ) from exc
    incidents: dict[str, int] = {}
    actions: dict[tuple[str, str], int] = {}
    approvals: dict[str, int] = {}
    pages: dict[int, int] = {}
    outbox: dict[str, int] = {}
    for row in rows:
        what, a, b, n = row["what"], row["a"], row["b"], int(row["n"])
        if what == "incident":
            incidents[a] = n
        elif what == "action":
            actions[(a, b)] = n
        elif what == "approval":
            approvals[a] = n
        elif what == "outbox":
            outbox[a] = n
        else:
            pages[int(a)] = n
    return BotCounts(
        incidents=incidents, actions=actions, approvals=approvals, pages=pages, outbox=outbox
    )
