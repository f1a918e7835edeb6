"""The age of a queue's oldest job, read the way the playbook says: the list's oldest
end (real Redis), a sorted set of enqueue times, or a PromQL query (real Prometheus)."""

from __future__ import annotations

import json
import shutil
import socket
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.adapters.queues.job_age import read_job_ages
from bot.adapters.queues.prometheus import PrometheusAges
from bot.domain.playbook import Queue

from .conftest import T0
from .paging_support import edited_playbook, said
from .test_prometheus_alertmanager import PROMETHEUS, free_port, start, stop

EPOCH = T0.timestamp()


def queue(name: str = "email_processing_queue", **job_age: object) -> Queue:
    return Queue(name=name, metric="phishnet_email_queue_size", job_age=job_age)


def job(enqueued: object, field: str = "enqueued_at") -> str:
    return json.dumps({"id": "j", field: enqueued, "to": "finance@example.com"})


async def test_list_head_at_the_oldest_end(redis_client):
    # Producers LPUSH, workers RPOP: the oldest job is at the right, LINDEX -1.
    await redis_client.lpush("email_processing_queue", job(EPOCH - 2400), job(EPOCH - 60))
    await redis_client.rpush("analysis_queue", job(EPOCH - 1800), job(EPOCH - 5))
    await redis_client.lpush(
        "notification_queue", json.dumps({"meta": {"at": "2026-11-28T08:45:00Z"}})
    )
    queues = [
        queue(source="list_head", field="enqueued_at"),
        queue("analysis_queue", source="list_head", field="enqueued_at", oldest_end="left"),
        queue("notification_queue", source="list_head", field="meta.at", format="iso8601"),
    ]
    readings = await read_job_ages(redis_client, queues, T0)
    assert [(r.queue, r.age, r.error) for r in readings] == [
        ("email_processing_queue", timedelta(minutes=40), None),
        ("analysis_queue", timedelta(minutes=30), None),
        ("notification_queue", timedelta(minutes=15), None),
    ]


async def test_sorted_set_of_enqueue_times(redis_client):
    await redis_client.zadd("email_enqueued_at", {"a": (EPOCH - 900) * 1000, "b": EPOCH * 1000})
    watched = [queue(source="sorted_set", key="email_enqueued_at", format="unix_milliseconds")]
    [reading] = await read_job_ages(redis_client, watched, T0)
    assert (reading.age, reading.error) == (timedelta(minutes=15), None)


async def test_an_empty_queue_has_no_waiting_job(redis_client):
    watched = [
        queue(source="list_head", field="enqueued_at"),
        queue("q2", source="sorted_set", key="z"),
    ]
    readings = await read_job_ages(redis_client, watched, T0)
    assert [(r.age, r.error) for r in readings] == [(None, None), (None, None)]


async def test_what_cannot_be_read_is_a_sentence(redis_client):
    await redis_client.lpush("email_processing_queue", "job-17")
    await redis_client.lpush("analysis_queue", json.dumps({"id": "x"}))
    await redis_client.set("notification_queue", "oops")
    await redis_client.lpush("millis", job(EPOCH * 1000))
    watched = [
        queue(source="list_head", field="enqueued_at"),
        queue("analysis_queue", source="list_head", field="enqueued_at"),
        queue("notification_queue", source="list_head", field="enqueued_at"),
        queue("millis", source="list_head", field="enqueued_at"),
    ]
    errors = [r.error for r in await read_job_ages(redis_client, watched, T0)]
    assert errors == [
        "The age of the oldest job in `email_processing_queue` could not be read: the oldest "
        "job (`LINDEX email_processing_queue -1`) gives no enqueue time: it is not JSON "
        "(`job-17`).",
        "The age of the oldest job in `analysis_queue` could not be read: the oldest job "
        "(`LINDEX analysis_queue -1`) gives no enqueue time: it has no field `enqueued_at` "
        '(`{"id": "x"}`).',
        "The age of the oldest job in `notification_queue` could not be read: Redis refused "
        "the command: `notification_queue` holds a string, not a list.",
        "The age of the oldest job in `millis` could not be read: the oldest job "
        "(`LINDEX millis -1`) gives no enqueue time: expected a unix time in seconds, found "
        f"`{EPOCH * 1000}`, which looks like milliseconds (set `format: unix_milliseconds`).",
    ]


async def test_redis_down_is_said_for_every_queue():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
    try:
        watched = [queue(source="list_head", field="t"), queue("z", source="sorted_set", key="z")]
        readings = await read_job_ages(client, watched, T0)
    finally:
        await client.aclose()
    assert [r.error for r in readings] == [
        f"The age of the oldest job in `{name}` could not be read: Redis did not answer: the "
        "connection was refused (is Redis running there?)."
        for name in ("email_processing_queue", "z")
    ]


@pytest.mark.skipif(shutil.which(PROMETHEUS) is None, reason="needs Prometheus (apt)")
async def test_a_promql_query_gives_the_age(tmp_path):
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    process = await start(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        f"http://127.0.0.1:{port}/-/ready",
        tmp_path / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    ages = PrometheusAges()
    try:
        watched = [
            queue(source="prometheus", url=url, query="vector(1900)"),
            queue("scalar", source="prometheus", url=url, query="scalar(vector(60))"),
            queue("typo", source="prometheus", url=url, query="time() -"),
            queue("none", source="prometheus", url=url, query='up{job="nothing"}'),
            queue("gone", source="prometheus", url=f"http://127.0.0.1:{free_port()}", query="1"),
        ]
        readings = await ages.read(watched, T0)
    finally:
        await ages.close()
        await stop(process)
    assert [r.age for r in readings[:2]] == [timedelta(seconds=1900), timedelta(seconds=60)]
    assert readings[2].error.startswith(
        "The age of the oldest job in `typo` could not be read: Prometheus at "
        f"`127.0.0.1:{port}` refused the query (HTTP 400, bad_data): `"
    )
    assert readings[3].error == (
        f"The age of the oldest job in `none` could not be read: Prometheus at `127.0.0.1:{port}` "
        'returned no series for `up{job="nothing"}`, so the bot cannot tell an empty queue '
        "from a query that matches nothing."
    )
    assert readings[4].error.endswith("could not be reached.")


async def test_an_unreadable_age_is_said_once_and_its_return_once(
    make_sandbox, redis_client, clock
):
    def watch_email_ages(data):
        data["queues"][0]["job_age"] = {"source": "list_head", "field": "enqueued_at"}

    box = await make_sandbox(playbook=edited_playbook(watch_email_ages))
    await redis_client.lpush("email_processing_queue", "job-17")
    for _ in range(3):
        await box.tick()
        clock.advance(timedelta(seconds=15))
    assert len(said(box, "could not be read")) == 1
    assert said(box, "Until it can, the SLA trigger cannot fire for `email_processing_queue`")
    await redis_client.rpop("email_processing_queue")
    await redis_client.lpush("email_processing_queue", job(clock().timestamp() - 30))
    for _ in range(2):
        await box.tick()
        clock.advance(timedelta(seconds=15))
    [back] = said(box, "can be read again")
    assert back == (
        ":white_check_mark: The age of the oldest job in `email_processing_queue` can be read "
        "again (it could not since 09:00:00 UTC)."
    )
    stored = await box.runtime.store.job_ages_between(box.playbook.name, T0, clock())
    assert [r.age for r in stored][-1] == timedelta(seconds=45)
