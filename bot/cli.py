"""The ``backlog-bot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot import cli_backtest, cli_gameday, logs
from bot.domain.playbook import Playbook, PlaybookError
from bot.domain.playbook_set import load_playbooks
from bot.settings import Settings, settings_error_line

# Exit codes: 0 done, 1 the command failed (e.g. no such incident), 2 a setting is
# wrong or missing (one line on stderr names it; nothing is left running).
EXIT_CONFIGURATION = 2
EMBEDDED_HELP = (
    "start embedded Redis/PostgreSQL where REDIS_URL/DATABASE_URL are unset "
    "(for trials; also BACKLOG_BOT_EMBEDDED=1)"
)


def _speed(text: str) -> float:
    """``--speed``: simulated seconds per real second, 1 to 1000 (0 would never end)."""
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number from 1 to 1000, got {text!r}"
        ) from None
    if not 1 <= speed <= 1000:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 1000, got {text!r}")
    return speed


def _report_path(text: str) -> Path:
    """``--report``: checked before the demo runs, not found missing after it."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name in it")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the directory {path.parent} does not exist")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backlog-bot", description="Slack ChatOps for worker-queue backlogs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the bot (HTTP on PORT, sampling loop)")
    serve.add_argument("--embedded", action="store_true", help=EMBEDDED_HELP)
    demo = sub.add_parser("demo", help="a whole incident, start to report, on embedded defaults")
    demo.add_argument("--report", type=_report_path, default=None, help="where to write the report")
    demo.add_argument(
        "--speed", type=_speed, default=120.0, help="simulated seconds per real second (1-1000)"
    )
    demo.add_argument("--quiet", action="store_true", help="don't print the conversation")
    check = sub.add_parser("check-playbook", help="validate a playbook file or directory")
    check.add_argument("path", type=Path)
    migrate = sub.add_parser("migrate", help="apply the database schema (idempotent)")
    migrate.add_argument("--embedded", action="store_true", help=EMBEDDED_HELP)
    report = sub.add_parser("report", help="print an incident's report (Markdown)")
    report.add_argument("incident_id", type=int)
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    source = report.add_mutually_exclusive_group()
    source.add_argument(
        "--demo", action="store_true", help="read the last `backlog-bot demo` run's database"
    )
    source.add_argument(
        "--embedded", action="store_true", help="read `serve --embedded`'s database"
    )
    cli_backtest.add_parser(sub)
    cli_gameday.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-playbook":
        return check_playbook(args.path)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _configuration_error(settings_error_line(exc))
    if getattr(args, "embedded", False):
        settings = settings.model_copy(update={"embedded": True})
    # The demo's transcript is the output; its logs only speak up on trouble.
    quiet = args.command == "demo" and "LOG_LEVEL" not in os.environ
    logs.configure("WARNING" if quiet else settings.log_level)
    if args.command == "serve":
        from bot.lifecycle import serve

        return _run(serve(settings))
    from bot.lifecycle import run_interruptibly

    if args.command == "demo":
        from bot.demo.run import run_demo

        demo = run_demo(
            report_path=args.report,
            speed=args.speed,
            verbose=not args.quiet,
            data_dir=settings.data_dir,
        )
        return _run(run_interruptibly(demo))
    if args.command == "migrate":
        return _run(run_interruptibly(_migrate(settings)))
    if args.command == "report":
        report_args = (args.incident_id, args.format)
        return _run(run_interruptibly(_report(settings, *report_args, demo=args.demo)))
    if args.command == "backtest":
        return _run(run_interruptibly(cli_backtest.run(settings, args)))
    if args.command == "gameday":
        return _run(run_interruptibly(cli_gameday.run(settings, args)))
    raise AssertionError(args.command)


def _run(work: Coroutine[Any, Any, int]) -> int:
    from bot.startup import ConfigurationError

    try:
        return asyncio.run(work)
    except ConfigurationError as exc:
        return _configuration_error(str(exc))
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 130


def _configuration_error(line: str) -> int:
    print(f"backlog-bot: {logs.redact(line)}", file=sys.stderr)
    return EXIT_CONFIGURATION


