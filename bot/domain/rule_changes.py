"""A playbook change typed as dotted assignments, and the ``/backlog backtest`` command.

``EmailQueueBacklog.threshold=800 EmailQueueBacklog.for=5m`` names a rule of the
current playbook, one of its fields and the new value; ``rule.threshold=800`` means
the rule of the open incident (else of the last one). Only the two fields that decide
*when* a ``depth_above`` rule fires can be changed: ``threshold`` (jobs, a whole number
above 0) and ``for`` (a duration, as the playbook writes it: ``5m``, ``90s``, ``1h``).
Anything else is refused with a sentence naming what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError

from bot.domain.errors import Refused
from bot.domain.playbook import AlertRule, Playbook, RuleKind, cross_check, parse_duration
from bot.domain.text import code

#: The placeholder for "the rule of the open (else the last) incident".
INCIDENT_RULE = "rule"
#: The fields a backtest may change: the two that decide when a rule fires.
FIELDS = ("threshold", "for")
#: How far back ``backtest`` replays unless told (``--since``).
DEFAULT_SINCE = timedelta(days=30)
#: How soon after an alert clears a new one counts as a flap, unless told
#: (``--quiet-period``). Our own default: no playbook setting exists yet. Half an hour
#: is three times the runbook's ``for: 10m``: an alert back within it is, for the
#: people paged, the same backlog coming back rather than a new one.
DEFAULT_QUIET_PERIOD = timedelta(minutes=30)

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_]+)=(.+)$")
_THRESHOLD = re.compile(r"^\d{1,3}(,\d{3})+$|^\d[\d_]*$")
_EXAMPLE = "`/backlog backtest EmailQueueBacklog.threshold=800 EmailQueueBacklog.for=5m`"
_OPTIONS = ("--since", "--incident", "--quiet-period")


class ChangeError(Refused, ValueError):
    """A rule change that cannot be backtested as typed; ``str()`` says why."""


@dataclass(frozen=True)
class RuleChange:
    """``rule.field=value``: ``rule`` is a rule name or :data:`INCIDENT_RULE`;
    ``value`` is jobs (int) for ``threshold``, a timedelta for ``for``."""

    rule: str
    field: str
    value: int | timedelta

    def typed(self, rule: str | None = None) -> str:
        """As a person types it: ``EmailQueueBacklog.for=5m``."""
        return f"{rule or self.rule}.{self.field}={show_value(self.value)}"


@dataclass(frozen=True)
class Backtest:
    """``/backlog backtest RULE.FIELD=VALUE… [--since 30d] [--incident ID]
    [--quiet-period 30m]``."""

    changes: tuple[RuleChange, ...]
    since: timedelta = DEFAULT_SINCE
    incident: int | None = None
    quiet_period: timedelta = DEFAULT_QUIET_PERIOD


def show_value(value: int | timedelta) -> str:
    """``800`` or ``5m`` / ``90s`` / ``2h`` / ``1h30m``: as a playbook would write it."""
    if isinstance(value, int):
        return str(value)
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts) or "0s"


def parse_change(text: str) -> RuleChange:
    """``RuleChange`` from ``EmailQueueBacklog.threshold=800``; raises :class:`ChangeError`."""
    match = _ASSIGNMENT.match(text)
    if not match:
        raise ChangeError(
            f"{code(text)} is not a rule change: write `RULE.threshold=800` or `RULE.for=5m` "
            f"with a rule of the playbook (e.g. {_EXAMPLE}), or `rule.threshold=800` for the "
            "open or last incident's rule."
        )
    rule, field, raw = match.groups()
    if field not in FIELDS:
        raise ChangeError(
            f"{code(f'{rule}.{field}')} cannot be backtested: only `threshold` and `for` "
            "decide when a rule fires."
        )
    if field == "threshold":
        if not _THRESHOLD.match(raw) or int(raw.replace(",", "").replace("_", "")) <= 0:
            raise ChangeError(
                f"{code(f'{rule}.threshold')} must be a whole number of jobs above 0, "
                f"got {code(raw)}."
            )
        return RuleChange(rule, field, int(raw.replace(",", "").replace("_", "")))
    try:
        duration = parse_duration(raw)
    except ValueError:
        duration = timedelta(-1)
    if duration < timedelta(0) or duration > timedelta(days=1):
        raise ChangeError(
            f"{code(f'{rule}.for')} must be a duration like `5m`, `90s` or `1h` (at most a "
            f"day), got {code(raw)}."
        )
    return RuleChange(rule, field, duration)


def parse_backtest(args: Sequence[str]) -> Backtest:
    """The command from its split arguments; raises :class:`ChangeError`."""
    changes: list[RuleChange] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            changes.append(parse_change(arg))
            i += 1
            continue
        name, has_value, value = arg.partition("=")
        flag = "--" + name.lstrip("-")
        if flag not in _OPTIONS:
            raise ChangeError(
                f"Unknown option {code(name)} for `backtest` (it takes `--since`, `--incident` "
                "and `--quiet-period`)."
            )
        if not has_value:
            if i + 1 >= len(args):
                raise ChangeError(f"{code(flag)} needs a value.")
            value, i = args[i + 1], i + 1
        options[flag] = value
        i += 1
    if not changes:
        raise ChangeError(f"`backtest` needs at least one rule change, e.g. {_EXAMPLE}.")
    seen: set[tuple[str, str]] = set()
    for change in changes:
        if (change.rule, change.field) in seen:
            raise ChangeError(f"{code(f'{change.rule}.{change.field}')} is given twice.")
        seen.add((change.rule, change.field))
    return Backtest(
        changes=tuple(changes),
        since=_duration_option(options, "--since", DEFAULT_SINCE),
        incident=_incident_option(options.get("--incident")),
        quiet_period=_duration_option(options, "--quiet-period", DEFAULT_QUIET_PERIOD),
    )


def _duration_option(options: dict[str, str], flag: str, default: timedelta) -> timedelta:
    if flag not in options:
        return default
    try:
        value = parse_duration(options[flag])
    except ValueError:
        value = timedelta(0)
    if value <= timedelta(0):
        raise ChangeError(
            f"{code(flag)} expected a duration like `30m`, `2d` or `12h`, got "
            f"{code(options[flag])}."
        )
    return value


def _incident_option(value: str | None) -> int | None:
    if value is None:
        return None
    number = value.removeprefix("#")
    if not number.isdigit():
        raise ChangeError(f"`--incident` expected an incident number like `12`, got {code(value)}.")
    return int(number)


def apply_changes(
    playbook: Playbook, changes: Sequence[RuleChange], incident_rule: str | None
) -> Playbook:
    """The playbook with ``changes`` made, validated as a playbook file would be.

    ``incident_rule``: the rule of the open (else the last) incident, which
    ``rule.…`` stands for (None: there is no incident). Raises :class:`ChangeError`
    for an unknown rule, a rule the bot does not evaluate, the same field set twice,
    a change that changes nothing, or a result the playbook's own checks refuse.
    """
    depth_rules = [r.name for r in playbook.rules if r.kind is RuleKind.DEPTH_ABOVE]
    updates: dict[str, dict[str, object]] = {}
    for change in changes:
        name = _rule_name(playbook, change, incident_rule, depth_rules)
        fields = updates.setdefault(name, {})
        key = "for_" if change.field == "for" else "threshold"
        if key in fields:
            raise ChangeError(
                f"{code(f'{name}.{change.field}')} is given twice (once as `rule.`, the open "
                "or last incident's rule)."
            )
        fields[key] = change.value
    rules = []
    for rule in playbook.rules:
        rules.append(rule.model_copy(update=updates[rule.name]) if rule.name in updates else rule)
    if tuple(rules) == playbook.rules:
        typed = " ".join(code(c.typed()) for c in changes)
        raise ChangeError(
            f"{typed} changes nothing: the current playbook already says so. Give a different "
            "value to see what it would change."
        )
    # The values were checked above; re-validating each changed rule keeps the
    # playbook model's own constraints the judge, as for a playbook file.
    try:
        checked = tuple(AlertRule.model_validate(r.model_dump(by_alias=True)) for r in rules)
    except ValidationError as exc:  # pragma: no cover - parse_change already refused it
        raise ChangeError(f"The changed rule is not valid: {exc.errors()[0]['msg']}.") from exc
    candidate = playbook.model_copy(update={"rules": checked})
    problems = cross_check(candidate)
    if problems:
        said = "; ".join(f"{p.field}: {p.reason}" for p in problems)
        raise ChangeError(f"The changed playbook is not valid ({said}).")
    return candidate


def _rule_name(
    playbook: Playbook, change: RuleChange, incident_rule: str | None, depth_rules: list[str]
) -> str:
    known = ", ".join(code(n) for n in depth_rules)
    name = change.rule
    if name == INCIDENT_RULE:
        if incident_rule is None:
            raise ChangeError(
                f"{code(change.typed())}: `rule.` means the rule of the open or last incident, "
                f"and there has been none. Name the rule instead: {known}."
            )
        name = incident_rule
    rule = next((r for r in playbook.rules if r.name == name), None)
    if rule is None:
        raise ChangeError(
            f"There is no rule {code(name)} in playbook {code(playbook.name)}; its rules the bot "
            f"evaluates are {known}."
        )
    if rule.kind is not RuleKind.DEPTH_ABOVE:
        via = " (the open or last incident's rule)" if change.rule == INCIDENT_RULE else ""
        raise ChangeError(
            f"{code(name)}{via} is a `{rule.kind.value}` rule, evaluated by Prometheus: the "
            f"bot stores no samples to replay it. Backtest one of {known}."
        )
    return name


@dataclass(frozen=True)
class RuleDiff:
    """A depth rule as the current and the candidate playbook have it (None: absent)."""

    name: str
    current: AlertRule | None
    candidate: AlertRule | None

    def describe(self) -> str:
        """``EmailQueueBacklog: threshold 1,000 → 800, for 10m → 5m``."""
        if self.current is None:
            assert self.candidate is not None
            return f"{self.name}: new rule, {rule_condition(self.candidate)}"
        if self.candidate is None:
            return f"{self.name}: removed ({rule_condition(self.current)})"
        old, new = self.current, self.candidate
        parts = []
        if old.queue != new.queue:
            parts.append(f"queue {old.queue} → {new.queue}")
        if old.threshold != new.threshold:
            parts.append(f"threshold {old.threshold:,} → {new.threshold:,}")
        if old.for_ != new.for_:
            parts.append(f"for {show_value(old.for_)} → {show_value(new.for_)}")
        return f"{self.name}: " + ", ".join(parts)


def rule_condition(rule: AlertRule) -> str:
    """``email_processing_queue > 1,000 for 10m``."""
    return f"{rule.queue} > {rule.threshold:,} for {show_value(rule.for_)}"


def rule_diffs(current: Playbook, candidate: Playbook) -> list[RuleDiff]:
    """The depth rules that differ in queue, threshold or ``for`` (or exist in one only)."""
    old = {r.name: r for r in current.rules if r.kind is RuleKind.DEPTH_ABOVE}
    new = {r.name: r for r in candidate.rules if r.kind is RuleKind.DEPTH_ABOVE}
    diffs = []
    for name in [*old, *(n for n in new if n not in old)]:
        a, b = old.get(name), new.get(name)
        if a is None or b is None or _when(a) != _when(b):
            diffs.append(RuleDiff(name, a, b))
    return diffs


def _when(rule: AlertRule) -> tuple[str, int, timedelta]:
    return rule.queue, rule.threshold, rule.for_


_HINT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\.(threshold|for)\s*=\s*([^\s;]+)")


def backtest_hint(note_text: str) -> str | None:
    """A report line pointing at the backtest of the change a prevention note proposes.

    ``"raise EmailQueueBacklog.threshold=800 and EmailQueueBacklog.for=5m"`` gives
    ``"Backtest this change: `/backlog backtest EmailQueueBacklog.threshold=800
    EmailQueueBacklog.for=5m` (or `backlog-bot backtest --playbook CANDIDATE.yml`)."``;
    None when the text holds no well-formed dotted assignment (a value that would be
    refused, e.g. ``threshold=lots``, is left out). Pure: whether the rule exists is
    checked when the command runs.
    """
    found: dict[tuple[str, str], str] = {}
    for rule, field, raw in _HINT.findall(note_text):
        try:
            change = parse_change(f"{rule}.{field}={raw.rstrip('.,:)')}")
        except ChangeError:
            continue
        found.setdefault((change.rule, change.field), change.typed())
    if not found:
        return None
    command = " ".join(found.values())
    return (
        f"Backtest this change: `/backlog backtest {command}` "
        "(or `backlog-bot backtest --playbook CANDIDATE.yml`)."
    )
