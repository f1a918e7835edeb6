"""``/backlog backtest`` input: dotted rule changes, options, refusals, and the report hint."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import commands as cmd
from bot.domain.permissions import allowed_roles
from bot.domain.rule_changes import (
    Backtest,
    ChangeError,
    RuleChange,
    apply_changes,
    backtest_hint,
    rule_diffs,
)

DEFAULT = Backtest(changes=())


def parsed(text: str) -> cmd.Command:
    return cmd.parse(text)


def test_dotted_changes_and_options_parse():
    assert parsed(
        "backtest EmailQueueBacklog.threshold=800 EmailQueueBacklog.for=5m --since 7d "
        "--incident #12 --quiet-period=45m"
    ) == Backtest(
        changes=(
            RuleChange("EmailQueueBacklog", "threshold", 800),
            RuleChange("EmailQueueBacklog", "for", timedelta(minutes=5)),
        ),
        since=timedelta(days=7),
        incident=12,
        quiet_period=timedelta(minutes=45),
    )
    # `rule.` stands for the incident's rule; thousands separators and autocorrected dashes.
    assert parsed("backtest rule.threshold=1,200 —since 2d") == Backtest(
        changes=(RuleChange("rule", "threshold", 1200),), since=timedelta(days=2)
    )
    assert DEFAULT.since == timedelta(days=30) and DEFAULT.quiet_period == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "backtest",
            "`backtest` needs at least one rule change, e.g. `/backlog backtest "
            "EmailQueueBacklog.threshold=800 EmailQueueBacklog.for=5m`.",
        ),
        (
            "backtest threshold=800",
            "`threshold=800` is not a rule change: write `RULE.threshold=800` or `RULE.for=5m` "
            "with a rule of the playbook (e.g. `/backlog backtest EmailQueueBacklog.threshold=800 "
            "EmailQueueBacklog.for=5m`), or `rule.threshold=800` for the open or last "
            "incident's rule.",
        ),
        (
            "backtest EmailQueueBacklog.severity=critical",
            "`EmailQueueBacklog.severity` cannot be backtested: only `threshold` and `for` "
            "decide when a rule fires.",
        ),
        (
            "backtest EmailQueueBacklog.threshold=lots",
            "`EmailQueueBacklog.threshold` must be a whole number of jobs above 0, got `lots`.",
        ),
        (
            "backtest EmailQueueBacklog.threshold=0",
            "`EmailQueueBacklog.threshold` must be a whole number of jobs above 0, got `0`.",
        ),
        (
            "backtest rule.for=soon",
            "`rule.for` must be a duration like `5m`, `90s` or `1h` (at most a day), got `soon`.",
        ),
        (
            "backtest rule.for=3d",
            "`rule.for` must be a duration like `5m`, `90s` or `1h` (at most a day), got `3d`.",
        ),
        (
            "backtest rule.for=5m rule.for=6m",
            "`rule.for` is given twice.",
        ),
        (
            "backtest rule.for=5m --since yesterday",
            "`--since` expected a duration like `30m`, `2d` or `12h`, got `yesterday`.",
        ),
        ("backtest rule.for=5m --since", "`--since` needs a value."),
        (
            "backtest rule.for=5m --incident twelve",
            "`--incident` expected an incident number like `12`, got `twelve`.",
        ),
        (
            "backtest rule.for=5m --queue email",
            "Unknown option `--queue` for `backtest` (it takes `--since`, `--incident` and "
            "`--quiet-period`).",
        ),
    ],
)
def test_bad_input_is_refused_with_a_sentence_naming_it(text, said):
    with pytest.raises(cmd.CommandError) as refused:
        parsed(text)
    assert str(refused.value) == said


def test_changes_apply_to_a_copy_of_the_playbook(playbook):
    candidate = apply_changes(
        playbook,
        [
            RuleChange("rule", "threshold", 800),
            RuleChange("EmailQueueBacklog", "for", timedelta(minutes=5)),
        ],
        "EmailQueueBacklog",
    )
    email = next(r for r in candidate.rules if r.name == "EmailQueueBacklog")
    assert (email.threshold, email.for_) == (800, timedelta(minutes=5))
    original = next(r for r in playbook.rules if r.name == "EmailQueueBacklog")
    assert (original.threshold, original.for_) == (1000, timedelta(minutes=10))
    [diff] = rule_diffs(playbook, candidate)
    assert diff.describe() == "EmailQueueBacklog: threshold 1,000 → 800, for 10m → 5m"


@pytest.mark.parametrize(
    ("changes", "incident_rule", "said"),
    [
        (
            [RuleChange("Nope", "threshold", 800)],
            None,
            "There is no rule `Nope` in playbook `phishnet-queue-backlog`; its rules the bot "
            "evaluates are `EmailQueueBacklog`, `AnalysisQueueBacklog`.",
        ),
        (
            [RuleChange("WorkerProcessingStalled", "for", timedelta(minutes=5))],
            None,
            "`WorkerProcessingStalled` is a `processing_stalled` rule, evaluated by Prometheus: "
            "the bot stores no samples to replay it. Backtest one of `EmailQueueBacklog`, "
            "`AnalysisQueueBacklog`.",
        ),
        (
            [RuleChange("rule", "for", timedelta(minutes=5))],
            "WorkerProcessingStalled",
            "`WorkerProcessingStalled` (the open or last incident's rule) is a "
            "`processing_stalled` rule, evaluated by Prometheus: the bot stores no samples to "
            "replay it. Backtest one of `EmailQueueBacklog`, `AnalysisQueueBacklog`.",
        ),
        (
            [RuleChange("rule", "threshold", 800)],
            None,
            "`rule.threshold=800`: `rule.` means the rule of the open or last incident, and "
            "there has been none. Name the rule instead: `EmailQueueBacklog`, "
            "`AnalysisQueueBacklog`.",
        ),
        (
            [
                RuleChange("rule", "threshold", 800),
                RuleChange("EmailQueueBacklog", "threshold", 900),
            ],
            "EmailQueueBacklog",
            "`EmailQueueBacklog.threshold` is given twice (once as `rule.`, the open or last "
            "incident's rule).",
        ),
        (
            [RuleChange("EmailQueueBacklog", "threshold", 1000)],
            None,
            "`EmailQueueBacklog.threshold=1000` changes nothing: the current playbook already "
            "says so. Give a different value to see what it would change.",
        ),
    ],
)
def test_changes_the_playbook_cannot_take_are_refused(playbook, changes, incident_rule, said):
    with pytest.raises(ChangeError) as refused:
        apply_changes(playbook, changes, incident_rule)
    assert str(refused.value) == said


def test_backtest_is_read_only_and_in_the_usage():
    assert allowed_roles("backtest", ("sre_oncall",), {}) is None
    assert "• `backtest RULE.threshold=800 RULE.for=5m [--since 30d]`" in cmd.USAGE
    assert cmd.name_of(Backtest(changes=(RuleChange("rule", "for", timedelta(0)),))) == "backtest"


@pytest.mark.parametrize(
    ("note", "hint"),
    [
        (
            "raise EmailQueueBacklog.threshold=800",
            "Backtest this change: `/backlog backtest EmailQueueBacklog.threshold=800` "
            "(or `backlog-bot backtest --playbook CANDIDATE.yml`).",
        ),
        (
            "Alert sooner: EmailQueueBacklog.threshold = 800, EmailQueueBacklog.for=5m.",
            "Backtest this change: `/backlog backtest EmailQueueBacklog.threshold=800 "
            "EmailQueueBacklog.for=5m` (or `backlog-bot backtest --playbook CANDIDATE.yml`).",
        ),
        ("add a worker autoscaler", None),
        ("EmailQueueBacklog.threshold=lots", None),
        ("see config.yaml.for=the record", None),
    ],
)
def test_a_prevention_note_with_a_dotted_change_points_at_its_backtest(note, hint):
    assert backtest_hint(note) == hint
