"""``backlog-bot gameday [--playbook PATH] [--dry-run]``: one game-day drill.

Prints a line per step of the drill and the summary. Exit 0: the drill passed; 1: it
failed (a target missed, named in the summary) or could not finish (Redis, Slack);
2: refused (the target is not marked staging, or is a production queue or namespace
of a served playbook; another drill runs; an incident is open) or misconfigured.
See docs/gameday.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.domain.errors import BotError
from bot.domain.models import system_clock
from bot.domain.playbook import Playbook, PlaybookError, load_playbook
from bot.domain.playbook_gameday import DrillRefused, plan_drill
from bot.settings import Settings

EXIT_PASSED, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def add_parser(sub: Any) -> None:
    """Adds the ``gameday`` sub-command to ``backlog-bot``'s sub-parsers."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "gameday",
        help="run a game-day drill against the playbook's staging queue",
        description=(
            "Pushes synthetic jobs onto the staging queue the playbook's gameday section "
            "names until its rule fires, times the alert, the incident channel and the "
            "first page against the targets, acknowledges, removes exactly the synthetic "
            "jobs, resolves, and posts a pass/fail summary."
        ),
    )
    parser.add_argument(
        "--playbook", type=Path, default=None, help="the staging playbook (default: PLAYBOOK)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check and print the plan; push nothing"
    )


def served_playbooks(path: Path) -> list[Playbook]:
    """The playbooks ``PLAYBOOK`` names: the file, or every ``*.yml``/``*.yaml`` of the
    directory. Raises :class:`PlaybookError`."""
    if path.is_dir():
        files = sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
        return [load_playbook(f) for f in files]
    return [load_playbook(path)]


def _refuse(line: str) -> int:
    print(f"backlog-bot: {line}", file=sys.stderr)
    return EXIT_REFUSED


def _progress(line: str) -> None:
    print(f"{system_clock():%H:%M:%S} {line}", flush=True)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.startup import playbook_file

    served_path = playbook_file(settings.playbook)
    try:
        drill = load_playbook(args.playbook or served_path)
        served = served_playbooks(served_path) if args.playbook is not None else [drill]
    except PlaybookError as exc:
        problems = "; ".join(f"{p.field}: {p.reason}" for p in exc.problems)
        return _refuse(f"{exc.path}: invalid playbook: {problems}")
    try:
        plan_drill(drill, served)  # refused before anything connects
    except DrillRefused as exc:
        return _refuse(str(exc))
    return await _drill(settings, drill, served, dry_run=args.dry_run)


async def _drill(
    settings: Settings, playbook: Playbook, served: list[Playbook], *, dry_run: bool
) -> int:
    from bot.adapters.queues.errors import RedisFailure
    from bot.app import build_runtime
    from bot.services.gameday import DrillParts, GameDay
    from bot.services.messages import Messages

    runtime = await build_runtime(settings, playbook=playbook)
    try:
        await runtime.sender.start()
        await runtime.paging.sender.start()
        auth: Any = await runtime.slack.auth_test()
        parts = DrillParts(
            store=runtime.store,
            redis=runtime.redis,
            incidents=runtime.incidents,
            messages=Messages(runtime.clock, alert_refresh=playbook.slack.alert_refresh),
            sample=runtime.monitor.tick,
            escalate=runtime.escalation.tick,
            deliver=_flush(runtime.sender.flush, runtime.paging.sender.flush),
            pace=_sleep,
        )
        game = GameDay(
            parts,
            playbook,
            runtime.clock,
            actor=str(auth["user_id"]),
            production=served,
            progress=_progress,
        )
        try:
            result = await game.run(dry_run=dry_run)
        except DrillRefused as exc:
            return _refuse(str(exc))
        except (RedisFailure, BotError) as exc:
            print(f"backlog-bot: the game day could not finish: {exc}", file=sys.stderr)
            return EXIT_FAILED
    finally:
        await runtime.close()
    if result is None:
        return EXIT_PASSED
    for line in result.lines:
        print(line)
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _flush(*flushes: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def deliver() -> None:
        for flush in (*flushes, flushes[0]):  # a pager's refusal is said in Slack
            # Still retrying (Slack slow or down): the sender keeps at it in the
            # background, and the drill measures the delay.
            with contextlib.suppress(TimeoutError):
                await flush()

    return deliver


async def _sleep(step: timedelta) -> None:
    await asyncio.sleep(step.total_seconds())
