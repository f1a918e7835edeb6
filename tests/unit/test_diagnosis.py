from __future__ import annotations

from bot.domain import diagnosis as dx
from bot.domain.workloads import ContainerInfo, HpaStatus, NodeInfo, PodInfo, Resources


def pod(name: str, **container) -> PodInfo:
    return PodInfo(
        name=name,
        phase=container.pop("phase", "Running"),
        node="n1",
        labels={},
        containers=(
            ContainerInfo(
                name="worker",
                ready=container.pop("ready", True),
                restarts=container.pop("restarts", 0),
                **container,
            ),
        ),
    )


def test_signatures_group_lines_that_differ_only_in_values():
    assert dx.signature("2026-11-28T09:00:02Z ERROR timeout after 30000 ms for 'job-1'") == (
        "ERROR timeout after … ms for …"
    )
    logs = {"a": "ERROR x 1\nERROR x 2\nINFO ok\nERROR y\n", "b": "ERROR x 3"}
    assert dx.error_signatures(logs, r"ERROR") == [
        ("ERROR x …", 3, "ERROR x 1"),
        ("ERROR y", 1, "ERROR y"),
    ]


def test_no_pods_is_the_most_likely_cause():
    result = dx.analyze_pods([])
    assert result.findings[0].score == 95 and result.findings[0].title == "No worker pods exist"


def test_healthy_pods_have_no_findings():
    result = dx.analyze_pods([pod("a"), pod("b", restarts=1)])
    assert result.findings == () and result.summary == "2/2 ready, 1 restarts"


def test_ranking_orders_by_likelihood_and_failed_checks_are_listed():
    checks = [
        dx.analyze_pods([pod("a", ready=False, waiting_reason="CrashLoopBackOff", restarts=7)]),
        dx.analyze_resources([], None, [HpaStatus("h", "d", 1, 3, 3, 3)]),
        dx.CheckResult.failed("Nodes", "timed out after 10s"),
    ]
    diagnosis = dx.rank(checks)
    assert [c.title for c in diagnosis.causes] == [
        "1 worker pod(s) crash-looping (CrashLoopBackOff)",
        "HPA `h` is pinned at its maximum (3)",
    ]
    text = dx.format_diagnosis(diagnosis)
    assert "1. 1 worker pod(s) crash-looping (CrashLoopBackOff)" in text
    assert ":warning: Nodes: could not run — timed out after 10s" in text
    assert "metrics.k8s.io is not available" in text


def test_near_limits_from_usage():
    hot = PodInfo(
        "hot",
        "Running",
        "n1",
        {},
        (ContainerInfo("w", True, 0, limits=Resources(cpu_m=500, memory=1000)),),
    )
    result = dx.analyze_resources([hot], {"hot": Resources(cpu_m=460, memory=100)}, [])
    assert [f.title for f in result.findings] == ["1 pod(s) at 90%+ of their CPU limit"]


def test_database_probe_findings():
    down = dx.analyze_database(dx.DatabaseProbe(reachable=False, error="refused"))
    assert down.findings[0].title == "Workers' database is unreachable"
    slow = dx.analyze_database(
        dx.DatabaseProbe(
            reachable=True,
            latency_ms=3,
            statements_available=True,
            slow_statements=(("SELECT * FROM emails WHERE x", 950.0, 12),),
        )
    )
    assert slow.findings[0].evidence == ("950 ms x 12 calls: SELECT * FROM emails WHERE x",)


def test_trend_finding_only_for_growing_queues():
    from bot.domain.forecast import QueueForecast

    growing = QueueForecast("q", 1000, 120.0, None, None, None)
    flat = QueueForecast("r", 5, 0.0, None, None, None)
    result = dx.analyze_trend([growing, flat])
    assert [f.title for f in result.findings] == [
        "`q` grows 120/min: arrivals outpace its workers (more replicas, or faster workers)"
    ]
    assert dx.analyze_trend([]).summary == "not enough samples yet"


def test_oomkilled_and_pending_pods_are_named():
    oom = pod("a", restarts=3, last_terminated_reason="OOMKilled")
    pending = PodInfo(
        "b",
        "Pending",
        None,
        {},
        (ContainerInfo("worker", False, 0),),
        "0/3 nodes: Insufficient cpu",
    )
    titles = [f.title for f in dx.analyze_pods([oom, pending]).findings]
    assert titles == [
        "1 worker pod(s) were OOMKilled (memory limit too low)",
        "1 worker pod(s) Pending, unschedulable: 0/3 nodes: Insufficient cpu",
    ]


def test_rate_limit_matches_are_counted_per_pattern():
    logs = {"a": "HTTP 429 from VirusTotal\nquota exceeded\n429 again", "b": "Rate-limit hit"}
    result = dx.analyze_rate_limits("w", logs, ("rate.limit", "quota", "429", "503"))
    assert result.summary == "rate.limit: 1, quota: 1, 429: 2, 503: 0"
    assert result.findings[0].evidence == ("429: 2", "rate.limit: 1", "quota: 1")


def test_nodes_requested_and_used():
    node = NodeInfo("n1", Resources(cpu_m=1000, memory=1000))
    busy = dx.analyze_nodes([node], {}, {"n1": Resources(cpu_m=920, memory=100)})
    assert busy.summary == (
        "n1: cpu 0% / memory 0% requested by workers, cpu 92% / memory 10% used"
    )
    assert busy.findings[0].title == "Node `n1` is nearly saturated (92% cpu, 10% memory used)"
    blind = dx.analyze_nodes([node], {}, None)
    assert blind.summary.endswith("; node usage not checked: metrics.k8s.io is not available")


def test_statements_that_cannot_be_read_do_not_make_the_database_unreachable():
    probe = dx.DatabaseProbe(reachable=True, latency_ms=2, statements_note="not preloaded")
    result = dx.analyze_database(probe)
    assert result.findings == ()
    assert (
        result.summary == "`SELECT 1` answered in 2 ms; not preloaded, slow statements not checked"
    )
