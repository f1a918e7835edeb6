"""The runbook's root-cause checks as pure analysis, and their ranking.

Each analyser turns what was read (pods, logs, usage, nodes, database probe)
into a :class:`CheckResult` with findings; :func:`rank` orders every finding
by how likely it explains a backlog. A check that could not run is reported
as such and never hides the others.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain.forecast import QueueForecast
from bot.domain.workloads import HpaStatus, NodeInfo, PodInfo, Resources


@dataclass(frozen=True)
class Finding:
    score: int  # 0..100: how likely this explains the backlog
    title: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    name: str
    summary: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None  # the check did not run (timeout, permission, unreachable)

    @classmethod
    def failed(cls, name: str, error: str) -> CheckResult:
        return cls(name=name, summary="", error=error)


@dataclass(frozen=True)
class Diagnosis:
    checks: tuple[CheckResult, ...]
    causes: tuple[Finding, ...] = field(default=())


def rank(checks: Sequence[CheckResult]) -> Diagnosis:
    causes = sorted(
        (f for check in checks for f in check.findings), key=lambda f: (-f.score, f.title)
    )
    return Diagnosis(checks=tuple(checks), causes=tuple(causes))


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


def analyze_logs(deployment: str, logs: Mapping[str, str], pattern: str) -> CheckResult:
    name = f"Error logs of {deployment}"
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
    deployment: str, logs: Mapping[str, str], patterns: Iterable[str]
) -> CheckResult:
    name = f"External API rate limits ({deployment})"
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


def analyze_resources(
    pods: Sequence[PodInfo],
    usage: Mapping[str, Resources] | None,
    hpas: Sequence[HpaStatus],
) -> CheckResult:
    name = "Resources and autoscaling"
    findings: list[Finding] = []
    notes: list[str] = []
    for hpa in hpas:
        notes.append(f"HPA {hpa.name}: {hpa.current}/{hpa.desired} (max {hpa.max_replicas})")
        if hpa.pinned_at_max:
            findings.append(
                Finding(
                    65,
                    f"HPA `{hpa.name}` is pinned at its maximum ({hpa.max_replicas})",
                    (f"current {hpa.current}, desired {hpa.desired}",),
                )
            )
    if usage is None:
        notes.append("metrics.k8s.io is not available (no metrics-server): usage not checked")
        return CheckResult(name, "; ".join(notes), tuple(findings))
    hot = [_near_limit(pod, usage.get(pod.name)) for pod in pods]
    hot_cpu = [pod.name for pod, (cpu, _) in zip(pods, hot, strict=True) if cpu]
    hot_mem = [pod.name for pod, (_, mem) in zip(pods, hot, strict=True) if mem]
    if hot_cpu:
        findings.append(
            Finding(55, f"{len(hot_cpu)} pod(s) at 90%+ of their CPU limit", tuple(hot_cpu[:5]))
        )
    if hot_mem:
        findings.append(
            Finding(60, f"{len(hot_mem)} pod(s) at 90%+ of their memory limit", tuple(hot_mem[:5]))
        )
    notes.append(f"usage read for {sum(1 for p in pods if p.name in usage)} pod(s)")
    return CheckResult(name, "; ".join(notes), tuple(findings))


def _near_limit(pod: PodInfo, used: Resources | None) -> tuple[bool, bool]:
    if used is None:
        return False, False
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
    return CheckResult(name, "; ".join(lines) or "no nodes visible", tuple(findings))


def _pct(used: int, total: int | None) -> int:
    return round(100 * used / total) if total else 0


# ---- queue trend -------------------------------------------------------------


def analyze_trend(forecasts: Sequence[QueueForecast]) -> CheckResult:
    """A queue that keeps growing is the symptom; with no fault found elsewhere the
    likely cause is plain capacity: arrivals outpace the workers."""
    name = "Queue trend"
    if not forecasts:
        return CheckResult(name, "not enough samples yet")
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


def analyze_database(probe: DatabaseProbe | None) -> CheckResult:
    name = "Application database"
    if probe is None:
        return CheckResult(name, "not configured: no database URL for the workers' database")
    if not probe.reachable:
        return CheckResult(
            name,
            f"unreachable: {probe.error}",
            (Finding(95, "Workers' database is unreachable", (probe.error or "",)),),
        )
    summary = f"`SELECT 1` answered in {probe.latency_ms:.0f} ms"
    if not probe.statements_available:
        why = probe.statements_note or "pg_stat_statements is not installed"
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


def format_diagnosis(diagnosis: Diagnosis, top: int = 5) -> str:
    """The summary posted in the channel: ranked causes with evidence, then every check."""
    lines = [":mag: *Diagnosis*"]
    if diagnosis.causes:
        lines.append("*Likely causes, most likely first*")
        for i, cause in enumerate(diagnosis.causes[:top], 1):
            lines.append(f"{i}. {cause.title}")
            lines += [f"    • {item}" for item in cause.evidence[:3]]
    else:
        lines.append("No likely cause found by the runbook's checks.")
    lines.append("*Checks*")
    for check in diagnosis.checks:
        if check.error:
            lines.append(f":warning: {check.name}: could not run — {check.error}")
        else:
            mark = ":x:" if check.findings else ":white_check_mark:"
            lines.append(f"{mark} {check.name}: {check.summary}")
    return "\n".join(lines)
