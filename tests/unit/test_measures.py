"""What the measured triggers read: enqueue times in their formats, fields of a JSON
job, vendors' calls in log lines, and the playbook's checks of the new fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.domain.measures import TimestampFormat, Vendor, count_calls, enqueue_time, job_field
from bot.domain.playbook import PlaybookError, parse_playbook

PLAYBOOK = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        (AT.timestamp(), TimestampFormat.UNIX_SECONDS),
        (str(int(AT.timestamp())), TimestampFormat.UNIX_SECONDS),
        (AT.timestamp() * 1000, TimestampFormat.UNIX_MILLISECONDS),
        ("2026-11-28T09:00:00Z", TimestampFormat.ISO8601),
        ("2026-11-28T10:00:00+01:00", TimestampFormat.ISO8601),
        ("2026-11-28T09:00:00", TimestampFormat.ISO8601),  # no offset: UTC
    ],
)
def test_enqueue_times_in_each_format(value, fmt):
    assert enqueue_time(value, fmt) == AT


@pytest.mark.parametrize(
    ("value", "fmt", "said"),
    [
        ("soon", TimestampFormat.UNIX_SECONDS, "expected a unix time, found `soon`"),
        (True, TimestampFormat.UNIX_SECONDS, "expected a unix time, found `true`"),
        (1795856400000, TimestampFormat.UNIX_SECONDS, "looks like milliseconds"),
        (1795856400, TimestampFormat.ISO8601, "expected an ISO 8601 time, found `1795856400`"),
        ("28/11/2026", TimestampFormat.ISO8601, "expected an ISO 8601 time, found `28/11/2026`"),
    ],
)
def test_what_is_not_an_enqueue_time_is_said(value, fmt, said):
    with pytest.raises(ValueError, match=said):
        enqueue_time(value, fmt)


def test_fields_of_a_json_job():
    job = '{"id": 7, "meta": {"enqueued_at": 1795856400}}'
    assert job_field(job, "meta.enqueued_at") == 1795856400
    with pytest.raises(ValueError, match=r"it has no field `meta\.at`"):
        job_field(job, "meta.at")
    with pytest.raises(ValueError, match=r"it is not JSON \(`job-17`\)"):
        job_field("job-17", "enqueued_at")
    with pytest.raises(ValueError, match="\\\\x60"):  # a backtick cannot break out of the code span
        job_field("job`<!channel>", "enqueued_at")


def test_calls_and_failures_in_the_logs():
    vendor = Vendor(
        name="VirusTotal",
        deployment="phishnet-worker-analysis",
        calls="virustotal",
        failures="429|quota",
    )
    logs = [
        "INFO VirusTotal lookup ok\nERROR virustotal: HTTP 429\nINFO AbuseIPDB ok",
        "ERROR VIRUSTOTAL quota exceeded\n",
    ]
    assert count_calls(logs, vendor) == (3, 2)
    assert count_calls([], vendor) == (0, 0)


def _problems(edit) -> dict[str, str]:
    data = yaml.safe_load(PLAYBOOK.read_text())
    edit(data)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data), "triggers.yml")
    return {p.field: p.reason for p in caught.value.problems}


def test_measured_triggers_are_checked_at_load_time():
    def edit(data):
        triggers = data["escalation"]["triggers"]
        triggers[2]["queue"] = "emails"
        triggers[3].pop("breach_within")
        triggers[3].pop("max_delay")
        triggers[3]["queue"] = "notification_queue"  # no deployment to take capacity from
        triggers[4]["vendors"][0]["deployment"] = "phishnet-worker-vt"
        triggers[4].pop("for")

    problems = _problems(edit)
    assert problems["escalation.triggers[2].queue"] == "unknown queue 'emails'"
    assert problems["escalation.triggers[3].max_delay"] == "a time_to_breach trigger needs the SLA"
    assert problems["escalation.triggers[3].breach_within"] == (
        "say how soon a projected breach pages (e.g. 15m)"
    )
    assert problems["escalation.triggers[3].breach_depth"].startswith(
        "queue 'notification_queue' names no deployment"
    )
    assert problems["escalation.triggers[4].vendors[0].deployment"] == (
        "'phishnet-worker-vt' is not listed under deployments"
    )
    assert problems["escalation.triggers[4].for"].startswith("say how long every call must fail")


def test_job_age_sources_are_checked_field_by_field():
    def edit(data):
        data["queues"][0]["job_age"] = {"source": "list_head", "field": "enqueued at"}
        data["queues"][1]["job_age"] = {"source": "prometheus", "url": "prometheus:9090",
                                        "query": "1"}  # fmt: skip
        data["queues"][2]["job_age"] = {"source": "redis_stream", "key": "x"}

    problems = _problems(edit)
    assert "should match pattern" in problems["queues[0].job_age.list_head.field"]
    assert "should match pattern" in problems["queues[1].job_age.prometheus.url"]
    assert "'list_head', 'sorted_set', 'prometheus'" in problems["queues[2].job_age"]


def test_a_bad_vendor_pattern_names_the_field():
    def edit(data):
        data["escalation"]["triggers"][4]["vendors"][1]["failures"] = "429|("

    problems = _problems(edit)
    assert problems["escalation.triggers[4].vendors[1].failures"].startswith(
        "'429|(' is not a regular expression"
    )