def check_playbook(path: Path) -> int:
    """Exit 0 when every playbook of ``path`` (a file, or a directory's files) is
    valid; 1 with every problem, ``file: field: reason``, on stderr otherwise."""
    try:
        found = load_playbooks(path)
    except PlaybookError as exc:
        print(f"{exc.path}: invalid playbook", file=sys.stderr)
        for problem in exc.problems:
            print(f"{exc.path}: {problem.field}: {problem.reason}", file=sys.stderr)
        return 1
    unusable = 0
    files = found.files or (path,) * len(found.playbooks)
    for file, playbook in zip(files, found.playbooks, strict=True):
        drill_problem = _gameday_problem(playbook)
        if drill_problem is not None:
            unusable += 1
            print(f"{file}: playbook '{playbook.name}': {drill_problem}", file=sys.stderr)
            continue
        print(
            f"{file}: ok — playbook '{playbook.name}': {len(playbook.queues)} queues, "
            f"{len(playbook.deployments)} deployments, {len(playbook.rules)} rules, "
            f"{len(playbook.escalation.tiers)} escalation tiers"
        )
    for broken in found.broken:  # each file's header, then its problems
        print(f"{broken.path}: invalid playbook", file=sys.stderr)
        for problem in broken.problems:
            print(f"{broken.path}: {problem.field}: {problem.reason}", file=sys.stderr)
    return 1 if found.broken or unusable else 0


def _gameday_problem(playbook: Playbook) -> str | None:
    """Why the playbook's ``gameday`` section can never run — a schedule APScheduler
    refuses (``serve`` would stop at start), a target ``gameday`` would always refuse —
    or None; said by ``check-playbook`` rather than first on the night of the drill."""
    if playbook.gameday is None:
        return None
    from bot.domain.playbook_gameday import DrillRefused, plan_drill
    from bot.gameday_schedule import gameday_trigger
    from bot.startup import ConfigurationError

    try:
        gameday_trigger(playbook)
        plan_drill(playbook)
    except ConfigurationError as exc:
        return str(exc).removeprefix("PLAYBOOK: ")
    except DrillRefused as exc:
        return f"gameday: {exc}"
    return None


async def _migrate(settings: Settings) -> int:
    from bot.adapters.store import migrate
    from bot.backends import start_backends
    from bot.startup import verify_postgres

    backends = await start_backends(settings, redis=False, command="migrate")
    try:
        await verify_postgres(backends.database_url, embedded=backends.has("postgres"))
        applied = await migrate(backends.database_url)
    finally:
        await asyncio.to_thread(backends.stop)
    print(f"applied migrations: {applied}" if applied else "schema is up to date")
    return 0


async def _report(settings: Settings, incident_id: int, fmt: str, *, demo: bool) -> int:
    """Prints the report (``fmt``: markdown or json) from ``DATABASE_URL``, or from the
    embedded database of ``serve --embedded`` (``--embedded``) or of the last demo
    (``--demo``)."""
    import json

    from bot.adapters.store import Store, migrate
    from bot.backends import start_backends
    from bot.demo.run import demo_data_dir
    from bot.domain.models import system_clock
    from bot.services.report import printed_report
    from bot.startup import configured_playbook, verify_postgres

    playbook = configured_playbook(settings)
    if demo:
        pgdata = demo_data_dir(settings.data_dir) / "postgres"
        if not (pgdata / "PG_VERSION").exists():
            print(
                f"backlog-bot: no demo has run with this data directory ({pgdata.parent}); "
                "run `backlog-bot demo` first",
                file=sys.stderr,
            )
            return 1
        settings = settings.model_copy(update={"database_url": None})
    backends = await start_backends(
        settings,
        redis=False,
        embedded=demo or None,
        data_dir=demo_data_dir(settings.data_dir) if demo else None,
        command="report",
    )
    try:
        await verify_postgres(backends.database_url, embedded=backends.has("postgres"))
        await migrate(backends.database_url)
        store = await Store.connect(backends.database_url)
        try:
            report = await printed_report(store, playbook, incident_id, system_clock())
            if report is None:
                where = "in the last demo's database" if demo else "in this database"
                print(f"backlog-bot: no incident #{incident_id} {where}", file=sys.stderr)
                return 1
        finally:
            await store.close()
    finally:
        await asyncio.to_thread(backends.stop)
    markdown, data = report
    print(markdown if fmt == "markdown" else json.dumps(data, indent=2) + "\n", end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
