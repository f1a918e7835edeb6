"""Parsing ``/backlog …`` text into typed commands.

Syntax only: whether a deployment or a replica count is allowed is decided
against the playbook by :mod:`bot.domain.actions`. A malformed command gives a
:class:`CommandError` whose message says what was wrong; nothing is executed.

People type on phones: the text is read the way they meant it (:func:`split_verb`,
:func:`normalise_arguments`). Slack's entities become the characters typed; any
whitespace (tab, newline, no-break and other Unicode spaces) ends the sub-command;
in the arguments of ``requeue``, ``scale``, ``tune``..., the dashes and quotes that
keyboards autocorrect (``—older-than``, ``“analysis_queue”``) and full-width forms
read as their ASCII originals. The text of ``note`` and ``rootcause`` is kept as
typed: its dashes and quotes are the person's words.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.errors import Refused
from bot.domain.playbook import parse_duration
from bot.domain.rule_changes import Backtest as Backtest
from bot.domain.rule_changes import ChangeError, parse_backtest
from bot.domain.text import code, slack_unescape

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
• `backtest RULE.threshold=800 RULE.for=5m [--since 30d]` — replay stored depths with a \
changed rule (`rule.` = the incident's rule)
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
    | Backtest
)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\S+)$")

# Characters that autocorrect ("smart punctuation" on iOS, macOS, Android keyboards)
# or a copy from a document puts where the person meant ASCII: dashes (hyphen,
# non-breaking hyphen, figure/en/em dash, horizontal bar, minus sign, full-width and
# small forms), double quotes (curly, low-9, guillemets, double prime, CJK and
# full-width) and single quotes (curly, low-9, prime, angle quotes, full-width).
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d"
_DOUBLE_QUOTES = "\u00ab\u00bb\u201c\u201d\u201e\u201f\u2033\u2036\u301d\u301e\u301f\uff02"
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\u2039\u203a\uff07"
# Zero-width characters: invisible, they only keep a word from matching.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_PLAIN = str.maketrans(
    {
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_DOUBLE_QUOTES, '"'),
        **dict.fromkeys(_SINGLE_QUOTES, "'"),
        **dict.fromkeys(_INVISIBLE, None),
    }
)
# ``\s`` in a str pattern is Unicode whitespace: tab, newline, U+00A0, U+2000-U+200A,
# U+202F, U+3000...; zero-width characters are not whitespace, so they are added.
_VERB = re.compile(f"[\\s{_INVISIBLE}]*([^\\s{_INVISIBLE}]*)")


def split_verb(text: str) -> tuple[str, str]:
    """``("note", "workers restarted")`` from ``"note\tworkers restarted"``.

    ``text`` is the slash command's ``text`` as Slack sends it: its ``&amp;``,
    ``&lt;``, ``&gt;`` become the characters typed (:func:`bot.domain.text.slack_unescape`).
    The sub-command ends at the first whitespace of any kind and is read in lower case
    with full-width letters folded (NFKC); the rest keeps every character, trimmed of
    whitespace at both ends. Empty text gives ``("", "")``.
    """
    text = slack_unescape(text)
    match = _VERB.match(text)
    assert match is not None  # every part of the pattern may match nothing
    verb = unicodedata.normalize("NFKC", match.group(1).translate(_PLAIN)).lower()
    return verb, _trim(text[match.end() :])


def _trim(text: str) -> str:
    """``text`` without whitespace or zero-width characters at either end."""
    while (trimmed := text.strip().strip(_INVISIBLE)) != text:
        text = trimmed
    return text


def normalise_arguments(text: str) -> str:
    """Arguments as the person meant them: ASCII dashes and quotes, single spaces.

    ``—older-than`` (an autocorrected ``--``) becomes ``-older-than``, which the option
    reader takes as ``--older-than``; ``“analysis_queue”`` becomes ``"analysis_queue"``;
    full-width letters and digits fold to ASCII (NFKC); every run of whitespace of any
    kind is one space.
    """
    # Before and after NFKC: it turns some compatibility forms (U+FE58) into dashes.
    plain = unicodedata.normalize("NFKC", text.translate(_PLAIN)).translate(_PLAIN)
    return re.sub(r"\s+", " ", plain).strip()


def parse(text: str) -> Command:
    """Parses the text after ``/backlog`` (as Slack sends it); raises :class:`CommandError`."""
    verb, rest = split_verb(text)
    if not verb:
        return Help()
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
            raise CommandError(f"{code(verb)} takes no arguments (got {_shown(rest)}).")
        return no_args[verb]
    if verb in ("note", "rootcause"):
        return _free_text(verb, rest)
    parsers: dict[str, Callable[[list[str]], Command]] = {
        "scale": _scale,
        "requeue": _requeue,
        "restart": _restart,
        "tune": _tune,
        "escalate": _escalate,
        "backtest": _backtest,
    }
    if verb not in parsers:
        raise CommandError(f"Unknown command {_shown(verb)}.")
    return parsers[verb](_split(rest))


def _shown(text: str, limit: int = 60) -> str:
    """What the person typed, quoted back to them as a code span (escaped, clipped)."""
    return code(text if len(text) <= limit else text[: limit - 1] + "…")


def _split(rest: str) -> list[str]:
    arguments = normalise_arguments(rest)
    try:
        return shlex.split(arguments)
    except ValueError as exc:
        # shlex's two complaints, in the person's terms rather than a traceback's.
        if "quotation" in str(exc):
            raise CommandError(
                f"A quote is not closed in {_shown(arguments)}: put a value between two "
                'quotes, e.g. `--queue "analysis_queue"`, or leave the quotes out.'
            ) from exc
        raise CommandError(
            f"The arguments end with a lone backslash ({_shown(arguments)}); remove it."
        ) from exc


def _deployment(name: str) -> str:
    if not _NAME.match(name) or len(name) > 253:
        raise CommandError(f"{_shown(name)} is not a valid deployment name.")
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
        raise CommandError(f"Replicas must be a whole number, got {_shown(replicas)}.")
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
                raise CommandError(
                    "`--older-than` expected a duration like `10m`, `2h` or `600s`, got "
                    f"{_shown(value)}."
                ) from exc
            if older_than <= timedelta(0):
                raise CommandError("`--older-than` must be a positive duration.")
        else:
            queue = value
        i += step
    return Requeue(older_than=older_than, queue=queue)


_REQUEUE_FLAGS = ("--older-than", "--queue")


def _flag(args: list[str], i: int) -> tuple[str, str, int]:
    """``(flag, value, arguments used)``; ``-older-than`` and ``---older-than`` (an
    autocorrected ``--``, see :func:`normalise_arguments`) read as ``--older-than``."""
    arg = args[i]
    name, has_value, value = arg.partition("=")
    flag = "--" + name.lstrip("-")
    if not arg.startswith("-") or flag == "--":
        raise CommandError(f"Unexpected argument {_shown(arg)}.")
    if flag not in _REQUEUE_FLAGS:
        raise CommandError(f"Unknown option {_shown(name)} for `requeue`.")
    if has_value:
        return flag, value, 1
    if i + 1 >= len(args):
        raise CommandError(f"{_shown(flag)} needs a value.")
    return flag, args[i + 1], 2


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
            raise CommandError(f"{_shown(arg)} is not `KEY=VALUE`.")
        key, value = match.groups()
        if key in settings:
            raise CommandError(f"{code(key)} is given twice.")
        settings[key] = value
    return Tune(deployment=_deployment(args[0]), settings=tuple(settings.items()))


def _escalate(args: list[str]) -> Escalate:
    if not args:
        return Escalate()
    if len(args) != 1 or not args[0].removeprefix("L").isdigit():
        raise CommandError("`escalate` takes an optional tier number, e.g. `escalate 2`.")
    return Escalate(tier=int(args[0].removeprefix("L")))


def _backtest(args: list[str]) -> Backtest:
    try:
        return parse_backtest(args)
    except ChangeError as exc:
        raise CommandError(str(exc)) from exc


_NAMES: dict[type, str] = {
    Status: "status",
    Diagnose: "diagnose",
    Scale: "scale",
    Requeue: "requeue",
    Restart: "restart",
    Tune: "tune",
    Drain: "drain",
    Escalate: "escalate",
    Ack: "ack",
    Note: "note",
    RootCause: "rootcause",
    Resolve: "resolve",
    ShowReport: "report",
    Forecast: "forecast",
    Help: "help",
    Backtest: "backtest",
}


def name_of(command: Command) -> str:
    """The sub-command's name as typed (``/backlog <name>``)."""
    return _NAMES[type(command)]
