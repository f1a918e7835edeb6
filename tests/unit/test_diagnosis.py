from __future__ import annotations

import pytest

from bot.domain import checks
from bot.domain import diagnosis as dx
from bot.domain.checks import CheckState
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
    results = [
        dx.analyze_pods([pod("a", ready=False, waiting_reason="CrashLoopBackOff", restarts=7)]),
        dx.analyze_autoscaling([HpaStatus("h", "d", 1, 3, 3, 3)]),
        dx.analyze_usage([pod("a")], None),
        checks.CheckResult.failed("Nodes", "timed out after 10s"),
    ]
    diagnosis = checks.rank(results)
    assert [c.title for c in diagnosis.causes] == [
        "1 worker pod(s) crash-looping (CrashLoopBackOff)",
        "HPA `h` is pinned at its maximum (3)",
    ]
    text = dx.format_diagnosis(diagnosis)
    assert "1. 1 worker pod(s) crash-looping (CrashLoopBackOff)" in text
    assert ":warning: Nodes: could not run — timed out after 10s" in text
    assert ":grey_question: Resource usage: not checked — metrics.k8s.io is not available" in text


def test_near_limits_from_usage():
    hot = PodInfo(
        "hot",
        "Running",
        "n1",
        {},
        (ContainerInfo("w", True, 0, limits=Resources(cpu_m=500, memory=1000)),),
    )
    result = dx.analyze_usage([hot], {"hot": Resources(cpu_m=460, memory=100)})
    assert [f.title for f in result.findings] == ["1 pod(s) at 90%+ of their CPU limit"]
    assert result.summary == "usage of 1 of 1 worker pod(s) compared with their limits"
    cool = dx.analyze_usage([hot], {"hot": Resources(cpu_m=100, memory=100)})
    assert cool.state is CheckState.PASSED


LIMITED = PodInfo(
    "p1", "Running", "n1", {}, (ContainerInfo("w", True, 0, limits=Resources(cpu_m=500)),)
)
UNLIMITED = PodInfo("p2", "Running", "n1", {}, (ContainerInfo("w", True, 0),))


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (
            dx.analyze_logs("w", {}, "ERROR", pods=3),
            "none of the 3 pod(s) of `w` is running, so there is no log to read",
        ),
        (dx.analyze_logs("w", {}, "ERROR", pods=0), "`w` has no pods, so there is no log to read"),
        (
            dx.analyze_logs("w", {"a": "", "b": "\n"}, "ERROR", pods=2),
            "the 2 running pod(s) of `w` returned no log lines; the workers must log to "
            "stdout/stderr",
        ),
        (
            dx.analyze_rate_limits("w", {}, ("429",), pods=1),
            "none of the 1 pod(s) of `w` is running",
        ),
        (
            dx.analyze_rate_limits("w", {"a": "x"}, ()),
            "the playbook lists no `diagnostics.rate_limit_patterns`",
        ),
        (dx.analyze_usage([LIMITED], None), "install metrics-server"),
        (dx.analyze_usage([], {}), "there are no worker pods to read usage for"),
        (
            dx.analyze_usage([LIMITED, UNLIMITED], {}),
            "metrics-server has no usage for any of the 2 worker pod(s) yet",
        ),
        (
            dx.analyze_usage([UNLIMITED], {"p2": Resources(cpu_m=900, memory=10)}),
            "usage was read for 1 pod(s), but none sets a CPU or memory limit",
        ),
        (dx.analyze_nodes([], {}, None), "the node list came back empty"),
        (dx.analyze_trend([]), "fewer than 3 depth samples of any worker queue in the last 15"),
        (
            dx.analyze_database(None, "PHISHNET_DATABASE_URL"),
            "the bot has no URL for the workers' database; set `PHISHNET_DATABASE_URL`",
        ),
        (dx.analyze_database(None), "name the variable holding its URL in the playbook's"),
    ],
)
def test_a_check_that_read_no_data_is_not_checked_never_passed(result, why):
    assert result.state is CheckState.NOT_CHECKED
    assert why in result.not_checked
    assert result.findings == ()
    line = checks.format_check(result)
    assert line.startswith(f":grey_question: {result.name}: not checked — ")
    assert ":white_check_mark:" not in line


def test_each_state_has_its_own_mark_and_only_a_real_pass_gets_the_tick():
    passed = dx.analyze_pods([pod("a")])
    found = dx.analyze_pods([])
    unchecked = dx.analyze_nodes([], {}, None)
    failed = checks.CheckResult.failed("Autoscaling", "timed out after 10s")
    assert [c.state for c in (passed, found, unchecked, failed)] == [
        CheckState.PASSED,
        CheckState.FOUND,
        CheckState.NOT_CHECKED,
        CheckState.FAILED,
    ]
    assert [
        checks.format_check(c).split(" ", 1)[0] for c in (passed, found, unchecked, failed)
    ] == [
        ":white_check_mark:",
        ":x:",
        ":grey_question:",
        ":warning:",
    ]


def test_no_cause_found_is_not_a_clean_bill_when_checks_were_blind():
    healthy = checks.rank([dx.analyze_pods([pod("a")]), dx.analyze_autoscaling([])])
    assert "No likely cause found by the runbook's checks." in dx.format_diagnosis(healthy)
    blind = checks.rank(
        [dx.analyze_pods([pod("a")]), dx.analyze_nodes([], {}, None), dx.analyze_trend([])]
    )
    text = dx.format_diagnosis(blind)
    assert (
        "No likely cause found by the 1 check(s) that read data; 2 could not check (below), so "
        "a cause may still be there."
    ) in text
    assert "No likely cause found by the runbook's checks." not in text


def test_no_hpa_is_a_fact_not_a_missing_reading():
    result = dx.analyze_autoscaling([])
    assert result.state is CheckState.PASSED
    assert result.summary == "no HorizontalPodAutoscaler: replicas are set by hand"


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
    assert dx.analyze_trend([]).state is CheckState.NOT_CHECKED


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
