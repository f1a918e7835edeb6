"""``backlog-bot backtest`` as a user runs it: a real process on a database this test
creates, with samples and incidents written through the Store."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.adapters.store import Store, migrate
from bot.domain.models import QueueSample
from bot.domain.playbook import Severity
from bot.services.monitor import HOURLY_SAMPLES_FOR, RAW_SAMPLES_FOR
from tests.conftest import _with_database
from tests.integration.test_cli import ROOT, _env, _run

PLAYBOOK = ROOT / "playbooks" / "queue-backlog.yml"
NAME = "phishnet-queue-backlog"
EMAIL, ANALYSIS = "email_processing_queue", "analysis_queue"


@pytest.fixture
async def fresh_database(postgres_server_url) -> AsyncIterator[str]:
    """A database of this test's own, migrated, dropped afterwards."""
    name = "bb_backtest_" + os.urandom(4).hex()
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(postgres_server_url, name)
    try:
        await migrate(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def candidate(tmp_path: Path, old: str, new: str) -> Path:
    text = PLAYBOOK.read_text()
    assert old in text
    path = tmp_path / "candidate.yml"
    path.write_text(text.replace(old, new, 1))
    return path


async def store_history(url: str, now: datetime) -> datetime:
    """Three days ago, a day at one sample every 10 minutes with one hour at 1,500 (folded
    into hourly rollups by the bot's own pruning); then, three hours ago, one sample a
    minute climbing 20 jobs a minute for 90 minutes (above 800 from minute 41, above
    1,000 from minute 51) and drained; the incident the monitor opened at minute 61 and
    its resolution at minute 100. Returns the start of the climb."""
    store = await Store.connect(url)
    try:
        old = now - timedelta(days=3)
        for step in range(24 * 6):
            at = old + timedelta(minutes=10 * step)
            depth = 1500 if 6 * 10 <= step < 6 * 11 else 100
            await store.save_sample(NAME, QueueSample(at, {EMAIL: depth, ANALYSIS: 10}))
        await store.prune_samples(now, raw_for=RAW_SAMPLES_FOR, hourly_for=HOURLY_SAMPLES_FOR)
        start = now - timedelta(hours=3)
        for minute in range(150):
            depth = 20 * minute if minute < 90 else 0
            sample = QueueSample(start + timedelta(minutes=minute), {EMAIL: depth, ANALYSIS: 10})
            await store.save_sample(NAME, sample)
        incident, _ = await store.open_incident(
            playbook=NAME,
            title="Large email queue backlog detected",
            severity=Severity.WARNING,
            rule="EmailQueueBacklog",
            queue=EMAIL,
            depth=1220,
            at=start + timedelta(minutes=61),
        )
        await store.resolve_incident(incident.id, "U0SREONCALL", start + timedelta(minutes=100))
    finally:
        await store.close()
    return start


async def test_backtest_writes_the_table_and_the_chart_beside_it(fresh_database, tmp_path):
    start = await store_history(fresh_database, datetime.now(UTC))
    lower = candidate(tmp_path, "threshold: 1000\n", "threshold: 800\n")
    out = tmp_path / "bt.md"
    env = _env(
        DATABASE_URL=fresh_database, PLAYBOOK=str(PLAYBOOK), BACKLOG_BOT_DATA_DIR=str(tmp_path)
    )

    code, stdout, stderr = await _run(
        "backtest", "--playbook", str(lower), "--since", "4d", "--out", str(out), env=env
    )

    assert code == 0, stderr
    real = (start + timedelta(minutes=61)).strftime("%m-%d %H:%M")
    earlier = (start + timedelta(minutes=51)).strftime("%m-%d %H:%M")
    assert f"#1        {real}     {real}     {earlier}  detected 10m earlier" in stdout
    assert "real incidents missed    0        0" in stdout
    # The old day survives only as hourly rollups: replayed at its maxima, and said so.
    assert re.search(r"hourly rollups \(2[45] hours\), each hour replayed as its maximum", stdout)
    assert re.search(
        r"- Nothing is stored from [-\d: ]+ to [-\d: ]+ UTC \(4\dh \d\dm\): nothing was", stdout
    )
    assert "This approximates: an hour that peaked above a threshold counts as above" in stdout
    assert "UTC: raw samples (150), as the monitor saw them." in stdout
    assert "**Alerts only the candidate raises (no real incident then)**: 1" in stdout
    assert "![Backtest, incident #1: Large email queue backlog detected](bt.png)" in stdout
    assert stdout.rstrip().endswith(
        f"Backtest written to {out}, its chart to {out.with_suffix('.png')}."
    )
    assert out.read_text() in stdout
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


async def test_backtest_refusals_exit_1_with_the_reason(fresh_database, tmp_path):
    env = _env(
        DATABASE_URL=fresh_database, PLAYBOOK=str(PLAYBOOK), BACKLOG_BOT_DATA_DIR=str(tmp_path)
    )
    broken = candidate(tmp_path, "threshold: 1000\n", "threshold: -5\n")
    code, stdout, stderr = await _run("backtest", "--playbook", str(broken), env=env)
    assert (code, stdout) == (1, "")
    assert f"{broken}: rules[0].threshold: Input should be greater than or equal to 0" in stderr

    same = candidate(tmp_path, "for: 10m\n", "for: 5m\n")
    code, stdout, stderr = await _run("backtest", "--playbook", str(same), env=env)
    assert (code, stdout) == (1, "")
    assert stderr.startswith(
        "backlog-bot: No queue samples are stored for playbook `phishnet-queue-backlog` from "
    )

    await store_history(fresh_database, datetime.now(UTC))
    code, _, stderr = await _run(
        "backtest", "--playbook", str(same), "--since", "1d", "--incident", "99", env=env
    )
    assert code == 1
    assert stderr.startswith("backlog-bot: Incident #99 was not detected between ")

    code, _, stderr = await _run("backtest", "--playbook", str(same), "--since", "soon", env=env)
    assert code == 2
    assert "argument --since: expected a duration like 30d, 12h or 30m, got soon" in stderr
