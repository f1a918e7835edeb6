"""Parsing ``/backlog …`` text into typed commands.

Syntax only: whether a deployment or a replica count is allowed is decided
against the playbook by :mod:`bot.domain.actions`. A malformed command gives a
:class:`CommandError` whose message says what was wrong; nothing is executed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.errors import Refused
from bot.domain.playbook import parse_duration

USAGE = """\
*Usage:* `/backlog <command>`
• `status` — queue depths, worker replicas and the open incident
• `diagnose` — run the runbook's root-cause checks
• `scale <deployment> <replicas>` — ask to scale a worker deployment
• `requeue [--older-than 10m] [--queue NAME]` — find stuck jobs and ask to requeue them
• `restart <deployment>` — ask for a rolling restart
• `tune <deployment> KEY=VALUE…` — ask to change worker configuration
• `drain` — ask for the emergency queue drain job
• `escalate [tier]` — page the next (or a given) escalation tier
• `ack` — acknowledge the incident (stops the paging timers)
• `note <text>` — add a note (`note lesson: …`, `note prevention: …` go to the report)
• `rootcause <text>` — record the root cause
• `resolve` — resolve the incident and post its report
• `report` — show the incident report so far
• `forecast` — project the queue depth
• `help` — this message"""

_MAX_TEXT = 3000


class CommandError(Refused, ValueError):
    """A command that cannot be run as typed; ``str()`` says why."""


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Diagnose:
    pass


@dataclass(frozen=True)
class Scale:
    deployment: str
    replicas: int


@dataclass(frozen=True)
class Requeue:
    older_than: timedelta | None = None
    queue: str | None = None


@dataclass(frozen=True)
class Restart:
    deployment: str


@dataclass(frozen=True)
class Tune:
    deployment: str
    settings: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Drain:
    pass


@dataclass(frozen=True)
class Escalate:
    tier: int | None = None


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class RootCause:
    text: str


@dataclass(frozen=True)
class Resolve:
    pass


@dataclass(frozen=True)
class ShowReport:
    pass


@dataclass(frozen=True)
class Forecast:
    pass


@dataclass(frozen=True)
class Help:
    pass


Command = (
    Status
    | Diagnose
    | Scale
    | Requeue
    | Restart
    | Tune
    | Drain
    | Escalate
    | Ack
    | Note
    | RootCause
    | Resolve
    | ShowReport
    | Forecast
    | Help
)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\S+)$")


def parse(text: str) -> Command:
    """Parses the text after ``/backlog``; raises :class:`CommandError`."""
    text = text.strip()
    if not text:
        return Help()
    verb, _, rest = text.partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    no_args: dict[str, Command] = {
        "status": Status(),
        "diagnose": Diagnose(),
        "drain": Drain(),
        "ack": Ack(),
        "resolve": Resolve(),
        "report": ShowReport(),
        "forecast": Forecast(),
        "help": Help(),
    }
    if verb in no_args:
        if rest:
            raise CommandError(f"`{verb}` takes no arguments (got `{_clip(rest)}`).")
        return no_args[verb]
    if verb in ("note", "rootcause"):
        return _free_text(verb, rest)
    parsers: dict[str, Callable[[list[str]], Command]] = {
        "scale": _scale,
        "requeue": _requeue,
        "restart": _restart,
        "tune": _tune,
        "escalate": _escalate,
    }
    if verb not in parsers:
        raise CommandError(f"Unknown command `{_clip(verb)}`.")
    return parsers[verb](_split(rest))


def _clip(text: str, limit: int = 60) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise CommandError(f"Could not read the arguments: {exc}.") from exc


def _deployment(name: str) -> str:
    if not _NAME.match(name) or len(name) > 253:
        raise CommandError(f"`{_clip(name)}` is not a valid deployment name.")
    return name


def _free_text(verb: str, rest: str) -> Note | RootCause:
    if not rest:
        raise CommandError(f"`{verb}` needs some text, e.g. `/backlog {verb} …`.")
    if len(rest) > _MAX_TEXT:
        raise CommandError(f"The text is too long ({len(rest)} characters, at most {_MAX_TEXT}).")
    return Note(rest) if verb == "note" else RootCause(rest)


def _scale(args: list[str]) -> Scale:
    if len(args) != 2:
        raise CommandError(
            "`scale` needs a deployment and a replica count: `scale <deployment> 6`."
        )
    deployment, replicas = args
    if not re.fullmatch(r"\d{1,6}", replicas):
        raise CommandError(f"Replicas must be a whole number, got `{_clip(replicas)}`.")
    return Scale(deployment=_deployment(deployment), replicas=int(replicas))


def _requeue(args: list[str]) -> Requeue:
    older_than: timedelta | None = None
    queue: str | None = None
    i = 0
    while i < len(args):
        flag, value, step = _flag(args, i)
        if flag == "--older-than":
            try:
                older_than = parse_duration(value)
            except ValueError as exc:
                raise CommandError(f"`--older-than`: {exc}.") from exc
            if older_than <= timedelta(0):
                raise CommandError("`--older-than` must be a positive duration.")
        else:
            queue = value
        i += step
    return Requeue(older_than=older_than, queue=queue)


_REQUEUE_FLAGS = ("--older-than", "--queue")


def _flag(args: list[str], i: int) -> tuple[str, str, int]:
    arg = args[i]
    if not arg.startswith("--"):
        raise CommandError(f"Unexpected argument `{_clip(arg)}`.")
    if arg.split("=", 1)[0] not in _REQUEUE_FLAGS:
        raise CommandError(f"Unknown option `{_clip(arg)}` for `requeue`.")
    if "=" in arg:
        flag, value = arg.split("=", 1)
        return flag, value, 1
    if i + 1 >= len(args):
        raise CommandError(f"`{_clip(arg)}` needs a value.")
    return arg, args[i + 1], 2


def _restart(args: list[str]) -> Restart:
    if len(args) != 1:
        raise CommandError("`restart` needs exactly one deployment: `restart <deployment>`.")
    return Restart(deployment=_deployment(args[0]))


def _tune(args: list[str]) -> Tune:
    if len(args) < 2:
        raise CommandError("`tune` needs a deployment and at least one `KEY=VALUE`.")
    settings: dict[str, str] = {}
    for arg in args[1:]:
        match = _KEY_VALUE.match(arg)
        if not match:
            raise CommandError(f"`{_clip(arg)}` is not `KEY=VALUE`.")
        key, value = match.groups()
        if key in settings:
            raise CommandError(f"`{key}` is given twice.")
        settings[key] = value
    return Tune(deployment=_deployment(args[0]), settings=tuple(settings.items()))


def _escalate(args: list[str]) -> Escalate:
    if not args:
        return Escalate()
    if len(args) != 1 or not args[0].removeprefix("L").isdigit():
        raise CommandError("`escalate` takes an optional tier number, e.g. `escalate 2`.")
    return Escalate(tier=int(args[0].removeprefix("L")))
