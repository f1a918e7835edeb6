"""Building the report of a large incident, end to end.

    python benchmarks/report_build.py [--database-url URL] [--events N] [--messages M]
                                      [--samples S]

One incident with 10,000 timeline events, 10,000 channel messages and 10,000 depth
samples (defaults) is stored in a PostgreSQL database created for the run (on the
server of ``--database-url``, default ``DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``; dropped at the end). The messages
are in the Slack emulator's incident channel (one in ten a reply in one of 100
threads, one in ten pinned or marked 📌), and recorded in the database as the Events
API would have left them. Then, timed: reading the channel back through the real
``slack_sdk`` client (``conversations.history`` and ``conversations.replies``, pages of
200 as Slack advises, ``users.info`` for names), reading the incident's records,
composing the report, writing its Markdown, drawing its chart and storing the version:
what ``/backlog report`` and the *Finalise report* button do. Samples are 15 s apart
(the bot's default), so 10,000 of them span about 42 hours.

The emulator runs in the same process and event loop, so its work (paging 10,000
messages) is counted too, as Slack's latency would be. Rate limits are off: against
Slack, ``conversations.history`` and ``conversations.replies`` are Tier 3 (50+ calls a
minute), so the ~160 calls here would take about three minutes of waiting there.

Last line: ``report events=N messages=M seconds=S``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.chart import render_depth_chart
from bot.adapters.slack.client import make_client
from bot.adapters.slack.history import ChannelHistory
from bot.adapters.store import Store, migrate
from bot.app import DEFAULT_PLAYBOOK, playbook_file
from bot.domain.playbook import load_playbook
from bot.domain.report import ReportState, report_data
from bot.emulators.slack_api import SlackEmulator, SlackUserInfo
from bot.services.report import ReportService

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHANNEL = "C0INCIDENTS"
INTERVAL = timedelta(seconds=15)
T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
PEOPLE = [f"U0PERSON{i:02d}" for i in range(20)]
KINDS = ("note", "action_requested", "action_approved", "action_succeeded", "rule_firing")


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _depth(i: int, total: int) -> int:
    """A backlog that climbs over the first third, holds, then drains."""
    third = total // 3
    if i < third:
        return 200 + 9 * i * 3000 // max(third, 1) // 9
    if i < 2 * third:
        return 3200 + (i % 40) * 5
    return max(0, 3200 - (i - 2 * third) * 3300 // max(third, 1))


async def _seed_database(store: Store, events: int, samples: int) -> tuple[int, datetime]:
    pool = store.pool
    end = T0 + INTERVAL * (samples - 1)
    detected = T0 + INTERVAL * (samples // 12)
    incident_id = await pool.fetchval(
        """
        INSERT INTO incidents (playbook, title, severity, state, rule, queue, detected_at,
                               peak_depth, peak_queue, acknowledged_at, acknowledged_by,
                               mitigation_started_at, resolved_at, resolved_by, channel)
        VALUES ('phishnet-queue-backlog', 'Large email queue backlog detected', 'warning',
                'resolved', 'EmailQueueBacklog', 'email_processing_queue', $1, 3395,
                'email_processing_queue', $2, 'U0PERSON01', $3, $4, 'U0PERSON02', $5)
        RETURNING id
        """,
        detected,
        detected + timedelta(minutes=7),
        detected + timedelta(minutes=20),
        end,
        CHANNEL,
    )
    rows = []
    for i in range(samples):
        at = T0 + INTERVAL * i
        depth = _depth(i, samples)
        rows += [
            ("phishnet-queue-backlog", "email_processing_queue", at, depth),
            ("phishnet-queue-backlog", "analysis_queue", at, depth // 4),
            ("phishnet-queue-backlog", "notification_queue", at, 5),
        ]
    await pool.copy_records_to_table(
        "queue_samples", records=rows, columns=["playbook", "queue", "at", "depth"]
    )
    span = (end - detected) / max(events, 1)
    timeline = [
        (
            incident_id,
            detected + span * i,
            KINDS[i % len(KINDS)],
            PEOPLE[i % len(PEOPLE)],
            f"timeline entry {i}: queue at {_depth(i % samples, samples):,}",
            {},
        )
        for i in range(events)
    ]
    await pool.executemany(
        "INSERT INTO timeline_events (incident_id, at, kind, actor, text, data) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        timeline,
    )
    return incident_id, end


def _seed_channel(
    emulator: SlackEmulator, now: list[float], messages: int, start: datetime, end: datetime
) -> list[tuple]:
    """People's messages in the channel; returns the rows the Events API would have
    recorded (channel, ts, thread_ts, user, text, posted_at)."""
    people = emulator.people
    span = (end - start) / max(messages, 1)
    parents: list[str] = []
    recorded = []
    for i in range(messages):
        now[0] = (start + span * i).timestamp()
        user = PEOPLE[i % len(PEOPLE)]
        thread = parents[i % len(parents)] if parents and i % 10 == 5 else None
        message = people.post(
            user, CHANNEL, f"message {i}: looking at the workers", thread_ts=thread
        )
        if thread is None and len(parents) < 100 and i % 10 == 0:
            parents.append(message.ts)
        if i % 20 == 3:
            people.pin(PEOPLE[(i + 1) % len(PEOPLE)], CHANNEL, message.ts)
        elif i % 20 == 13:
            people.react(PEOPLE[(i + 2) % len(PEOPLE)], CHANNEL, message.ts, "pushpin")
        at = datetime.fromtimestamp(float(message.ts), UTC)
        recorded.append((CHANNEL, message.ts, thread, user, message.text, at, at, at))
    return recorded


async def run(args: argparse.Namespace) -> float:
    server_url = args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_URL
    name = f"bb_bench_report_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    now = [T0.timestamp()]
    emulator = SlackEmulator(
        bot_token="xoxb-bench",
        users={u: SlackUserInfo(name=f"person{u[-2:]}", real_name=u, title="") for u in PEOPLE},
        channels={CHANNEL: "phishnet-incidents"},
        clock=lambda: now[0],
    )
    await emulator.start()
    try:
        await migrate(url)
        store = await Store.connect(url)
        try:
            seeded = time.perf_counter()
            incident_id, end = await _seed_database(store, args.events, args.samples)
            start = T0 + INTERVAL * (args.samples // 12) - timedelta(minutes=55)
            recorded = _seed_channel(emulator, now, args.messages, start, end)
            await store.pool.executemany(
                "INSERT INTO channel_messages (channel, ts, thread_ts, user_id, text, text_at, "
                "posted_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                recorded,
            )
            print(f"seeded in {time.perf_counter() - seeded:.1f} s", flush=True)
            return await _timed(store, emulator, incident_id, end + timedelta(minutes=5))
        finally:
            await store.close()
    finally:
        await emulator.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _timed(store: Store, emulator: SlackEmulator, incident_id: int, now: datetime) -> float:
    playbook = load_playbook(playbook_file(DEFAULT_PLAYBOOK))
    history = ChannelHistory(make_client("xoxb-bench", emulator.api_url))
    service = ReportService(
        store, None, playbook, lambda: now, history=history, render_chart=render_depth_chart
    )
    incident = await store.get_incident(incident_id)
    assert incident is not None
    began = time.perf_counter()
    built = await service.assemble(incident, now, state=ReportState.FINAL)
    composed = time.perf_counter()
    chart = await service.chart_png(built)
    drawn = time.perf_counter()
    stored = await store.save_report(
        incident_id,
        state=ReportState.FINAL,
        markdown=built.markdown,
        document=report_data(built.document),
        at=now,
        by=None,
    )
    done = time.perf_counter()
    assert stored is not None and chart is not None
    calls = {
        m: len(emulator.calls_to(m))
        for m in ("conversations.history", "conversations.replies", "users.info")
    }
    doc = built.document
    print(
        f"channel read back ({calls}, {len(built.sources.channel):,} messages) and records "
        f"read at once, report composed and written: {composed - began:.2f} s"
    )
    print(f"chart drawn: {drawn - composed:.2f} s ({len(chart):,} bytes)")
    print(f"version stored: {done - drawn:.2f} s")
    print(
        f"report: {len(built.markdown):,} characters, {len(doc.timeline):,} timeline lines, "
        f"peak {doc.peak.peak if doc.peak else 0:,}, "
        f"{len(built.sources.samples):,} samples read"
    )
    return done - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    seconds = asyncio.run(run(args))
    print(f"report events={args.events} messages={args.messages} seconds={seconds:.2f}")


if __name__ == "__main__":
    main()
