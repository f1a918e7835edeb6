"""The runbook's escalation triggers, measured by the bot from scripted queues (real
Redis), the workers' logs (Kubernetes emulator) and Alertmanager, each page saying why
with its numbers — and earlier than the tiers' 30-minute timer."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp

from bot.emulators.pagerduty import IncidentStatus

from .conftest import T0
from .paging_support import (
    DEDUP,
    ENVIRON,
    KEY_L1,
    edited_playbook,
    open_incident,
    pages,
    trigger_of,
)


def _sla(data):
    data["queues"][0]["job_age"] = {"source": "list_head", "field": "enqueued_at"}
    trigger_of(data, "sla_delay")["queue"] = "email_processing_queue"


async def _jobs(redis_client, count: int, oldest_age: timedelta) -> None:
    """``count`` jobs, the oldest enqueued ``oldest_age`` before 09:00, LPUSHed oldest first."""
    start = (T0 - oldest_age).timestamp()
    await redis_client.lpush(
        "email_processing_queue",
        *[json.dumps({"id": i, "enqueued_at": start + i * 0.1}) for i in range(count)],
    )


async def test_emails_delayed_past_the_sla_page_at_once(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(_sla), environ=ENVIRON)
    await _jobs(redis_client, 1500, oldest_age=timedelta(minutes=36))
    await open_incident(box, redis_client, clock, fill=False)
    [page] = pages(box)  # at 09:10, at detection: not at 09:40 on L1's timer
    assert (
        "Why: Critical business emails are delayed beyond SLA (>30 minutes): the oldest job "
        "waiting in `email_processing_queue` has waited 46m (SLA 30m), read at 09:10:00 UTC."
    ) in page
    alert = box.pagerduty.incident(DEDUP, KEY_L1)
    assert alert.severity == "error"  # a warning rule, escalated by a runbook trigger
    assert alert.custom_details["why"].endswith("read at 09:10:00 UTC")
    rows = await box.runtime.store.job_ages_between(box.playbook.name, T0, clock())
    assert rows[-1].age == timedelta(minutes=46)


async def test_young_jobs_leave_the_sla_trigger_quiet(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(_sla), environ=ENVIRON)
    await _jobs(redis_client, 1500, oldest_age=timedelta(minutes=1))
    await open_incident(box, redis_client, clock, fill=False)
    assert pages(box) == []  # 11 minutes old at most: the SLA is 30


async def test_a_steep_backlog_pages_before_the_clock_does(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(), environ=ENVIRON)
    for _ in range(11):  # 2,000 more jobs a minute from 09:00
        await redis_client.lpush("email_processing_queue", *range(2000))
        await box.tick()
        clock.advance(timedelta(minutes=1))
    [page] = pages(box)
    assert (
        "Why: The email backlog is on course to breach the 30-minute SLA: "
        "`email_processing_queue` holds "
        "22,000 jobs and grows 2,000/min: it reaches 30,000 (what 20 workers at 50/min clear "
        "in 30m) in ~4m, under the 15m limit."
    ) in page
    assert box.pagerduty.incident(DEDUP, KEY_L1).status is IncidentStatus.TRIGGERED


async def test_a_flat_backlog_does_not_page_early(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(), environ=ENVIRON)
    await open_incident(box, redis_client, clock)
    assert pages(box) == []


def _vendors(data):
    trigger = trigger_of(data, "external_api_unavailable")
    trigger["for"] = "5m"
    trigger["vendors"] = [
        {
            "name": "VirusTotal",
            "deployment": "phishnet-worker-analysis",
            "calls": "virustotal",
            "failures": "429|quota|rate.limit",
        }
    ]


FAILING = "\n".join(
    f"2026-11-28 09:0{i}:00 ERROR VirusTotal lookup failed: HTTP 429 quota exceeded"
    for i in range(5)
)


async def _minutes(box, clock, count: int) -> None:
    for _ in range(count):
        await box.tick()
        await box.runtime.paging.vendors.wait()  # the look runs beside the sample
        await box.settle()
        clock.advance(timedelta(minutes=1))


async def test_a_vendor_failing_every_call_pages(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(_vendors), environ=ENVIRON)
    box.kube.set_deployment_log("phishnet", "phishnet-worker-analysis", FAILING)
    await open_incident(box, redis_client, clock)  # the first look: 09:10
    await _minutes(box, clock, 5)  # 09:11 … 09:15
    [page] = pages(box)
    assert (
        "Why: External API services are completely unavailable: every call to VirusTotal has "
        "failed since 09:10 UTC (5m; 10 of 10 in the latest look at "
        "`phishnet-worker-analysis`'s logs)."
    ) in page


async def test_a_vendor_answering_some_calls_does_not_page(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(_vendors), environ=ENVIRON)
    box.kube.set_deployment_log(
        "phishnet", "phishnet-worker-analysis", FAILING + "\nINFO VirusTotal lookup ok"
    )
    await open_incident(box, redis_client, clock)
    await _minutes(box, clock, 8)
    assert pages(box) == []
    seen = await box.runtime.store.vendor_observations_between(box.playbook.name, T0, clock())
    assert {(o.calls, o.failures) for o in seen} == {(12, 10)}


def _alert(data):
    trigger_of(data, "external_api_unavailable")["alerts"] = ["VirusTotalDown"]


async def test_an_alertmanager_alert_the_playbook_names_pages(make_sandbox, redis_client, clock):
    box = await make_sandbox(playbook=edited_playbook(_alert), environ=ENVIRON)
    await open_incident(box, redis_client, clock)
    alert = {
        "status": "firing",
        "labels": {"alertname": "VirusTotalDown", "severity": "critical"},
        "annotations": {},
        "startsAt": "2026-11-28T09:05:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "vt01",
    }
    body = {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "backlog-bot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(box.base_url + "/alertmanager", json=body) as response,
    ):
        assert response.status == 200
    await _minutes(box, clock, 1)  # the next sample re-plans
    [page] = pages(box)
    assert (
        "Why: External API services are completely unavailable: Alertmanager reports "
        "`VirusTotalDown` firing since 09:05 UTC."
    ) in page
