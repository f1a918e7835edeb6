"""What a diagnosis check concluded, how checks are ranked, and how they read in Slack.

Four states, each shown with its own mark: a check passes only when it read
data and found nothing wrong in it; one that read no data is "not checked"
(with why, and how to make it checkable); one that could not run says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Finding:
    score: int  # 0..100: how likely this explains the backlog
    title: str
    evidence: tuple[str, ...] = ()


class CheckState(StrEnum):
    PASSED = "passed"  # data was read and nothing is wrong in it
    FOUND = "found"  # data was read and it shows findings
    NOT_CHECKED = "not checked"  # nothing to judge: no data was read
    FAILED = "failed"  # the check could not run (timeout, permission, unreachable)


@dataclass(frozen=True)
class CheckResult:
    name: str
    summary: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None  # the check did not run (timeout, permission, unreachable)
    not_checked: str | None = None  # it ran but read no data: why, and how to enable it

    @classmethod
    def failed(cls, name: str, error: str) -> CheckResult:
        return cls(name=name, summary="", error=error)

    @classmethod
    def unchecked(cls, name: str, why: str) -> CheckResult:
        """A check with nothing to judge; ``why`` says what was missing and how to
        make it checkable (a full sentence or two)."""
        return cls(name=name, summary="", not_checked=why)

    @property
    def state(self) -> CheckState:
        if self.error is not None:
            return CheckState.FAILED
        if self.not_checked is not None:
            return CheckState.NOT_CHECKED
        return CheckState.FOUND if self.findings else CheckState.PASSED


@dataclass(frozen=True)
class Diagnosis:
    checks: tuple[CheckResult, ...]
    causes: tuple[Finding, ...] = field(default=())


def rank(checks: Sequence[CheckResult]) -> Diagnosis:
    causes = sorted(
        (f for check in checks for f in check.findings), key=lambda f: (-f.score, f.title)
    )
    return Diagnosis(checks=tuple(checks), causes=tuple(causes))


_MARKS = {
    CheckState.PASSED: ":white_check_mark:",
    CheckState.FOUND: ":x:",
    CheckState.NOT_CHECKED: ":grey_question:",
    CheckState.FAILED: ":warning:",
}


def format_check(check: CheckResult) -> str:
    """One line per check; each state has its own mark, and only a check that read
    data and found nothing wrong gets :white_check_mark:."""
    mark = _MARKS[check.state]
    if check.state is CheckState.FAILED:
        return f"{mark} {check.name}: could not run — {check.error}"
    if check.state is CheckState.NOT_CHECKED:
        return f"{mark} {check.name}: not checked — {check.not_checked}"
    return f"{mark} {check.name}: {check.summary}"


def format_diagnosis(diagnosis: Diagnosis, top: int = 5) -> str:
    """The summary posted in the channel: ranked causes with evidence, then every check."""
    lines = [":mag: *Diagnosis*"]
    if diagnosis.causes:
        lines.append("*Likely causes, most likely first*")
        for i, cause in enumerate(diagnosis.causes[:top], 1):
            lines.append(f"{i}. {cause.title}")
            lines += [f"    • {item}" for item in cause.evidence[:3]]
    else:
        blind = [
            c for c in diagnosis.checks if c.state in (CheckState.NOT_CHECKED, CheckState.FAILED)
        ]
        ran = len(diagnosis.checks) - len(blind)
        if blind:
            lines.append(
                f"No likely cause found by the {ran} check(s) that read data; {len(blind)} "
                "could not check (below), so a cause may still be there."
            )
        else:
            lines.append("No likely cause found by the runbook's checks.")
    lines.append("*Checks*")
    lines += [format_check(check) for check in diagnosis.checks]
    return "\n".join(lines)
