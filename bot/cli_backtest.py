"""``backlog-bot backtest``: replay stored queue depths through a candidate playbook.

Prints the table (Markdown) and writes it, with the chart of the chosen incident as a
PNG beside it, to ``--out`` (default ``./backtest-<candidate>-<time>.md`` and ``.png``).
Exit 0 when the backtest ran; 1 when it could not (an invalid candidate playbook, too
little history, an incident not in the period), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.domain.backtest import HourlyReading
from bot.domain.errors import BotError
from bot.domain.playbook import PlaybookError, load_playbook, parse_duration
from bot.domain.rule_changes import DEFAULT_QUIET_PERIOD, DEFAULT_SINCE, show_value
from bot.settings import Settings


def add_parser(sub: Any) -> None:
    """Adds the ``backtest`` sub-command to ``backlog-bot``'s sub-parsers."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "backtest",
        help="replay stored queue depths through a candidate playbook's rules",
        description=(
            "Replays the stored queue samples (raw for 48 h, hourly rollups for 90 days) "
            "through the candidate playbook's rules and the current playbook's (PLAYBOOK), "
            "and compares them with the real incidents."
        ),
    )
    parser.add_argument("--playbook", type=Path, required=True, help="the candidate playbook")
    parser.add_argument(
        "--since",
        type=_duration,
        default=DEFAULT_SINCE,
        help=f"how far back to replay (default {show_value(DEFAULT_SINCE)})",
    )
    parser.add_argument("--incident", type=int, default=None, help="the incident to chart")
    parser.add_argument(
        "--quiet-period",
        type=_duration,
        default=DEFAULT_QUIET_PERIOD,
        help=(
            "an alert back within this long after the previous one cleared is a flap "
            f"(default {show_value(DEFAULT_QUIET_PERIOD)})"
        ),
    )
    parser.add_argument(
        "--hourly",
        choices=[r.value for r in HourlyReading],
        default=HourlyReading.MAX.value,
        help="replay hourly rollups at each hour's max (default) or avg depth",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="the Markdown file (the PNG goes beside it)"
    )


def _duration(text: str) -> Any:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30d, 12h or 30m, got {text}"
        ) from exc
    if value.total_seconds() <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, got {text}")
    return value


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.adapters.store import Store, migrate
    from bot.app import playbook_file, start_backends
    from bot.domain.models import system_clock
    from bot.services.backtest import BacktestService

    try:
        current = load_playbook(playbook_file(settings.playbook))
        candidate = load_playbook(args.playbook)
    except PlaybookError as exc:
        print(f"backlog-bot: {exc.path}: invalid playbook", file=sys.stderr)
        for problem in exc.problems:
            print(f"{exc.path}: {problem.field}: {problem.reason}", file=sys.stderr)
        return 1
    backends = await start_backends(settings, redis=False)
    try:
        await migrate(backends.database_url)
        store = await Store.connect(backends.database_url)
        try:
            service = BacktestService(store, current, system_clock)
            result = await service.run(
                candidate,
                since=args.since,
                incident_id=args.incident,
                quiet=args.quiet_period,
                reading=HourlyReading(args.hourly),
            )
        except BotError as exc:
            print(f"backlog-bot: {exc}", file=sys.stderr)
            return 1
        finally:
            await store.close()
    finally:
        backends.stop()
    out: Path = args.out or Path(f"backtest-{args.playbook.stem}-{system_clock():%Y%m%d-%H%M%S}.md")
    chart = out.with_suffix(".png")
    markdown = result.markdown(chart_file=chart.name)
    try:
        await asyncio.to_thread(out.write_text, markdown, encoding="utf-8")
        await asyncio.to_thread(chart.write_bytes, result.png)
    except OSError as exc:
        print(f"backlog-bot: cannot write the backtest to {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(markdown)
    print(f"Backtest written to {out}, its chart to {chart}.")
    return 0
