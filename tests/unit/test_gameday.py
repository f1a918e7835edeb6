"""The game day's pure decisions: the section, the targets, what to push, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.domain.playbook import PlaybookError, load_playbook
from bot.domain.playbook_gameday import (
    DrillRefused,
    Measured,
    missed,
    plan_drill,
    show,
    synthetic_id,
    to_push,
)

PHISHNET = Path(__file__).parent.parent.parent / "playbooks" / "queue-backlog.yml"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _playbook(tmp_path, section, namespace="phishnet"):
    data = yaml.safe_load(PHISHNET.read_text(encoding="utf-8"))
    data["namespace"] = namespace
    data["gameday"] = section
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_playbook(path)


def test_targets_default_to_the_playbooks_own_timers(tmp_path):
    playbook = _playbook(
        tmp_path, {"staging": {"namespace": "phishnet", "queues": ["analysis_queue"]}}
    )
    plan = plan_drill(playbook)
    assert plan.rule.name == "AnalysisQueueBacklog"
    # for: 10m + 1m; the alert 1m after; the first tier's 30m after detection + 1m.
    assert (plan.targets.detect, plan.targets.post, plan.targets.page) == (
        timedelta(minutes=11),
        timedelta(minutes=12),
        timedelta(minutes=42),
    )


def test_no_section_is_refused():
    with pytest.raises(DrillRefused, match="has no gameday section"):
        plan_drill(load_playbook(PHISHNET))


def test_a_queue_no_rule_watches_is_refused(tmp_path):
    playbook = _playbook(
        tmp_path, {"staging": {"namespace": "phishnet", "queues": ["notification_queue"]}}
    )
    with pytest.raises(DrillRefused) as refused:
        plan_drill(playbook)
    assert str(refused.value) == (
        "Refusing the game day: playbook 'phishnet-queue-backlog' has no depth_above rule "
        "on queue 'notification_queue' for the drill to fire."
    )


def test_the_schedule_must_be_a_cron_expression(tmp_path):
    section = {"staging": {"namespace": "phishnet", "queues": ["analysis_queue"]}}
    assert _playbook(tmp_path, {**section, "schedule": "0 2 1 * *"}).gameday.schedule
    with pytest.raises(PlaybookError) as caught:
        _playbook(tmp_path, {**section, "schedule": "monthly"})
    assert "expected a cron expression of 5 fields" in caught.value.problems[0].reason


def test_pushes_are_bounded(tmp_path):
    section = {
        "staging": {"namespace": "phishnet", "queues": ["analysis_queue"]},
        "push": {"max_jobs": 700, "per_step": 400, "margin": 10},
    }
    plan = plan_drill(_playbook(tmp_path, section))
    assert to_push(0, 500, 10, 0, plan) == 400  # per step
    assert to_push(400, 500, 10, 400, plan) == 111  # up to threshold + margin + 1
    assert to_push(0, 500, 10, 650, plan) == 50  # max_jobs in all
    assert to_push(600, 500, 10, 0, plan) == 0  # already above


def test_a_missed_target_is_named(tmp_path):
    plan = plan_drill(
        _playbook(tmp_path, {"staging": {"namespace": "phishnet", "queues": ["analysis_queue"]}})
    )
    measured = Measured(
        crossed_at=T0,
        detected_at=T0 + timedelta(minutes=10),
        posted_at=T0 + timedelta(minutes=13, seconds=5),
        paged_at=None,
    )
    assert missed(plan, measured) == [
        "time to post 13m 5s over the target 12m",
        "time to page: never happened (target 42m)",
    ]


def test_ids_and_durations_read_as_written():
    assert synthetic_id("gameday-", "20261201T020000-3f2a", 42) == (
        "gameday-20261201T020000-3f2a-000042"
    )
    assert show(timedelta(hours=1, seconds=3)) == "1h 3s"
    assert show(timedelta(minutes=40)) == "40m"
    assert show(None) == "—"


def test_check_playbook_names_a_staging_queue_the_playbook_does_not_have(tmp_path):
    with pytest.raises(PlaybookError) as caught:
        _playbook(tmp_path, {"staging": {"namespace": "phishnet", "queues": ["nope"]}})
    assert [(p.field, p.reason) for p in caught.value.problems] == [
        ("gameday.staging.queues[0]", "unknown queue 'nope'")
    ]
