"""The hour-of-week prediction on generated history with a known weekly pattern."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.weekly import HourlyDepth, Reliability, format_history, predict_next_hours

NOW = datetime(2026, 11, 24, 10, 20, tzinfo=UTC)  # a Tuesday
THIS_HOUR = NOW.replace(minute=0)


def pattern(at: datetime) -> float:
    """Busy weekday office hours, a slow rise through the day, quiet weekends."""
    weekday, hour = at.weekday(), at.hour
    level = 100 + 40 * hour + 30 * weekday
    if weekday < 5 and 9 <= hour < 17:
        level += 2_000
    return float(level)


def history(weeks: float, factor=lambda week, at: 1.0, tz=UTC) -> list[HourlyDepth]:
    hours = int(weeks * 168)
    points = []
    for back in range(hours, 0, -1):
        at = THIS_HOUR - timedelta(hours=back)
        week = (back - 1) // 168
        depth = pattern(at.astimezone(tz)) * factor(week, at)
        points.append(HourlyDepth(at, depth, int(depth), samples=240))
    return points


def test_a_clean_weekly_pattern_is_recovered_exactly():
    forecast = predict_next_hours("q", history(6), NOW)
    assert [h.at for h in forecast.hours] == [THIS_HOUR + timedelta(hours=i) for i in range(1, 25)]
    assert [h.depth for h in forecast.hours] == [
        pytest.approx(pattern(h.at)) for h in forecast.hours
    ]
    assert all(h.weeks == 6 for h in forecast.hours)
    assert forecast.peak.at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # Tue 16:00
    assert forecast.reliability is Reliability.GOOD
    assert forecast.describe() == (
        "from 6 weeks of history, 168 of 168 hour-of-week slots seen; weeks differ by ±0% (good)"
    )


def test_random_noise_averages_out_within_a_tolerance():
    rng = random.Random(10)
    noisy = history(8, lambda week, at: rng.uniform(0.9, 1.1))
    forecast = predict_next_hours("q", noisy, NOW)
    for hour in forecast.hours:
        assert hour.depth == pytest.approx(pattern(hour.at), rel=0.06)
    assert forecast.reliability is Reliability.GOOD
    assert 0.03 < forecast.spread < 0.08  # uniform ±10 % has a standard deviation of 5.8 %


@pytest.mark.parametrize(
    ("swing", "reliability", "said"),
    [
        (0.05, Reliability.GOOD, "weeks differ by ±5% (good)"),
        (0.25, Reliability.FAIR, "weeks differ by ±27% (fair)"),
        (0.60, Reliability.POOR, "weeks differ by ±66% (poor)"),
    ],
)
def test_reliability_reflects_how_far_apart_the_weeks_are(swing, reliability, said):
    # Alternate weeks up and down by `swing`: the mean is still the pattern, and the
    # standard deviation of six such weeks is swing * sqrt(6/5) of the level.
    swinging = history(6, lambda week, at: 1 + swing if week % 2 else 1 - swing)
    forecast = predict_next_hours("q", swinging, NOW)
    assert [h.depth for h in forecast.hours] == [
        pytest.approx(pattern(h.at)) for h in forecast.hours
    ]
    assert forecast.spread == pytest.approx(swing * (6 / 5) ** 0.5)
    assert forecast.reliability is reliability
    assert forecast.describe().endswith(said)


def test_less_than_a_week_of_history_predicts_nothing_and_says_so():
    forecast = predict_next_hours("q", history(5 / 7), NOW)
    assert forecast.hours == () and forecast.peak is None
    assert forecast.history == timedelta(days=5)
    assert forecast.describe() == (
        "only 5 days of history: an hour-of-week prediction needs at least one full week, "
        "so none yet"
    )
    nothing = predict_next_hours("q", [], NOW)
    assert nothing.describe().startswith("only under an hour of history")


def test_an_hour_of_the_week_never_seen_is_not_guessed():
    # The bot was down every Tuesday 13:00 for 3 weeks: that slot has no history.
    gaps = [p for p in history(3) if not (p.hour.weekday() == 1 and p.hour.hour == 13)]
    forecast = predict_next_hours("q", gaps, NOW)
    [unseen] = forecast.unseen
    assert unseen.at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert (unseen.depth, unseen.weeks) == (None, 0)
    assert len(forecast.predicted) == 23
    assert forecast.describe().startswith(
        "from 3 weeks of history, 167 of 168 hour-of-week slots seen"
    )


def test_one_week_gives_a_prediction_of_unknown_reliability():
    forecast = predict_next_hours("q", history(1), NOW)
    assert len(forecast.predicted) == 24 and forecast.spread is None
    assert forecast.reliability is Reliability.UNKNOWN
    assert forecast.describe() == (
        "from 7 days of history, 168 of 168 hour-of-week slots seen; each hour seen in one "
        "week only, so its reliability is unknown"
    )


def test_the_current_hour_and_later_are_not_history():
    late = [*history(2), HourlyDepth(THIS_HOUR, 99_999.0, 99_999)]
    forecast = predict_next_hours("q", late, NOW)
    assert max(h.depth for h in forecast.predicted) < 99_999


def test_hours_of_the_week_in_a_time_zone():
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 all of November 2026: no DST change inside
    forecast = predict_next_hours("q", history(3, tz=berlin), NOW, tz=berlin)
    first = forecast.hours[0]
    assert first.at == datetime(2026, 11, 24, 12, 0, tzinfo=berlin)  # 11:00 UTC
    assert first.depth == pytest.approx(pattern(first.at))


def test_history_spans_in_words():
    assert format_history(timedelta(days=45)) == "6 weeks 3 days"
    assert format_history(timedelta(days=42)) == "6 weeks"
    assert format_history(timedelta(days=10)) == "10 days"
    assert format_history(timedelta(days=1)) == "1 day"
    assert format_history(timedelta(hours=7, minutes=59)) == "7 hours"
    assert format_history(timedelta(minutes=59)) == "under an hour"
