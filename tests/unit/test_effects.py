"""Effect checks over scripted depth series, with the clock as an argument: helping,
no effect, worse, waiting for data, failed, emptied, noise; and their words."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.chart import MarkKind
from bot.domain.effect_text import EffectRecord, describe, report_line, verdict_marks
from bot.domain.effects import (
    EffectNumbers,
    Verdict,
    Watch,
    failed,
    judge,
    watch_window,
    watched_queue,
)
from bot.domain.models import ActionRequest, ActionState, QueueSample
from bot.domain.playbook import ActionKind, EffectCheck

EMAIL = "email_processing_queue"
ANALYSIS = "analysis_queue"
ACTION = datetime(2026, 11, 28, 9, 15, tzinfo=UTC)
EVERY = timedelta(seconds=30)


def series(start: datetime, depth: float, per_minute: float, minutes: float) -> list[QueueSample]:
    """A depth sample every 30 s for ``minutes`` from ``start``, moving ``per_minute``."""
    steps = int(minutes * 60 / EVERY.total_seconds())
    return [
        QueueSample(start + i * EVERY, {EMAIL: max(round(depth + per_minute * i / 2), 0)})
        for i in range(steps + 1)
    ]


def story(after_per_minute: float, after_minutes: float = 10) -> list[QueueSample]:
    """15 minutes growing 240/min up to 5,000 at the action, then ``after_per_minute``."""
    before = series(ACTION - timedelta(minutes=15), 5000 - 240 * 15, 240, 15)
    return before + series(ACTION, 5000, after_per_minute, after_minutes)[1:]


def watch(workers: int | None = 2) -> Watch:
    until = ACTION + timedelta(minutes=10)
    return Watch(EMAIL, ACTION, ACTION, until, workers_before=workers, threshold=1000)


def at(minutes: float) -> datetime:
    return ACTION + timedelta(minutes=minutes)


def test_a_scale_that_drains_the_queue_is_helping(playbook):
    # Arrivals = 240 + 2 workers x 50 = 340/min: throughput 100 before; draining 720/min
    # after means 340 + 720 = 1,060/min: +960.
    result = judge(watch(), story(-720), at(10), playbook.capacity, playbook.effect_check)
    assert (result.verdict, result.final) == (Verdict.HELPING, True)
    numbers = result.numbers
    assert numbers is not None
    assert numbers.arrivals_per_minute == pytest.approx(340)
    assert numbers.throughput_before == pytest.approx(100)
    # Once empty the depth cannot fall further: the rate is read down to the first zero.
    assert numbers.throughput_after == pytest.approx(1060, rel=0.01)
    assert numbers.change == pytest.approx(960, rel=0.01)
    assert numbers.before is not None and numbers.before.time_to_drain is None
    assert numbers.after is not None and numbers.after.depth == 0
    assert describe(result) == [
        ":white_check_mark: *Helping* — `email_processing_queue` emptied after the action.",
        "• Consumer throughput: ~100/min → ~1,058/min (+958/min)",
        "• `email_processing_queue` depth: 5,000 → 0; growing 240/min → draining 718/min",
        "• Time to drain: never (not draining) → empty",
    ]


def test_helping_without_emptying_gives_the_times_to_drain(playbook):
    result = judge(watch(), story(-100), at(10), playbook.capacity, playbook.effect_check)
    assert result.verdict is Verdict.HELPING
    assert (
        result.reason == "The consumers take 340 jobs/min more (more than the 10/min that counts)."
    )
    assert describe(result)[1:] == [
        "• Consumer throughput: ~100/min → ~440/min (+340/min)",
        "• `email_processing_queue` depth: 5,000 → 4,000; growing 240/min → draining 100/min",
        "• Time to drain: never (not draining) → 40m",
    ]


def test_a_change_within_the_margin_is_no_effect(playbook):
    # 240 → 232/min: +8/min, under the 10% of the 100/min throughput before.
    result = judge(watch(), story(232), at(10), playbook.capacity, playbook.effect_check)
    assert result.verdict is Verdict.NO_EFFECT
    assert result.reason == (
        "The consumers' throughput changed by +8 jobs/min, within the ±10/min that does not "
        "count as an effect."
    )


def test_a_queue_growing_faster_after_the_action_is_worse(playbook):
    result = judge(watch(), story(400), at(10), playbook.capacity, playbook.effect_check)
    assert result.verdict is Verdict.WORSE
    assert result.numbers is not None and result.numbers.change == pytest.approx(-160)
    assert "take 160 jobs/min fewer" in result.reason
    assert describe(result)[1] == "• Consumer throughput: ~100/min → ~0/min (-160/min)"


def test_the_first_verdict_comes_once_two_minutes_of_samples_follow_the_action(playbook):
    samples = story(-100)
    early = judge(watch(), samples, at(1.5), playbook.capacity, playbook.effect_check)
    assert (early.verdict, early.final) == (None, False)
    assert early.reason.startswith("Waiting for data: there are not enough depth samples since")
    first = judge(watch(), samples, at(2), playbook.capacity, playbook.effect_check)
    assert (first.verdict, first.final) == (Verdict.HELPING, False)
    assert describe(first)[0].startswith(":white_check_mark: *Helping*")


def test_samples_after_now_or_after_the_window_are_not_read(playbook):
    samples = story(-100, after_minutes=10) + series(at(10), 4000, 5000, 5)[1:]
    result = judge(watch(), samples, at(15), playbook.capacity, playbook.effect_check)
    assert result.verdict is Verdict.HELPING and result.final


def test_without_samples_before_the_action_the_verdict_is_unknown(playbook):
    samples = series(ACTION, 5000, -100, 10)
    waiting = judge(watch(), samples, at(5), playbook.capacity, playbook.effect_check)
    assert waiting.verdict is None
    final = judge(watch(), samples, at(10), playbook.capacity, playbook.effect_check)
    assert (final.verdict, final.final) == (Verdict.UNKNOWN, True)
    assert final.reason == (
        "No verdict: there were not enough depth samples before the action (a trend needs 3 "
        "samples over at least 2m)."
    )


def test_an_empty_queue_before_and_after_has_nothing_to_judge(playbook):
    samples = series(ACTION - timedelta(minutes=15), 0, 0, 25)
    result = judge(watch(), samples, at(10), playbook.capacity, playbook.effect_check)
    assert result.verdict is Verdict.UNKNOWN
    assert "the queue stayed empty" in result.reason


def test_without_the_workers_before_only_the_change_is_shown(playbook):
    result = judge(watch(None), story(-100), at(10), playbook.capacity, playbook.effect_check)
    assert result.verdict is Verdict.HELPING
    assert describe(result)[1] == (
        "• Consumer throughput: +340 jobs/min (the workers before are unknown: the change only)"
    )


def test_noise_alone_is_not_an_effect(playbook):
    rng = random.Random(7)
    noisy = [
        QueueSample(s.at, {EMAIL: s.depths[EMAIL] + rng.randint(-400, 400)}) for s in story(240)
    ]
    result = judge(watch(), noisy, at(10), playbook.capacity, playbook.effect_check)
    numbers = result.numbers
    assert numbers is not None and numbers.margin is not None
    assert abs(numbers.change or 0) <= numbers.margin  # the noise sets the margin
    assert numbers.margin > 10
    assert result.verdict is Verdict.NO_EFFECT


def test_the_thresholds_come_from_the_playbook(playbook):
    strict = EffectCheck(min_change=0.05, min_change_per_minute=1)
    result = judge(watch(), story(232), at(10), playbook.capacity, strict)
    assert result.verdict is Verdict.HELPING  # +8/min is over 5% of 100/min


def test_a_failed_action_is_failed_with_its_reason_and_its_queue_is_not_judged():
    error = (
        "`phishnet-worker-email` scaled from 2 to 6 replicas, but only 2 of 6 pods are Ready "
        "after 900s — pods not Ready: phishnet-worker-email-x Pending, not scheduled: 0/3 "
        "nodes are available: 3 Insufficient cpu."
    )
    result = failed(error)
    assert (result.verdict, result.final, result.numbers) == (Verdict.FAILED, True, None)
    assert describe(result) == [
        f":x: *Failed* — The action failed, so its effect was not measured: {error}"
    ]


def test_a_drain_is_watched_while_its_job_runs(playbook):
    settings = playbook.effect_check
    start, end = ACTION, ACTION + timedelta(minutes=25)
    assert watch_window(ActionKind.DRAIN, start, end, settings) == (start, end)
    assert watch_window(ActionKind.SCALE, start, end, settings) == (end, end + settings.window)


def request(kind: ActionKind, params: dict[str, object]) -> ActionRequest:
    return ActionRequest(
        id=uuid.uuid4(),
        incident_id=1,
        kind=kind,
        params=params,
        summary="x",
        requested_by="U1",
        requested_at=ACTION,
        expires_at=ACTION,
        state=ActionState.SUCCEEDED,
    )


def test_the_queue_watched_is_the_one_the_action_works(playbook):
    scale = request(ActionKind.SCALE, {"deployment": "phishnet-worker-analysis"})
    assert watched_queue(playbook, scale, EMAIL) == ANALYSIS
    tune = request(
        ActionKind.TUNE, {"deployments": ["phishnet-worker-email", "phishnet-worker-analysis"]}
    )
    assert watched_queue(playbook, tune, ANALYSIS) == ANALYSIS  # the incident's own first
    assert watched_queue(playbook, tune, None) == EMAIL
    assert watched_queue(playbook, request(ActionKind.DRAIN, {}), None) == EMAIL
    requeue = request(ActionKind.REQUEUE, {"target_queue": ANALYSIS})
    assert watched_queue(playbook, requeue, EMAIL) == ANALYSIS


def test_numbers_survive_the_database_and_become_the_reports_line(playbook):
    result = judge(watch(), story(-100), at(10), playbook.capacity, playbook.effect_check)
    numbers = result.numbers
    assert numbers is not None
    assert EffectNumbers.from_json(numbers.to_json()) == numbers
    line = report_line("Scale `phishnet-worker-email` from 2 to 6", result.verdict, numbers, "")
    assert line == (
        "Scale `phishnet-worker-email` from 2 to 6: throughput ~100/min → ~440/min "
        "(+340/min); time to drain never (not draining) → 40m: *helping*"
    )


def test_verdicts_become_chart_marks():
    record = EffectRecord(
        uuid.uuid4(), 1, ActionKind.SCALE, "Scale", EMAIL, Verdict.HELPING, True, "", None, at(2)
    )
    waiting = EffectRecord(
        uuid.uuid4(), 1, ActionKind.RESTART, "Restart", EMAIL, None, False, "", None, None
    )
    [mark] = verdict_marks([record, waiting])
    assert (mark.at, mark.label, mark.kind) == (at(2), "scale: helping", MarkKind.VERDICT)
