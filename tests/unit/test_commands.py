from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import commands as cmd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", cmd.Help()),
        ("status", cmd.Status()),
        ("STATUS", cmd.Status()),
        ("scale phishnet-worker-email 6", cmd.Scale("phishnet-worker-email", 6)),
        ("requeue", cmd.Requeue()),
        ("requeue --older-than 10m", cmd.Requeue(older_than=timedelta(minutes=10))),
        (
            "requeue --older-than=90s --queue analysis_queue",
            cmd.Requeue(older_than=timedelta(seconds=90), queue="analysis_queue"),
        ),
        ("restart phishnet-worker-email", cmd.Restart("phishnet-worker-email")),
        (
            "tune phishnet-worker-email WORKER_CONCURRENCY=8 WORKER_BATCH_SIZE=50",
            cmd.Tune(
                "phishnet-worker-email",
                (("WORKER_CONCURRENCY", "8"), ("WORKER_BATCH_SIZE", "50")),
            ),
        ),
        ("escalate", cmd.Escalate()),
        ("escalate 2", cmd.Escalate(2)),
        ("escalate L3", cmd.Escalate(3)),
        ("note db pool saturated", cmd.Note("db pool saturated")),
        ("rootcause VirusTotal quota exhausted", cmd.RootCause("VirusTotal quota exhausted")),
        ("resolve", cmd.Resolve()),
    ],
)
def test_parses(text, expected):
    assert cmd.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scale phishnet-worker-email", "needs a deployment and a replica count"),
        ("scale phishnet-worker-email six", "Replicas must be a whole number"),
        ("scale phishnet-worker-email -1", "Replicas must be a whole number"),
        ("scale Bad_Name 3", "not a valid deployment name"),
        ("requeue --older-than soon", "expected a duration"),
        ("requeue --older-than 0s", "must be a positive duration"),
        ("requeue --queue", "needs a value"),
        ("requeue --force", "Unknown option"),
        ("restart", "needs exactly one deployment"),
        ("tune phishnet-worker-email CONCURRENCY", "is not `KEY=VALUE`"),
        ("tune phishnet-worker-email A=1 A=2", "given twice"),
        ("escalate max", "optional tier number"),
        ("status now", "takes no arguments"),
        ("note", "needs some text"),
        ("nuke everything", "Unknown command `nuke`"),
        ("scale 'a 3", "Could not read"),
    ],
)
def test_malformed_commands_say_what_is_wrong(text, message):
    with pytest.raises(cmd.CommandError) as caught:
        cmd.parse(text)
    assert message in str(caught.value)


def test_usage_lists_every_subcommand():
    for verb in ("status", "diagnose", "scale", "requeue", "restart", "tune", "drain"):
        assert f"`{verb}" in cmd.USAGE
