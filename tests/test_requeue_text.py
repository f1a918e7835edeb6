"""What a requeue says in Slack and stores in PostgreSQL when ids are odd bytes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from bot.domain import commands
from bot.domain.actions import ActionRefused, plan_requeue, requeue_target
from bot.domain.requeue import RequeueResult, StuckScan, StuckTally, format_requeue_result

ODD_IDS = [b"job\x00nul", b"<!channel>", b"a`b", b"x&y", b"\xff\xfe"]


def scan_of(ids: Sequence[bytes], *, malformed: Sequence[bytes] = ()) -> StuckScan:
    tally = StuckTally(threshold_seconds=600, processing_set="processing_jobs", sample_size=10)
    for job_id in ids:
        tally.add(job_id, None, now=1_800_000_000.0)  # no heartbeat: stuck
    for job_id in malformed:
        tally.add(job_id, b"yesterday", now=1_800_000_000.0)
    return tally.result()


def test_samples_are_stored_as_printable_text_without_nul() -> None:
    scan = scan_of(ODD_IDS)
    assert set(scan.sample_ids) == {"job\\x00nul", "<!channel>", "a`b", "x&y", "\\xff\\xfe"}
    for shown in scan.sample_ids:
        assert "\x00" not in shown and shown.isprintable()
        shown.encode("utf-8")  # no surrogates: asyncpg can send it


def test_the_approval_request_shows_each_id_in_its_own_inert_code_span(playbook) -> None:
    scan = scan_of(ODD_IDS, malformed=[b"<@U0CTO>"])
    plan = plan_requeue(playbook, commands.Requeue(), scan)
    assert plan.summary == (
        "Requeue 5 stuck jobs from `processing_jobs` onto `email_processing_queue`"
    )
    sample = next(line for line in plan.details if line.startswith("Sample: "))
    for shown in ("`job\\x00nul`", "`&lt;!channel&gt;`", "`a\\x60b`", "`x&amp;y`", "`\\xff\\xfe`"):
        assert shown in sample
    assert "`&lt;@U0CTO&gt;`" in plan.details[-1]
    everything = " ".join((plan.summary, *plan.details))
    assert "\x00" not in everything and "<" not in everything and ">" not in everything


def test_nothing_stuck_names_the_malformed_ids_safely(playbook) -> None:
    scan = scan_of([], malformed=[b"<!here>"])
    with pytest.raises(ActionRefused) as refused:
        plan_requeue(playbook, commands.Requeue(older_than=timedelta(minutes=10)), scan)
    assert "`&lt;!here&gt;`" in str(refused.value) and "<!here>" not in str(refused.value)


def test_a_typed_queue_that_is_not_in_the_playbook_is_quoted_back_inert(playbook) -> None:
    with pytest.raises(ActionRefused) as refused:
        requeue_target(playbook, commands.Requeue(queue="<!channel>"))
    assert str(refused.value).startswith("`&lt;!channel&gt;` is not a queue of this playbook")


def test_the_closing_line_shows_malformed_ids_inert() -> None:
    result = RequeueResult(
        moved=2,
        skipped_renewed=0,
        skipped_gone=0,
        malformed=2,
        elapsed_seconds=0.5,
        target_queue="email_processing_queue",
        malformed_sample=("<!channel>", "job\\x00nul"),
    )
    assert format_requeue_result(result) == (
        "moved 2 onto `email_processing_queue`; 0 skipped (heartbeat renewed since the scan); "
        "2 malformed, left alone (`&lt;!channel&gt;`, `job\\x00nul`); in 0.5s"
    )
