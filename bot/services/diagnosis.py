"""``/backlog diagnose``: the runbook's root-cause checks, run concurrently.

Every check has its own timeout; one that fails or times out is reported as
such in the summary and never hides the others. A check that reads no data is
"not checked" (see :mod:`bot.domain.checks`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from bot.adapters.kube import KubeClient, KubeError
from bot.adapters.store import Store
from bot.domain import diagnosis as dx
from bot.domain.checks import CheckResult, Diagnosis, rank
from bot.domain.forecast import forecast_queue
from bot.domain.models import Clock
from bot.domain.playbook import Playbook
from bot.domain.workloads import PodInfo

_MAX_PODS_FOR_LOGS = 10


TREND_WINDOW = timedelta(minutes=15)


class DiagnosisService:
    def __init__(self, kube: KubeClient, playbook: Playbook, store: Store, clock: Clock) -> None:
        self._kube = kube
        self._playbook = playbook
        self._store = store
        self._clock = clock

    async def run(self) -> Diagnosis:
        playbook = self._playbook
        pattern_of = {name: d.log_error_pattern for name, d in playbook.deployments.items()}
        checks: list[tuple[str, Callable[[], Awaitable[CheckResult]]]] = [
            ("Queue trend", self._trend),
            ("Worker pods", self._pods),
            *[
                (f"Error logs of {name}", self._logs_check(name, pattern))
                for name, pattern in pattern_of.items()
            ],
        ]
        limited = playbook.diagnostics.rate_limit_deployment
        if limited:
            checks.append((f"External API rate limits ({limited})", self._rate_check(limited)))
        checks += [
            ("Autoscaling", self._autoscaling),
            ("Resource usage", self._usage),
            ("Nodes", self._nodes),
            ("Application database", self._database),
        ]
        timeout = playbook.diagnostics.timeout.total_seconds()
        results = await asyncio.gather(*(_guard(name, fn, timeout) for name, fn in checks))
        return rank(results)

    async def _trend(self) -> CheckResult:
        now = self._clock()
        samples = await self._store.samples_between(self._playbook.name, now - TREND_WINDOW, now)
        forecasts = [
            forecast
            for queue in self._playbook.queues
            if queue.deployment
            and (forecast := forecast_queue(samples, queue.name, None)) is not None
        ]
        return dx.analyze_trend(forecasts, round(TREND_WINDOW.total_seconds() / 60))

    async def _worker_pods(self) -> list[PodInfo]:
        selectors = {d.pod_selector for d in self._playbook.deployments.values()}
        found: dict[str, PodInfo] = {}
        for selector in selectors:
            for pod in await self._kube.pods(self._playbook.namespace, selector):
                found[pod.name] = pod
        return list(found.values())

    async def _pods(self) -> CheckResult:
        return dx.analyze_pods(await self._worker_pods())

    async def _deployment_logs(self, deployment: str) -> tuple[dict[str, str], int]:
        """The log tail of each running pod (at most ten), and how many pods there are."""
        namespace = self._playbook.namespace
        selector = await self._kube.deployment_selector(namespace, deployment)
        pods = await self._kube.pods(namespace, selector)
        running = [pod.name for pod in pods[:_MAX_PODS_FOR_LOGS] if pod.phase != "Pending"]
        tail = self._playbook.diagnostics.log_tail_lines
        texts = await asyncio.gather(
            *(self._kube.pod_log(namespace, name, tail) for name in running)
        )
        return dict(zip(running, texts, strict=True)), len(pods)

    def _logs_check(self, deployment: str, pattern: str) -> Callable[[], Awaitable[CheckResult]]:
        async def check() -> CheckResult:
            logs, pods = await self._deployment_logs(deployment)
            return dx.analyze_logs(deployment, logs, pattern, pods)

        return check

    def _rate_check(self, deployment: str) -> Callable[[], Awaitable[CheckResult]]:
        async def check() -> CheckResult:
            logs, pods = await self._deployment_logs(deployment)
            patterns = self._playbook.diagnostics.rate_limit_patterns
            return dx.analyze_rate_limits(deployment, logs, patterns, pods)

        return check

    async def _autoscaling(self) -> CheckResult:
        return dx.analyze_autoscaling(await self._kube.hpas(self._playbook.namespace))

    async def _usage(self) -> CheckResult:
        pods, usage = await asyncio.gather(
            self._worker_pods(), self._kube.pod_usage(self._playbook.namespace)
        )
        return dx.analyze_usage(pods, usage)

    async def _nodes(self) -> CheckResult:
        nodes, usage = await asyncio.gather(self._kube.nodes(), self._kube.node_usage())
        by_node: dict[str, list[PodInfo]] = {}
        for pod in await self._worker_pods():
            if pod.node:
                by_node.setdefault(pod.node, []).append(pod)
        return dx.analyze_nodes(nodes, by_node, usage)

    async def _database(self) -> CheckResult:
        variable = self._playbook.diagnostics.database_url_env
        dsn = os.environ.get(variable) if variable else None
        if not dsn:
            return dx.analyze_database(None, variable)
        timeout = self._playbook.diagnostics.timeout.total_seconds()
        tables = self._playbook.diagnostics.slow_query_tables
        return dx.analyze_database(await probe_database(dsn, tables, timeout), variable)


async def probe_database(
    dsn: str, tables: tuple[str, ...], limit_seconds: float
) -> dx.DatabaseProbe:
    """``SELECT 1`` and, where pg_stat_statements is installed, the slowest statements
    touching ``tables`` — the runbook's database checks, read-only."""
    timeout = limit_seconds
    started = time.perf_counter()
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return dx.DatabaseProbe(reachable=False, error=_describe(exc))
    try:
        await conn.fetchval("SELECT 1", timeout=timeout)
        latency = (time.perf_counter() - started) * 1000
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        await conn.close()
        return dx.DatabaseProbe(reachable=False, error=_describe(exc))
    # From here the database answered: a failure only means slow statements are unknown.
    try:
        return await _slow_statements(conn, tables, timeout, latency)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        note = f"pg_stat_statements could not be read ({_describe(exc)})"
        return dx.DatabaseProbe(reachable=True, latency_ms=latency, statements_note=note)
    finally:
        await conn.close()


