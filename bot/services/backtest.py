"""Backtest a playbook change: gather the stored samples and incidents, replay them
(bot/domain/backtest.py), draw the chosen incident, and post or return the result.

Read-only: nothing but the Slack message (the chart, with the table as its comment,
through the outbox) is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

from bot.adapters.chart import render_depth_chart
from bot.adapters.slack.blocks import markdown_to_mrkdwn
from bot.adapters.slack.fit import INLINE_LIMIT, clip
from bot.adapters.store import Store
from bot.adapters.store.history import hourly_depths
from bot.adapters.store.past_incidents import incidents_between
from bot.domain.backtest import BacktestResult, HourlyReading, build_history, compare
from bot.domain.backtest_chart import Focus, backtest_chart, choose_focus
from bot.domain.backtest_report import headline, render_backtest
from bot.domain.chart import ChartData
from bot.domain.models import Clock
from bot.domain.playbook import Playbook
from bot.domain.rule_changes import (
    DEFAULT_QUIET_PERIOD,
    DEFAULT_SINCE,
    RuleChange,
    apply_changes,
)
from bot.domain.rule_changes import Backtest as BacktestCommand

#: Rows of each list shown in Slack (the CLI shows all).
SLACK_ROWS = 10

ChartRenderer = Callable[[ChartData], bytes]


@dataclass(frozen=True)
class BacktestRun:
    """A finished backtest: the findings, the incident charted and the chart (PNG)."""

    backtest: BacktestResult
    focus: Focus
    chart: ChartData
    png: bytes

    def markdown(self, *, chart_file: str | None = None, max_rows: int | None = None) -> str:
        return render_backtest(self.backtest, self.focus, chart_file=chart_file, max_rows=max_rows)

    @property
    def headline(self) -> str:
        return headline(self.backtest, self.focus)


class BacktestService:
    """Backtests against the current ``playbook`` over what ``store`` holds."""

    def __init__(
        self,
        store: Store,
        playbook: Playbook,
        clock: Clock,
        render_chart: ChartRenderer = render_depth_chart,
    ) -> None:
        self._store = store
        self._playbook = playbook
        self._clock = clock
        self._render_chart = render_chart

    async def run(
        self,
        candidate: Playbook,
        *,
        since: timedelta = DEFAULT_SINCE,
        incident_id: int | None = None,
        quiet: timedelta = DEFAULT_QUIET_PERIOD,
        reading: HourlyReading = HourlyReading.MAX,
    ) -> BacktestRun:
        """Replays the last ``since`` of stored samples (of the current playbook's name)
        through both playbooks; raises :class:`~bot.domain.backtest.TooLittleHistory`
        or :class:`~bot.domain.errors.Refused` (an ``incident_id`` not in the period)."""
        name = self._playbook.name
        now = self._clock()
        start = now - since
        raw = await self._store.samples_between(name, start, now)
        # Hourly rollups only where raw samples no longer exist (older than 48 h).
        hourly = await hourly_depths(self._store, name, start, raw[0].at if raw else now)
        history = build_history(raw, hourly, start, now, reading)
        incidents = await incidents_between(self._store, name, start, now)
        # Replaying 90 days takes about a second of CPU: off the event loop.
        backtest = await asyncio.to_thread(
            compare, self._playbook, candidate, history, incidents, quiet
        )
        focus = choose_focus(backtest, incident_id)
        chart = backtest_chart(backtest, focus)
        # matplotlib takes a few hundred milliseconds: off the event loop.
        png = await asyncio.to_thread(self._render_chart, chart)
        return BacktestRun(backtest, focus, chart, png)

    async def candidate(self, changes: Sequence[RuleChange]) -> Playbook:
        """The current playbook with ``changes`` made; ``rule.`` is the open incident's
        rule, else the last incident's. Raises :class:`~bot.domain.rule_changes.ChangeError`."""
        name = self._playbook.name
        incident = await self._store.open_incident_for(name) or await self._store.latest_incident(
            name
        )
        return apply_changes(self._playbook, changes, incident.rule if incident else None)

    async def post(self, command: BacktestCommand, user: str, channel: str) -> str:
        """``/backlog backtest …``: posts the chart in ``channel`` with the table as its
        comment (``user`` is told privately if Slack refuses it) and returns the
        headline for the person who asked."""
        candidate = await self.candidate(command.changes)
        run = await self.run(
            candidate,
            since=command.since,
            incident_id=command.incident,
            quiet=command.quiet_period,
        )
        now = self._clock()
        table = markdown_to_mrkdwn(run.markdown(max_rows=SLACK_ROWS))
        comment = clip(table, INLINE_LIMIT, "a shorter `--since` lists fewer")
        async with self._store.transaction() as tx:
            await tx.enqueue_message(
                f"backtest/{uuid4()}",
                channel,
                {
                    "filename": f"backtest-{now:%Y%m%d-%H%M%S}.png",
                    "title": run.focus.title,
                    "text": comment,
                },
                at=now,
                kind="file",
                content=run.png,
                notify_user=user,
            )
        return (
            f"{run.headline} The table and a chart of {run.focus.why} are posted in this channel."
        )
