"""Queue depth history by hour, for the hour-of-week prediction.

Hours older than 48 h live in ``queue_samples_hourly`` (folded by
``Store.prune_samples``); newer ones are still raw rows in ``queue_samples``. One
query averages both per (queue, hour), weighting by sample count so an hour
folded half-way (raw rows folded while the hour was still being sampled) counts
every sample once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from bot.adapters.store.store import Store
from bot.domain.weekly import HourlyDepth

_HOURLY = """
SELECT queue, hour,
       sum(avg_depth * samples) / sum(samples) AS avg_depth,
       max(max_depth) AS max_depth,
       sum(samples)::bigint AS samples
FROM (
    SELECT queue, hour, avg_depth, max_depth, samples
    FROM queue_samples_hourly
    WHERE playbook = $1 AND hour >= $2 AND hour < $3
    UNION ALL
    SELECT queue, date_trunc('hour', at) AS hour, avg(depth)::double precision, max(depth),
           count(*)
    FROM queue_samples
    WHERE playbook = $1 AND at >= $2 AND at < $3
    GROUP BY queue, date_trunc('hour', at)
) AS both_tables
GROUP BY queue, hour
ORDER BY queue, hour
"""


async def hourly_depths(
    store: Store, playbook: str, since: datetime, until: datetime
) -> dict[str, list[HourlyDepth]]:
    """Per queue, its hours in [``since``, ``until``) in order, each with the mean and
    peak depth (jobs) and how many samples it averages.

    A function beside :class:`Store` rather than a method while store.py is being
    reworked; it reads the Store's pool, as a method would.
    """
    rows = await store._pool.fetch(_HOURLY, playbook, since, until)
    found: dict[str, list[HourlyDepth]] = defaultdict(list)
    for row in rows:
        found[row["queue"]].append(
            HourlyDepth(
                hour=row["hour"],
                avg_depth=float(row["avg_depth"]),
                max_depth=int(row["max_depth"]),
                samples=int(row["samples"]),
            )
        )
    return dict(found)
