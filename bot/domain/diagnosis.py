"""The runbook's root-cause checks as pure analysis.

Each analyser turns what was read (pods, logs, usage, nodes, database probe)
into a :class:`CheckResult` with findings; :mod:`bot.domain.checks` ranks them
by how likely each explains a backlog and words them for the channel. A check
that could not run is reported as such and never hides the others, and a check
that read no data (no logs, no metrics, no nodes, no database configured) is
"not checked", saying why and how to make it checkable: never a pass.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.checks import CheckResult, Finding
from bot.domain.checks import format_diagnosis as format_diagnosis  # callers import it here
from bot.domain.forecast import MIN_SAMPLES, QueueForecast
from bot.domain.workloads import HpaStatus, NodeInfo, PodInfo, Resources

# ---- worker pods -------------------------------------------------------------

_BAD_WAITING = {
    "CrashLoopBackOff": (90, "crash-looping"),
    "ImagePullBackOff": (90, "cannot pull their image"),
    "ErrImagePull": (90, "cannot pull their image"),
    "CreateContainerConfigError": (85, "have a broken container configuration"),
}


def analyze_pods(pods: Sequence[PodInfo]) -> CheckResult:
    name = "Worker pods"
    if not pods:
        return CheckResult(name, "no worker pods found", (Finding(95, "No worker pods exist"),))
    by_problem: dict[tuple[int, str], list[str]] = {}
    for pod in pods:
        for score, what in _pod_problems(pod):
            by_problem.setdefault((score, what), []).append(pod.name)
    findings = tuple(
        Finding(score, f"{len(names)} worker pod(s) {what}", tuple(names[:5]))
        for (score, what), names in sorted(by_problem.items(), key=lambda kv: -kv[0][0])
    )
    ready = sum(1 for p in pods if p.ready)
    restarts = sum(p.restarts for p in pods)
    return CheckResult(name, f"{ready}/{len(pods)} ready, {restarts} restarts", findings)


def _pod_problems(pod: PodInfo) -> list[tuple[int, str]]:
    problems = []
    if pod.unschedulable:
        problems.append((80, f"Pending, unschedulable: {pod.unschedulable}"))
    for container in pod.containers:
        if container.waiting_reason in _BAD_WAITING:
            score, what = _BAD_WAITING[container.waiting_reason]
            problems.append((score, f"{what} ({container.waiting_reason})"))
        if container.last_terminated_reason == "OOMKilled":
            problems.append((85, "were OOMKilled (memory limit too low)"))
        elif container.restarts >= 5 and container.waiting_reason not in _BAD_WAITING:
            problems.append((60, "restart often (5+ restarts)"))
    if not problems and not pod.ready and pod.phase != "Succeeded":
        problems.append((50, f"not ready ({pod.phase})"))
    return problems


# ---- logs --------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # uuids
    r"|\b0x[0-9a-fA-F]+\b|\b\d+(?:\.\d+)*\b"  # hex and numbers
    r"|'[^']*'|\"[^\"]*\""  # quoted values
)
_TIMESTAMP = re.compile(r"^\S*\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*\s+")


def signature(line: str) -> str:
    """An error line with its timestamp, ids, numbers and quoted values blanked out."""
    line = _TIMESTAMP.sub("", line.strip())
    return _VARIABLE.sub("…", line)[:160]


def error_signatures(
    logs: Mapping[str, str], pattern: str, top: int = 3
) -> list[tuple[str, int, str]]:
    """(signature, count, one example) of the most frequent matching lines."""
    matcher = re.compile(pattern)
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for text in logs.values():
        for line in text.splitlines():
            if matcher.search(line):
                sig = signature(line)
                counts[sig] += 1
                examples.setdefault(sig, line.strip()[:200])
    return [(sig, n, examples[sig]) for sig, n in counts.most_common(top)]


def _unread_logs(deployment: str, logs: Mapping[str, str], pods: int | None) -> str | None:
    """Why ``logs`` hold nothing to judge, or None when they do."""
    if not logs:
        if pods:
            return (
                f"none of the {pods} pod(s) of `{deployment}` is running, so there is no log "
                "to read; it is read once one runs."
            )
        return f"`{deployment}` has no pods, so there is no log to read."
    if not any(text.strip() for text in logs.values()):
        return (
            f"the {len(logs)} running pod(s) of `{deployment}` returned no log lines; the "
            "workers must log to stdout/stderr for Kubernetes to keep their logs."
        )
    return None


def analyze_logs(
    deployment: str, logs: Mapping[str, str], pattern: str, pods: int | None = None
) -> CheckResult:
    """Error lines (``pattern``) in the tail of each running pod's log. ``pods`` is how
    many pods the deployment has (running or not), to say why no log was read."""
    name = f"Error logs of {deployment}"
    unread = _unread_logs(deployment, logs, pods)
    if unread:
        return CheckResult.unchecked(name, unread)
    lines = sum(len(text.splitlines()) for text in logs.values())
    top = error_signatures(logs, pattern)
    total = sum(
        1 for text in logs.values() for line in text.splitlines() if re.search(pattern, line)
    )
    summary = f"{total} error lines in the last {lines} lines of {len(logs)} pod(s)"
    if not top:
        return CheckResult(name, summary)
    share = total / max(lines, 1)
    score = 70 if share >= 0.2 else 45
    evidence = tuple(f"{n}x {sig}" for sig, n, _ in top)
    return CheckResult(
        name, summary, (Finding(score, f"`{deployment}` logs errors ({total} lines)", evidence),)
    )


def analyze_rate_limits(
    deployment: str, logs: Mapping[str, str], patterns: Iterable[str], pods: int | None = None
) -> CheckResult:
    name = f"External API rate limits ({deployment})"
    patterns = tuple(patterns)
    if not patterns:
        return CheckResult.unchecked(
            name, "the playbook lists no `diagnostics.rate_limit_patterns` to look for."
        )
    unread = _unread_logs(deployment, logs, pods)
    if unread:
        return CheckResult.unchecked(name, unread)
    counts = {
        p: sum(len(re.findall(p, text, re.IGNORECASE)) for text in logs.values()) for p in patterns
    }
    hits = {p: n for p, n in counts.items() if n}
    summary = ", ".join(f"{p}: {n}" for p, n in counts.items())
    if not hits:
        return CheckResult(name, f"no rate-limit messages ({summary})")
    total = sum(hits.values())
    finding = Finding(
        75 if total >= 10 else 55,
        f"External APIs are rate limiting `{deployment}` ({total} matches)",
        tuple(f"{p}: {n}" for p, n in sorted(hits.items(), key=lambda kv: -kv[1])),
    )
    return CheckResult(name, summary, (finding,))


# ---- resources, HPA, nodes ---------------------------------------------------


def analyze_autoscaling(hpas: Sequence[HpaStatus]) -> CheckResult:
    """HPAs pinned at their maximum: more load than they may absorb. No HPA is a fact
    read from the API (replicas are set by hand), not a missing reading."""
    name = "Autoscaling"
    if not hpas:
        return CheckResult(name, "no HorizontalPodAutoscaler: replicas are set by hand")
    findings = tuple(
        Finding(
            65,
            f"HPA `{hpa.name}` is pinned at its maximum ({hpa.max_replicas})",
            (f"current {hpa.current}, desired {hpa.desired}",),
        )
        for hpa in hpas
        if hpa.pinned_at_max
    )
    notes = [f"HPA {h.name}: {h.current}/{h.desired} (max {h.max_replicas})" for h in hpas]
    return CheckResult(name, "; ".join(notes), findings)


def analyze_usage(pods: Sequence[PodInfo], usage: Mapping[str, Resources] | None) -> CheckResult:
    """Pods using 90%+ of their CPU or memory limit (metrics.k8s.io, ``kubectl top``).
    Not checked without metrics, without usage for any worker pod, or when no pod
    with usage has a limit to compare it with."""
    name = "Resource usage"
    if usage is None:
        return CheckResult.unchecked(
            name,
            "metrics.k8s.io is not available (no metrics-server in the cluster); install "
            "metrics-server to compare the workers' usage with their limits.",
        )
    if not pods:
        return CheckResult.unchecked(name, "there are no worker pods to read usage for.")
    measured = [pod for pod in pods if pod.name in usage]
    if not measured:
        return CheckResult.unchecked(
            name,
            f"metrics-server has no usage for any of the {len(pods)} worker pod(s) yet (it "
            "reports a pod about a minute after it starts); ask again shortly.",
        )
    limited = [pod for pod in measured if _has_limits(pod)]
    if not limited:
        return CheckResult.unchecked(
            name,
            f"usage was read for {len(measured)} pod(s), but none sets a CPU or memory limit to "
            "compare it with (set `resources.limits` on the worker containers).",
        )
    hot = [_near_limit(pod, usage[pod.name]) for pod in limited]
    hot_cpu = [pod.name for pod, (cpu, _) in zip(limited, hot, strict=True) if cpu]
    hot_mem = [pod.name for pod, (_, mem) in zip(limited, hot, strict=True) if mem]
    findings = []
    if hot_cpu:
        findings.append(
            Finding(55, f"{len(hot_cpu)} pod(s) at 90%+ of their CPU limit", tuple(hot_cpu[:5]))
        )
    if hot_mem:
        findings.append(
            Finding(60, f"{len(hot_mem)} pod(s) at 90%+ of their memory limit", tuple(hot_mem[:5]))
        )
    summary = f"usage of {len(limited)} of {len(pods)} worker pod(s) compared with their limits"
    return CheckResult(name, summary, tuple(findings))


def _has_limits(pod: PodInfo) -> bool:
    return any(c.limits.cpu_m or c.limits.memory for c in pod.containers)


def _near_limit(pod: PodInfo, used: Resources) -> tuple[bool, bool]:
    cpu_limit = sum(c.limits.cpu_m or 0 for c in pod.containers)
    mem_limit = sum(c.limits.memory or 0 for c in pod.containers)
    cpu = bool(cpu_limit and (used.cpu_m or 0) >= 0.9 * cpu_limit)
    mem = bool(mem_limit and (used.memory or 0) >= 0.9 * mem_limit)
    return cpu, mem


def analyze_nodes(
    nodes: Sequence[NodeInfo],
    pods_by_node: Mapping[str, Sequence[PodInfo]],
    usage: Mapping[str, Resources] | None = None,
) -> CheckResult:
    """Allocatable against what the worker pods on each node request (``kubectl describe
    nodes``) and, where metrics.k8s.io answers, against what is used (``kubectl top nodes``).

    Only the workers' requests are summed: reading every pod of the cluster would
    need cluster-wide pod access, which the bot is not given."""
    name = "Nodes"
    if not nodes:
        return CheckResult.unchecked(
            name,
            "the node list came back empty, so the bot sees no nodes to compare with; "
            "apply deploy/kubernetes/clusterrole.yaml (list nodes) to the bot's account.",
        )
    findings = []
    lines = []
    for node in nodes:
        pods = pods_by_node.get(node.name, ())
        cpu = sum(c.requests.cpu_m or 0 for p in pods for c in p.containers)
        mem = sum(c.requests.memory or 0 for p in pods for c in p.containers)
        cpu_pct = _pct(cpu, node.allocatable.cpu_m)
        mem_pct = _pct(mem, node.allocatable.memory)
        line = f"{node.name}: cpu {cpu_pct}% / memory {mem_pct}% requested by workers"
        used = usage.get(node.name) if usage is not None else None
        used_cpu = _pct(used.cpu_m or 0, node.allocatable.cpu_m) if used else 0
        used_mem = _pct(used.memory or 0, node.allocatable.memory) if used else 0
        if used:
            line += f", cpu {used_cpu}% / memory {used_mem}% used"
        lines.append(line)
        if not node.ready:
            findings.append(Finding(70, f"Node `{node.name}` is not Ready"))
        elif max(cpu_pct, mem_pct) >= 90:
            findings.append(
                Finding(
                    50,
                    f"Node `{node.name}` is nearly full ({cpu_pct}% cpu, {mem_pct}% memory "
                    "requested)",
                )
            )
        elif max(used_cpu, used_mem) >= 90:
            findings.append(
                Finding(
                    50,
                    f"Node `{node.name}` is nearly saturated ({used_cpu}% cpu, {used_mem}% "
                    "memory used)",
                )
            )
    if usage is None and nodes:
        lines.append("node usage not checked: metrics.k8s.io is not available")
    return CheckResult(name, "; ".join(lines), tuple(findings))


def _pct(used: int, total: int | None) -> int:
    return round(100 * used / total) if total else 0


# ---- queue trend -------------------------------------------------------------


def analyze_trend(forecasts: Sequence[QueueForecast], window_minutes: int = 15) -> CheckResult:
    """A queue that keeps growing is the symptom; with no fault found elsewhere the
    likely cause is plain capacity: arrivals outpace the workers."""
    name = "Queue trend"
    if not forecasts:
        return CheckResult.unchecked(
            name,
            f"fewer than {MIN_SAMPLES} depth samples of any worker queue in the last "
            f"{window_minutes} minutes, so there is no trend yet; the bot samples the queues "
            "every few seconds, so ask again in a minute.",
        )
    findings = tuple(
        Finding(
            40,
            f"`{f.queue}` grows {f.per_minute:,.0f}/min: arrivals outpace its workers "
            "(more replicas, or faster workers)",
            (f.describe(),),
        )
        for f in forecasts
        if f.per_minute >= 1
    )
    return CheckResult(name, "; ".join(f.describe() for f in forecasts), findings)


# ---- application database ----------------------------------------------------


@dataclass(frozen=True)
class DatabaseProbe:
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None
    statements_available: bool = False
    slow_statements: tuple[tuple[str, float, int], ...] = ()  # (query, mean ms, calls)
    statements_note: str | None = None  # why slow statements could not be read


def analyze_database(probe: DatabaseProbe | None, url_env: str | None = None) -> CheckResult:
    """``SELECT 1`` and slow statements of the workers' database. ``probe`` None: no
    database URL, so not checked; ``url_env`` is the variable that would name it
    (the playbook's ``diagnostics.database_url_env``)."""
    name = "Application database"
    if probe is None:
        how = (
            f"set `{url_env}` (the playbook's `diagnostics.database_url_env`) to its URL"
            if url_env
            else "name the variable holding its URL in the playbook's "
            "`diagnostics.database_url_env` and set it"
        )
        return CheckResult.unchecked(
            name, f"the bot has no URL for the workers' database; {how} to check it."
        )
    if not probe.reachable:
        return CheckResult(
            name,
            f"unreachable: {probe.error}",
            (Finding(95, "Workers' database is unreachable", (probe.error or "",)),),
        )
    summary = f"`SELECT 1` answered in {probe.latency_ms:.0f} ms"
    if not probe.statements_available:
        why = probe.statements_note or (
            "pg_stat_statements is not installed (add it to shared_preload_libraries and "
            "`CREATE EXTENSION pg_stat_statements`)"
        )
        return CheckResult(name, f"{summary}; {why}, slow statements not checked")
    findings = []
    slow = [s for s in probe.slow_statements if s[1] >= 100]
    if slow:
        findings.append(
            Finding(
                55,
                "Slow statements on the workers' tables",
                tuple(
                    f"{mean:.0f} ms x {calls} calls: {query[:120]}"
                    for query, mean, calls in slow[:3]
                ),
            )
        )
    return CheckResult(
        name, summary + f"; {len(probe.slow_statements)} statements checked", tuple(findings)
    )
