"""/backlog diagnose against the Kubernetes API emulator and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import socket
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.adapters.slack.ids import ActionId
from bot.demo.sandbox import Sandbox
from bot.domain.checks import CheckState
from bot.domain.diagnosis import analyze_database
from bot.services.diagnosis import DiagnosisService, probe_database

NS = "phishnet"
ERRORS = "\n".join(
    [
        "2026-11-28T09:00:01Z INFO fetched email 4411",
        "2026-11-28T09:00:02Z ERROR db timeout after 30000 ms for job 'a1b2'",
        "2026-11-28T09:00:03Z ERROR db timeout after 30000 ms for job 'c3d4'",
        "2026-11-28T09:00:04Z ERROR db timeout after 30001 ms for job 'e5f6'",
        "2026-11-28T09:00:05Z FATAL Exception in worker loop: KeyError 'sender'",
    ]
)
RATE_LIMITED = "\n".join(
    ["VirusTotal answered 429 Too Many Requests"] * 6
    + ["AbuseIPDB quota exceeded"] * 4
    + ["upstream 503 from VirusTotal"] * 2
    + ["analysed message 77"]
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service(sandbox: Sandbox) -> DiagnosisService:
    return DiagnosisService(
        sandbox.runtime.kube, sandbox.playbook, sandbox.runtime.store, sandbox.runtime.clock
    )


def _check(diagnosis, prefix):
    return next(c for c in diagnosis.checks if c.name.startswith(prefix))


async def test_finds_broken_pods_errors_rate_limits_and_pinned_hpa(sandbox, service, monkeypatch):
    kube = sandbox.kube
    worker = {"component": "worker"}
    kube.add_pod(
        NS, "email-crash", labels=worker, waiting_reason="CrashLoopBackOff", restart_count=9
    )
    kube.add_pod(NS, "email-oom", labels=worker, terminated_reason="OOMKilled", restart_count=2)
    kube.add_pod(NS, "email-pull", labels=worker, waiting_reason="ImagePullBackOff")
    kube.add_pod(
        NS,
        "email-pending",
        labels=worker,
        pending_reason="Unschedulable",
        pending_message="0/3 nodes are available: 3 Insufficient cpu.",
    )
    kube.set_deployment_log(NS, "phishnet-worker-email", ERRORS)
    kube.set_deployment_log(NS, "phishnet-worker-analysis", RATE_LIMITED)
    kube.add_hpa(NS, "analysis-hpa", "phishnet-worker-analysis", 2, 4, 4, 4)
    monkeypatch.delenv("PHISHNET_DATABASE_URL", raising=False)

    diagnosis = await service.run()
    titles = [cause.title for cause in diagnosis.causes]
    assert "1 worker pod(s) crash-looping (CrashLoopBackOff)" in titles
    assert "1 worker pod(s) cannot pull their image (ImagePullBackOff)" in titles
    assert "1 worker pod(s) were OOMKilled (memory limit too low)" in titles
    assert (
        "1 worker pod(s) Pending, unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
        in titles
    )
    assert "HPA `analysis-hpa` is pinned at its maximum (4)" in titles
    assert titles.index("1 worker pod(s) crash-looping (CrashLoopBackOff)") < titles.index(
        "HPA `analysis-hpa` is pinned at its maximum (4)"
    )
    errors = next(c for c in diagnosis.causes if c.title.startswith("`phishnet-worker-email` logs"))
    assert errors.evidence[0] == "6x ERROR db timeout after … ms for job …"  # 3 per pod, 2 pods
    rate = next(
        c for c in diagnosis.causes if c.title.startswith("External APIs are rate limiting")
    )
    assert rate.evidence == ("429: 12", "quota: 8", "503: 4")  # both analysis pods
    database = _check(diagnosis, "Application database")
    assert database.state is CheckState.NOT_CHECKED
    assert "set `PHISHNET_DATABASE_URL`" in database.not_checked


async def test_metrics_absent_is_said_plainly_and_usage_checked_when_present(sandbox, service):
    sandbox.kube.metrics_enabled = False
    usage = _check(await service.run(), "Resource usage")
    assert usage.state is CheckState.NOT_CHECKED
    assert usage.not_checked == (
        "metrics.k8s.io is not available (no metrics-server in the cluster); install "
        "metrics-server to compare the workers' usage with their limits."
    )
    sandbox.kube.metrics_enabled = True
    pods = sandbox.kube.pods_of(NS, "phishnet-worker-email")
    hot = pods[0]["metadata"]["name"]
    sandbox.kube.set_metrics(pods={f"{NS}/{hot}": {"cpu": "480m", "memory": "500Mi"}})
    diagnosis = await service.run()
    titles = [c.title for c in diagnosis.causes]
    assert "1 pod(s) at 90%+ of their CPU limit" in titles
    assert "1 pod(s) at 90%+ of their memory limit" in titles
    assert _check(diagnosis, "Resource usage").summary == (
        "usage of 1 of 4 worker pod(s) compared with their limits"
    )


async def test_nodes_allocated_against_allocatable(sandbox, service):
    sandbox.kube.add_node("node-small", allocatable={"cpu": "500m", "memory": "1Gi"})
    sandbox.kube.add_pod(
        NS,
        "packed",
        labels={"component": "worker"},
        node_name="node-small",
        resources={"requests": {"cpu": "475m", "memory": "256Mi"}},
    )
    sandbox.kube.add_node("node-busy", allocatable={"cpu": "1", "memory": "1Gi"})
    sandbox.kube.set_metrics(nodes={"node-busy": {"cpu": "950m", "memory": "512Mi"}})
    diagnosis = await service.run()
    nodes = _check(diagnosis, "Nodes")
    assert "node-small: cpu 95% / memory 25% requested by workers" in nodes.summary
    assert "node-busy: cpu 0% / memory 0% requested by workers, cpu 95% / memory 50% used" in (
        nodes.summary
    )
    titles = [c.title for c in diagnosis.causes]
    assert "Node `node-small` is nearly full (95% cpu, 25% memory requested)" in titles
    assert "Node `node-busy` is nearly saturated (95% cpu, 50% memory used)" in titles
    sandbox.kube.metrics_enabled = False
    nodes = _check(await service.run(), "Nodes")
    assert nodes.summary.endswith("node usage not checked: metrics.k8s.io is not available")


async def test_database_reachable_unreachable_and_without_pg_stat_statements(postgres_server_url):
    probe = await probe_database(postgres_server_url, ("emails",), 5)
    assert probe.reachable and probe.latency_ms is not None
    assert probe.statements_available is False  # not installed on the test server
    down = await probe_database(f"postgresql://nobody@127.0.0.1:{_closed_port()}/x", (), 2)
    assert not down.reachable and "ConnectionRefusedError" in down.error


async def test_pg_stat_statements_created_but_not_preloaded_is_said_plainly(
    postgres_server_url,
):
    # CREATE EXTENSION works without shared_preload_libraries, but reading the view then
    # fails: the database is still reachable, only slow statements are unknown.
    name = f"bb_pgss_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = urlunsplit(urlsplit(postgres_server_url)._replace(path=f"/{name}"))
        conn = await asyncpg.connect(dsn)
        try:
            available = await conn.fetchval(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
            )
            if not available:
                pytest.skip("pg_stat_statements is not available on this server")
            await conn.execute("CREATE EXTENSION pg_stat_statements")
            preloaded = await conn.fetchval("SHOW shared_preload_libraries")
        finally:
            await conn.close()
        if "pg_stat_statements" in preloaded:
            pytest.skip("this server preloads pg_stat_statements")
        probe = await probe_database(dsn, ("emails", "analysis_results"), 5)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert probe.reachable
    result = analyze_database(probe)
    assert result.findings == ()
    assert result.summary.endswith(
        "; pg_stat_statements is installed but not in shared_preload_libraries, "
        "slow statements not checked"
    )


async def test_database_check_through_the_service(
    sandbox, service, monkeypatch, postgres_server_url
):
    monkeypatch.setenv("PHISHNET_DATABASE_URL", postgres_server_url)
    ok = _check(await service.run(), "Application database")
    assert "`SELECT 1` answered in" in ok.summary
    assert ok.state is CheckState.PASSED
    assert "pg_stat_statements is not installed (add it to shared_preload_libraries and " in (
        ok.summary
    )
    assert ok.summary.endswith("slow statements not checked")
    monkeypatch.setenv("PHISHNET_DATABASE_URL", f"postgresql://x@127.0.0.1:{_closed_port()}/x")
    diagnosis = await service.run()
    assert diagnosis.causes[0].title == "Workers' database is unreachable"


async def test_a_check_that_fails_or_times_out_hides_nothing(sandbox):
    sandbox.kube.fail_next("list", "nodes", 403, times=5)
    sandbox.kube.delay_next("list", "horizontalpodautoscalers", 3.0, times=5)
    # The playbook gives each check 10 s; a second is enough to show a timeout here.
    quick = sandbox.playbook.diagnostics.model_copy(update={"timeout": timedelta(seconds=1)})
    service = DiagnosisService(
        sandbox.runtime.kube,
        sandbox.playbook.model_copy(update={"diagnostics": quick}),
        sandbox.runtime.store,
        sandbox.runtime.clock,
    )
    diagnosis = await asyncio.wait_for(service.run(), 20)
    nodes = _check(diagnosis, "Nodes")
    assert nodes.error and "lacks a Kubernetes permission" in nodes.error
    autoscaling = _check(diagnosis, "Autoscaling")
    assert autoscaling.error == "timed out after 1s"
    assert _check(diagnosis, "Worker pods").error is None  # the others still ran


async def test_diagnose_command_and_alert_button_post_to_the_channel(sandbox, redis_client, clock):
    sandbox.kube.set_deployment_log(NS, "phishnet-worker-email", ERRORS)
    answer = await sandbox.command("alice", "diagnose")
    assert answer.text.startswith(":mag: *Diagnosis*")
    assert sandbox.slack.responses()[-1].response_type == "in_channel"
    assert "*Checks*" in answer.text and ":white_check_mark: Worker pods: 4/4 ready" in answer.text
    await redis_client.lpush("email_processing_queue", *range(1200))
    for _ in range(11):
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))
    alert = sandbox.find_message(ActionId.ALERT_DIAGNOSE.value)
    clicked = await sandbox.click("bob", alert, ActionId.ALERT_DIAGNOSE.value)
    assert "1. `phishnet-worker-email` logs errors (8 lines)" in clicked.text
    timeline = await sandbox.runtime.store.timeline(1)
    assert timeline[-1].text == "Diagnosis: `phishnet-worker-email` logs errors (8 lines)"


async def test_growing_queue_with_healthy_workers_points_at_capacity(sandbox, redis_client, clock):
    for _ in range(5):
        await redis_client.lpush("email_processing_queue", *range(240))
        await sandbox.tick()
        clock.advance(timedelta(minutes=1))
    answer = await sandbox.command("alice", "diagnose")
    assert (
        "1. `email_processing_queue` grows 240/min: arrivals outpace its workers "
        "(more replicas, or faster workers)"
    ) in answer.text
    assert ":x: Queue trend: `email_processing_queue`: 1,200, growing 240/min" in answer.text


async def test_checks_that_read_nothing_say_not_checked_in_the_channel(
    sandbox, monkeypatch, redis_client
):
    # The four fake passes of the past: empty logs, metrics without the workers' usage,
    # no nodes visible, no database configured. And no depth samples yet.
    monkeypatch.delenv("PHISHNET_DATABASE_URL", raising=False)
    sandbox.kube.set_deployment_log(NS, "phishnet-worker-email", "")
    sandbox.kube.set_deployment_log(NS, "phishnet-worker-analysis", "")
    sandbox.kube.set_metrics(nodes={})  # metrics-server answers, without these pods yet
    answer = await sandbox.command("alice", "diagnose")
    text = answer.text
    assert (
        ":grey_question: Error logs of phishnet-worker-email: not checked — the 2 running "
        "pod(s) of `phishnet-worker-email` returned no log lines; the workers must log to "
        "stdout/stderr for Kubernetes to keep their logs."
    ) in text
    assert (
        ":grey_question: Resource usage: not checked — metrics-server has no usage for any of "
        "the 4 worker pod(s) yet"
    ) in text
    assert (
        ":grey_question: Nodes: not checked — the node list came back empty, so the bot sees "
        "no nodes to compare with; apply deploy/kubernetes/clusterrole.yaml (list nodes) to "
        "the bot's account."
    ) in text
    assert (
        ":grey_question: Application database: not checked — the bot has no URL for the "
        "workers' database; set `PHISHNET_DATABASE_URL` (the playbook's "
        "`diagnostics.database_url_env`) to its URL to check it."
    ) in text
    assert ":grey_question: Queue trend: not checked — fewer than 3 depth samples" in text
    ticked = [line for line in text.splitlines() if line.startswith(":white_check_mark:")]
    assert ticked == [
        ":white_check_mark: Worker pods: 4/4 ready, 0 restarts",
        ":white_check_mark: Autoscaling: no HorizontalPodAutoscaler: replicas are set by hand",
    ]
    assert "0 error lines in the last 0 lines" not in text
    assert "No likely cause found by the 2 check(s) that read data; 7 could not check" in text


async def test_logs_of_pods_that_are_not_running_are_not_checked(sandbox, service):
    for pod in sandbox.kube.pods_of(NS, "phishnet-worker-analysis"):
        sandbox.kube.set_pod_state(NS, pod["metadata"]["name"], pending_reason="Unschedulable")
    logs = _check(await service.run(), "Error logs of phishnet-worker-analysis")
    assert logs.state is CheckState.NOT_CHECKED
    assert logs.not_checked == (
        "none of the 2 pod(s) of `phishnet-worker-analysis` is running, so there is no log to "
        "read; it is read once one runs."
    )