async def _slow_statements(
    conn: asyncpg.Connection, tables: tuple[str, ...], limit_seconds: float, latency: float
) -> dx.DatabaseProbe:
    timeout = limit_seconds
    installed = await conn.fetchval(
        "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'pg_stat_statements'",
        timeout=timeout,
    )
    if not installed:
        return dx.DatabaseProbe(reachable=True, latency_ms=latency)
    # PostgreSQL 13 renamed mean_time to mean_exec_time.
    column = "mean_exec_time" if conn.get_server_version().major >= 13 else "mean_time"
    try:
        rows: Any = await conn.fetch(
            f"SELECT query, {column} AS mean_ms, calls FROM pg_stat_statements "
            "WHERE query ~* $1 ORDER BY mean_ms DESC LIMIT 5",
            "|".join(tables) or ".",
            timeout=timeout,
        )
    except asyncpg.ObjectNotInPrerequisiteStateError:
        # CREATE EXTENSION ran but the library is not preloaded: the view cannot be read.
        note = "pg_stat_statements is installed but not in shared_preload_libraries"
        return dx.DatabaseProbe(reachable=True, latency_ms=latency, statements_note=note)
    slow = tuple((str(r["query"]), float(r["mean_ms"]), int(r["calls"])) for r in rows)
    return dx.DatabaseProbe(
        reachable=True, latency_ms=latency, statements_available=True, slow_statements=slow
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:200]


async def _guard(
    name: str, check: Callable[[], Awaitable[CheckResult]], limit_seconds: float
) -> CheckResult:
    try:
        return await asyncio.wait_for(check(), limit_seconds)
    except TimeoutError:
        return CheckResult.failed(name, f"timed out after {limit_seconds:g}s")
    except KubeError as exc:
        return CheckResult.failed(name, str(exc))
