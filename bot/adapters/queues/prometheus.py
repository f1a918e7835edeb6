"""The age of a queue's oldest job from Prometheus: one PromQL instant query.

``GET <url>/api/v1/query?query=<PromQL>`` (Prometheus HTTP API, "Instant queries").
The playbook's query returns the age in seconds, as a scalar or as a vector (several
series: the oldest counts). Every failure becomes the reading's error, a sentence
naming what Prometheus said, never an exception; the URL's password, if any, stays
out of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.domain.measures import JobAgeReading, PrometheusAge
from bot.domain.playbook import Queue
from bot.domain.text import code


class PrometheusAges:
    """Reads ``prometheus`` job ages over one aiohttp session (created on first use);
    :meth:`close` when done."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def read(self, queues: Sequence[Queue], now: datetime) -> list[JobAgeReading]:
        """One reading per queue whose ``job_age`` is a Prometheus query, at ``now``."""
        found = []
        for queue in queues:
            if isinstance(queue.job_age, PrometheusAge):
                found.append(await self._read(queue.name, queue.job_age, now))
        return found

    async def _read(self, queue: str, source: PrometheusAge, now: datetime) -> JobAgeReading:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        where = _host(source.url)
        try:
            async with self._session.get(
                source.url.rstrip("/") + "/api/v1/query",
                params={"query": source.query},
                timeout=aiohttp.ClientTimeout(total=source.timeout.total_seconds()),
                allow_redirects=False,
            ) as response:
                status = response.status
                body: Any = await response.json(content_type=None)
        except TimeoutError:
            why = (
                f"Prometheus at {where} did not answer within {source.timeout.total_seconds():g} s"
            )
            return _failed(queue, now, why)
        except aiohttp.ClientConnectorError:
            return _failed(queue, now, f"Prometheus at {where} could not be reached")
        except (aiohttp.ClientError, ValueError) as exc:
            return _failed(
                queue, now, f"Prometheus at {where} answered badly ({type(exc).__name__})"
            )
        try:
            seconds = _age_seconds(status, body)
        except ValueError as exc:
            return _failed(queue, now, f"Prometheus at {where} {exc}")
        if seconds is None:
            return _failed(
                queue,
                now,
                f"Prometheus at {where} returned no series for {code(source.query)}, so the "
                "bot cannot tell an empty queue from a query that matches nothing",
            )
        return JobAgeReading(queue, now, timedelta(seconds=max(seconds, 0.0)))


def _age_seconds(status: int, body: Any) -> float | None:
    """The age in seconds from a query answer; None for an empty vector. Raises
    ``ValueError`` ("refused the query: …") when Prometheus said no."""
    if not isinstance(body, dict):
        raise ValueError(f"answered HTTP {status} without a JSON object")
    if body.get("status") != "success":
        raise ValueError(
            f"refused the query (HTTP {status}, {body.get('errorType', 'error')}): "
            f"{code(str(body.get('error', 'no reason given'))[:200])}"
        )
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        values = [result[1]]
    elif kind == "vector" and isinstance(result, list):
        values = [series["value"][1] for series in result]
    else:
        raise ValueError(f"returned a {kind}, not a scalar or an instant vector")
    if not values:
        return None
    ages = [float(value) for value in values]
    if any(math.isnan(age) or math.isinf(age) for age in ages):
        raise ValueError("returned NaN or an infinite age")
    return max(ages)


def _host(url: str) -> str:
    """``host:port`` of ``url``, never its user or password."""
    parts = urlsplit(url)
    return code(f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname))


def _failed(queue: str, now: datetime, why: str) -> JobAgeReading:
    return JobAgeReading(
        queue, now, None, f"The age of the oldest job in {code(queue)} could not be read: {why}."
    )
