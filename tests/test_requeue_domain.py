"""The pure side of stuck-job recovery: what counts as stuck, tallies, progress text."""

from __future__ import annotations

import math

import pytest

from bot.domain.requeue import (
    BatchOutcome,
    HeartbeatState,
    ProgressThrottle,
    RequeueProgress,
    RequeueResult,
    RequeueTally,
    StuckTally,
    classify_heartbeat,
    format_progress,
    format_requeue_result,
    heartbeat_key_parts,
    validate_threshold,
)
from bot.domain.text import show_bytes

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        (None, HeartbeatState.MISSING),
        (b"1799999999", HeartbeatState.FRESH),
        ("1799999999.75", HeartbeatState.FRESH),
        (b"1799990000", HeartbeatState.STALE),
        (b"-5", HeartbeatState.STALE),  # a number, just a very old one
        (b"0", HeartbeatState.STALE),
        (b"1900000000", HeartbeatState.FRESH),  # from the future: a clock skew, not stuck
    ],
)
def test_numbers_are_fresh_or_stale_by_age(raw: bytes | str | None, state: HeartbeatState) -> None:
    assert classify_heartbeat(raw, now=NOW, threshold=600).state is state


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"abc",
        b"1e9",
        b"0x10",
        b" 17",
        b"17 ",
        b"1.",
        b".5",
        b"+5",
        b"1_000",
        b"inf",
        b"nan",
        b"12:30",
        b"\xff\xfe",
        "\u0661\u0662",
        b"9" * 33,
    ],
)
def test_anything_but_a_plain_decimal_is_malformed(raw: bytes | str) -> None:
    heartbeat = classify_heartbeat(raw, now=NOW, threshold=600)
    assert heartbeat.state is HeartbeatState.MALFORMED
    assert heartbeat.age_seconds is None


def test_exactly_the_threshold_old_is_still_fresh() -> None:
    assert classify_heartbeat(b"1799999400", now=NOW, threshold=600).state is HeartbeatState.FRESH
    stale = classify_heartbeat(b"1799999399.5", now=NOW, threshold=600)
    assert (stale.state, stale.age_seconds) == (HeartbeatState.STALE, 600.5)


