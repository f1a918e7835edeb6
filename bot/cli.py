"""The ``backlog-bot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import cli_backtest, logs
from bot.domain.playbook import PlaybookError, load_playbook
from bot.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backlog-bot", description="Slack ChatOps for worker-queue backlogs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the bot (HTTP on PORT, sampling loop)")
    demo = sub.add_parser("demo", help="a whole incident, start to report, on embedded defaults")
    demo.add_argument("--report", type=Path, default=None, help="where to write the report")
    demo.add_argument(
        "--speed", type=float, default=120.0, help="simulated seconds per real second"
    )
    demo.add_argument("--quiet", action="store_true", help="don't print the conversation")
    check = sub.add_parser("check-playbook", help="validate a playbook file")
    check.add_argument("path", type=Path)
    sub.add_parser("migrate", help="apply the database schema (idempotent)")
    report = sub.add_parser("report", help="print an incident's report (Markdown)")
    report.add_argument("incident_id", type=int)
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    cli_backtest.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-playbook":
        return check_playbook(args.path)
    settings = Settings()
    # The demo's transcript is the output; its logs only speak up on trouble.
    quiet = args.command == "demo" and "LOG_LEVEL" not in os.environ
    logs.configure("WARNING" if quiet else settings.log_level)
    if args.command == "serve":
        from bot.app import ConfigurationError, serve

        try:
            asyncio.run(serve(settings))
        except ConfigurationError as exc:
            print(f"backlog-bot: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 0
        return 0
    if args.command == "demo":
        from bot.demo.run import run_demo

        return asyncio.run(
            run_demo(
                report_path=args.report,
                speed=args.speed,
                verbose=not args.quiet,
                data_dir=settings.data_dir,
            )
        )
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "report":
        return asyncio.run(_report(settings, args.incident_id, args.format))
    if args.command == "backtest":
        return asyncio.run(cli_backtest.run(settings, args))
    raise AssertionError(args.command)


def check_playbook(path: Path) -> int:
    try:
        playbook = load_playbook(path)
    except PlaybookError as exc:
        print(f"{exc.path}: invalid playbook", file=sys.stderr)
        for problem in exc.problems:
            print(f"{exc.path}: {problem.field}: {problem.reason}", file=sys.stderr)
        return 1
    print(
        f"{path}: ok — playbook '{playbook.name}': {len(playbook.queues)} queues, "
        f"{len(playbook.deployments)} deployments, {len(playbook.rules)} rules, "
        f"{len(playbook.escalation.tiers)} escalation tiers"
    )
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.adapters.store import migrate
    from bot.app import start_backends

    backends = await start_backends(settings, redis=False)
    try:
        applied = await migrate(backends.database_url)
    finally:
        backends.stop()
    print(f"applied migrations: {applied}" if applied else "schema is up to date")
    return 0


async def _report(settings: Settings, incident_id: int, fmt: str = "markdown") -> int:
    import json

    from bot.adapters.store import Store, migrate
    from bot.app import playbook_file, start_backends
    from bot.domain.models import system_clock
    from bot.services.report import printed_report

    playbook = load_playbook(playbook_file(settings.playbook))
    backends = await start_backends(settings, redis=False)
    try:
        await migrate(backends.database_url)
        store = await Store.connect(backends.database_url)
        try:
            report = await printed_report(store, playbook, incident_id, system_clock())
            if report is None:
                print(f"backlog-bot: no incident #{incident_id}", file=sys.stderr)
                return 1
        finally:
            await store.close()
    finally:
        backends.stop()
    markdown, data = report
    print(markdown if fmt == "markdown" else json.dumps(data, indent=2) + "\n", end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
