"""``/backlog backtest`` through the real bot: an incident the monitor itself opened from
Redis depths, replayed from PostgreSQL with a changed rule; the chart uploaded through
the outbox with the table as its comment."""

from __future__ import annotations

from datetime import timedelta

from bot.demo.sandbox import INCIDENT_CHANNEL_ID
from bot.domain.commands import USAGE

EMAIL = "email_processing_queue"


async def set_depth(redis_client, depth: int) -> None:
    await redis_client.delete(EMAIL)
    if depth:
        await redis_client.rpush(EMAIL, *range(depth))


async def backlog_then_resolve(sandbox, clock, redis_client) -> None:
    """One sample a minute: 50 more jobs each minute up to 2,000 (above 800 from minute
    17, above 1,000 from minute 21, so the monitor opens the incident at minute 31),
    then drained; alice resolves at minute 45."""
    for minute in range(45):
        await set_depth(redis_client, 50 * minute if minute <= 40 else 0)
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))
    await sandbox.command("alice", "resolve")


def backtest_uploads(sandbox):
    return [u for u in sandbox.slack.uploads if u.filename.startswith("backtest-")]


async def test_backtest_of_the_incident_rule_answers_and_posts_table_and_chart(
    sandbox, clock, redis_client
):
    await backlog_then_resolve(sandbox, clock, redis_client)

    answer = await sandbox.command("dave", "backtest rule.threshold=800 --since 2h")

    assert answer.text == (
        "Backtest of EmailQueueBacklog: threshold 1,000 → 800 over 44m of history: "
        "1 alert(s) instead of 1, 0 flap(s) instead of 0, #1 detected 4m earlier. "
        "The table and a chart of incident #1, the real incident whose detection changes "
        "most are posted in this channel."
    )
    [chart] = backtest_uploads(sandbox)
    assert chart.completed and chart.content.startswith(b"\x89PNG")
    assert chart.channels == [INCIDENT_CHANNEL_ID]
    assert chart.title == "Backtest, incident #1: Large email queue backlog detected"
    comment = chart.initial_comment or ""
    assert comment.startswith("*Backtest: EmailQueueBacklog: threshold 1,000 → 800*\n")
    # The current playbook's replay fires on the very sample the monitor opened #1 on.
    assert ("#1        11-28 09:31     11-28 09:31     11-28 09:27  detected 4m earlier") in comment
    assert "real incidents missed    0        0" in comment
    assert "- 2026-11-28 09:00 to 2026-11-28 09:44 UTC: raw samples (45)" in comment


async def test_bad_input_is_refused_with_the_reason_and_nothing_is_posted(
    sandbox, clock, redis_client
):
    answer = await sandbox.command("dave", "backtest threshold=800")
    assert answer.text.startswith(":warning: `threshold=800` is not a rule change: write ")
    assert answer.text.endswith(USAGE)

    answer = await sandbox.command("dave", "backtest rule.threshold=800")
    assert answer.text == (
        ":no_entry: `rule.threshold=800`: `rule.` means the rule of the open or last "
        "incident, and there has been none. Name the rule instead: `EmailQueueBacklog`, "
        "`AnalysisQueueBacklog`."
    )

    answer = await sandbox.command("dave", "backtest Nope.for=5m")
    assert answer.text.startswith(":no_entry: There is no rule `Nope` in playbook ")

    answer = await sandbox.command("dave", "backtest EmailQueueBacklog.threshold=800")
    assert answer.text == (
        ":no_entry: No queue samples are stored for playbook `phishnet-queue-backlog` from "
        "2026-10-29 09:00 to 2026-11-28 09:00 UTC: there is nothing to replay. The bot stores "
        "a sample of every queue while `backlog-bot serve` runs (raw for 48 h, hourly for "
        "90 days); try again once it has run for a while, or with a longer `--since`."
    )

    for _ in range(3):  # three samples, 2 minutes: too little for a 10-minute `for:`
        await set_depth(redis_client, 1500)
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))
    answer = await sandbox.command("dave", "backtest EmailQueueBacklog.threshold=800")
    assert answer.text.startswith(
        ":no_entry: Too little history to backtest: the 3 stored sample(s) of playbook "
        "`phishnet-queue-backlog` from 2026-10-29 09:03 to 2026-11-28 09:03 UTC cover only "
        "2m, less than the longest `for:` of the rules (10m)"
    )
    assert backtest_uploads(sandbox) == []