def test_only_stale_and_missing_are_stuck() -> None:
    assert {s for s in HeartbeatState if s.is_stuck} == {
        HeartbeatState.STALE,
        HeartbeatState.MISSING,
    }


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_threshold_must_be_a_positive_number(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        validate_threshold(bad)
    assert validate_threshold(600) == 600.0


def test_heartbeat_key_template() -> None:
    assert heartbeat_key_parts("heartbeat:{job_id}") == ("heartbeat:", "")
    assert heartbeat_key_parts("{{app}}:hb:{job_id}:v1") == ("{{app}}:hb:", ":v1")
    for bad in ("heartbeat:", "{job_id}:{job_id}", "{job_id}"):
        with pytest.raises(ValueError, match="job_id"):
            heartbeat_key_parts(bad)


def test_ids_are_shown_even_when_not_utf8() -> None:
    assert show_bytes(b"job-1") == "job-1"
    assert show_bytes(b"job-\xff") == "job-\\xff"
    assert show_bytes("already text") == "already text"


def test_stuck_tally_counts_ages_and_caps_samples() -> None:
    tally = StuckTally(threshold_seconds=600, processing_set="processing_jobs", sample_size=2)
    rows: list[tuple[bytes, bytes | None]] = [
        (b"fresh", b"1799999990"),
        (b"stale-a", b"1799990000"),  # 10,000 s old
        (b"gone", None),
        (b"stale-b", b"1799000000"),  # 1,000,000 s old
        (b"bad-1", b"soon"),
        (b"bad-2", b""),
        (b"bad-\xff", b"x"),
    ]
    for job_id, raw in rows:
        tally.add(job_id, raw, NOW)

    scan = tally.result()
    assert (scan.scanned, scan.stuck, scan.missing_heartbeat, scan.stale_heartbeat) == (7, 3, 1, 2)
    assert scan.oldest_age_seconds == 1_000_000
    assert scan.sample_ids == ("stale-a", "gone")
    assert (scan.malformed, scan.malformed_count) == (("bad-1", "bad-2"), 3)
    assert (scan.threshold_seconds, scan.processing_set) == (600, "processing_jobs")


def test_missing_heartbeats_have_no_age() -> None:
    tally = StuckTally(threshold_seconds=600, processing_set="p")
    tally.add(b"a", None, NOW)
    assert tally.result().oldest_age_seconds is None


def test_requeue_tally_adds_batches_and_reports_progress_and_result() -> None:
    tally = RequeueTally(target_queue="email_processing_queue", sample_size=1)
    tally.add(500, BatchOutcome(moved=200, skipped_gone=3, malformed=1, still_running=296))
    tally.add(120, BatchOutcome(moved=100, skipped_renewed=2, malformed=1, still_running=17))
    tally.note_malformed(b"bad-1")
    tally.note_malformed(b"bad-2")

    progress = tally.progress(total=600, elapsed_seconds=2.0)
    assert progress == RequeueProgress(
        done=620, total=620, moved=300, skipped_renewed=2, malformed=2, elapsed_seconds=2.0
    )
    result = tally.result(elapsed_seconds=2.5)
    assert result == RequeueResult(
        moved=300,
        skipped_renewed=2,
        skipped_gone=3,
        malformed=2,
        elapsed_seconds=2.5,
        target_queue="email_processing_queue",
        malformed_sample=("bad-1",),
        examined=620,
        still_running=313,
    )
    buckets = (result.moved, result.skipped_renewed, result.skipped_gone, result.malformed)
    assert sum(buckets) + result.still_running == result.examined


def test_rate_is_ids_examined_per_second() -> None:
    progress = RequeueProgress(
        done=12_000,
        total=50_000,
        moved=6_000,
        skipped_renewed=0,
        malformed=0,
        elapsed_seconds=12_000 / 8_100,
    )
    assert progress.rate_per_second == pytest.approx(8_100)
    assert RequeueProgress(0, 10, 0, 0, 0, elapsed_seconds=0).rate_per_second == 0


def test_format_progress() -> None:
    progress = RequeueProgress(
        done=12_000,
        total=50_000,
        moved=6_000,
        skipped_renewed=0,
        malformed=0,
        elapsed_seconds=12_000 / 8_100,
    )
    assert format_progress(progress) == "12,000 / 50,000 (24%) · 8,100 ids/s"


def test_format_progress_never_claims_done_early_or_divides_by_zero() -> None:
    almost = RequeueProgress(999, 1_000, 0, 0, 0, elapsed_seconds=1)
    assert format_progress(almost).startswith("999 / 1,000 (99%)")
    empty = RequeueProgress(0, 0, 0, 0, 0, elapsed_seconds=0)
    assert format_progress(empty) == "0 / 0 (100%) · 0 ids/s"


def test_format_requeue_result_names_what_was_left_alone() -> None:
    result = RequeueResult(
        moved=40,
        skipped_renewed=0,
        skipped_gone=0,
        malformed=2,
        elapsed_seconds=0.25,
        target_queue="email_processing_queue",
        malformed_sample=("bad-0", "bad-1"),
    )
    text = format_requeue_result(result)
    assert text == (
        "moved 40 onto `email_processing_queue`; 0 skipped (heartbeat renewed since the scan); "
        "2 malformed, left alone (`bad-0`, `bad-1`); in 0.2s"
    )


class TestProgressThrottle:
    def test_the_first_update_goes_out_at_once(self) -> None:
        assert ProgressThrottle(1.2).due(100.0)

    def test_at_most_one_update_per_interval(self) -> None:
        throttle = ProgressThrottle(1.2).published(100.0)
        assert not throttle.due(100.5)
        assert not throttle.due(101.19)
        assert throttle.due(101.2)

    def test_the_final_update_always_goes_out(self) -> None:
        throttle = ProgressThrottle(1.2).published(100.0)
        assert throttle.due(100.1, final=True)

    def test_it_is_a_value(self) -> None:
        throttle = ProgressThrottle(1.2)
        later = throttle.published(5.0)
        assert throttle.last_published_at is None
        assert later == ProgressThrottle(1.2, last_published_at=5.0)

    def test_a_run_of_clock_ticks_publishes_every_interval(self) -> None:
        throttle, published = ProgressThrottle(1.2), []
        for tick in range(30):
            now = tick * 0.5
            if throttle.due(now):
                throttle = throttle.published(now)
                published.append(now)
        assert published == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 10.5, 12.0, 13.5]
